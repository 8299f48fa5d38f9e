"""Euclidean projections of ADMM-NN's Z-step, framework-free (numpy) so Brevitas and Keras share them.

Pruning set: at most `keep` nonzeros. Quantization set: levels {-(M/2)q, ..., -q, q, ..., (M/2)q},
M = 2**n_bits, zero excluded because zero means pruned.
"""
from __future__ import annotations

import numpy as np

from ..errors import FlowError


def prune_top_k(weights: np.ndarray, keep: int) -> np.ndarray:
    """Keep the `keep` largest-magnitude entries, zero the rest (ties: lower flat index wins)."""
    if not 1 <= keep <= weights.size:
        raise FlowError(f"cannot keep {keep} of {weights.size} weights; choose 1 <= keep <= {weights.size}")
    flat = weights.reshape(-1)
    # stable sort on -|w| makes the choice among equal magnitudes reproducible
    kept = np.argsort(-np.abs(flat), kind="stable")[:keep]
    projected = np.zeros_like(flat)
    projected[kept] = flat[kept]
    return projected.reshape(weights.shape)


def n_levels_per_sign(n_bits: int) -> int:
    if not 1 <= n_bits <= 16:
        raise FlowError(f"quantization bit width {n_bits} is out of range; choose 1 to 16 bits")
    return 2 ** n_bits // 2


def quantize_nonzero(weights: np.ndarray, step: float, n_bits: int, support: np.ndarray | None = None) -> np.ndarray:
    """Nearest nonzero level for every entry in `support` (default: the nonzero entries); the rest are zero.

    An exact zero inside the support goes to +q: the support is the pruning mask, and a kept
    weight must stay nonzero.
    """
    if not step > 0:
        raise FlowError(f"quantization step must be positive, got {step}")
    support = weights != 0 if support is None else support
    codes = np.clip(np.rint(np.abs(weights) / step), 1, n_levels_per_sign(n_bits))
    signs = np.where(weights < 0, -1.0, 1.0)
    return np.where(support, signs * codes * step, 0.0).astype(weights.dtype)


def quantization_error(weights: np.ndarray, step: float, n_bits: int) -> float:
    return float(np.sum((weights.astype(np.float64) - quantize_nonzero(weights.astype(np.float64), step, n_bits)) ** 2))


def optimal_step(weights: np.ndarray, n_bits: int) -> float:
    """The step q minimising sum (w - f_q(w))**2 over the nonzero weights, exactly.

    The paper binary-searches q, which assumes the error is unimodal in q; it is only piecewise
    quadratic. Each |w| changes level where q = |w| / (j + 1/2), so we sweep those breakpoints from
    large q to small, keep running sums S1 = sum |w| k and S2 = sum k**2, and take each piece's
    closed-form optimum q = S1 / S2 clipped to the piece. That is the global minimum.
    """
    magnitudes = np.abs(weights[weights != 0]).astype(np.float64).reshape(-1)
    if magnitudes.size == 0:
        raise FlowError("cannot choose a quantization step for a layer with no nonzero weights")
    half_levels = n_levels_per_sign(n_bits)
    steps_up = np.arange(1, half_levels)  # level j -> j + 1
    breakpoints = (magnitudes[:, None] / (steps_up[None, :] + 0.5)).reshape(-1)
    gain_s1 = np.repeat(magnitudes, half_levels - 1)
    gain_s2 = np.tile(2 * steps_up + 1, magnitudes.size).astype(np.float64)
    order = np.argsort(-breakpoints, kind="stable")
    breakpoints, gain_s1, gain_s2 = breakpoints[order], gain_s1[order], gain_s2[order]
    # piece p lies between upper[p] and lower[p]; piece 0 has every weight on level 1
    s1 = np.concatenate([[magnitudes.sum()], magnitudes.sum() + np.cumsum(gain_s1)])
    s2 = np.concatenate([[float(magnitudes.size)], magnitudes.size + np.cumsum(gain_s2)])
    upper = np.concatenate([[np.inf], breakpoints])
    lower = np.concatenate([breakpoints, [0.0]])
    candidates = np.clip(s1 / s2, lower, upper)
    errors = np.sum(magnitudes**2) - 2 * candidates * s1 + candidates**2 * s2
    return float(candidates[np.argmin(errors)])


def optimal_power_of_two_step(weights: np.ndarray, n_bits: int) -> float:
    """The best q = 2**e: hls4ml maps it to an exact ap_fixed type."""
    exact = optimal_step(weights, n_bits)
    exponents = np.arange(np.floor(np.log2(exact)) - 2, np.ceil(np.log2(exact)) + 3)
    errors = [quantization_error(weights, 2.0**e, n_bits) for e in exponents]
    return float(2.0 ** exponents[int(np.argmin(errors))])
