"""Exact fixed-point types for what hls4ml would size by rule: weight layers' accumulators, and the input.

hls4ml 1.3 infers a weight layer's accumulator as w + a + ceil(log2(n_in)) bits whatever the
weights are (33 bits in the 4-bit digits model). The weights are constants, so the real worst case
is known: for output j, every partial sum lies between

    min(b_j, 0) + sum_i min(0, w_ij * lo, w_ij * hi)   and   max(b_j, 0) + sum_i max(0, w_ij * lo, w_ij * hi)

where [lo, hi] is the input type's range and w, b are the weights and bias as the hardware stores
them (rounded to their types). Each term's lower bound is <= 0 and upper bound >= 0, so the bounds
hold for every partial sum in any summation order (bias first as in nnet_dense_latency.h, or last
as in hls/nnet_sparse.h), and no product or sum ever wraps. The fraction bits are the input's plus
the weights' (as many as the stored values need), at least the bias's, so every sum is exact.
The result type is the accumulator's: the layer's output is the exact sum; rounding happens only in
the quantizer that follows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .nodes import DENSE_WEIGHT_LAYERS, weight_matrix_shape

LAYOUT_NODES = ("Transpose", "Reshape")
MAX_FRACTION_BITS = 32  # stored values with more fraction bits than this are taken at their type's


@dataclass(frozen=True)
class FixedType:
    """A signed or unsigned ap_fixed type: `width` bits, `integer` of them above the binary point."""

    width: int
    integer: int
    signed: bool = True

    @property
    def fraction(self) -> int:
        return self.width - self.integer

    @property
    def lowest(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def highest(self) -> float:
        return 2.0 ** (self.integer - (1 if self.signed else 0)) - 2.0 ** -self.fraction

    def hls4ml(self) -> str:
        return f"{'fixed' if self.signed else 'ufixed'}<{self.width},{self.integer}>"


def fixed_type_of(precision) -> FixedType | None:
    """An hls4ml precision as a FixedType; None for types without a fixed range (float, auto)."""
    width, integer = getattr(precision, "width", None), getattr(precision, "integer", None)
    if width is None or integer is None:
        return None
    return FixedType(int(width), int(integer), bool(getattr(precision, "signed", True)))


def fraction_bits(values: np.ndarray, limit: int) -> int:
    """The fewest fraction bits (<= limit) that hold every value exactly; limit when none fewer do."""
    for bits in range(limit + 1):
        scaled = values * 2.0**bits
        if np.array_equal(scaled, np.round(scaled)):
            return bits
    return limit


def stored(values: np.ndarray, kind: FixedType | None) -> tuple[np.ndarray, int]:
    """Values as their type holds them (rounded to its grid, clipped to its range) and their fraction bits."""
    values = np.asarray(values, dtype=np.float64)
    if kind is None:
        return values, fraction_bits(values, MAX_FRACTION_BITS)
    grid = 2.0**kind.fraction
    held = np.clip(np.round(values * grid) / grid, kind.lowest, kind.highest)
    return held, fraction_bits(held, kind.fraction)


def signed_type_for(lowest: float, highest: float, fraction: int) -> FixedType:
    """The narrowest signed type with `fraction` fraction bits and at least the sign bit above the binary
    point (hls4ml parses no negative integer widths) whose range holds [lowest, highest]."""
    integer = 1
    while -(2.0 ** (integer - 1)) > lowest or 2.0 ** (integer - 1) - 2.0**-fraction < highest:
        integer += 1
    return FixedType(integer + fraction, integer, True)


def row_bounds(weights: np.ndarray, bias: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Per output column of an (n_in, n_out) matrix, the lowest and highest any partial sum reaches."""
    low_terms = np.minimum(np.minimum(weights * lo, weights * hi), 0.0)
    high_terms = np.maximum(np.maximum(weights * lo, weights * hi), 0.0)
    return low_terms.sum(axis=0) + np.minimum(bias, 0.0), high_terms.sum(axis=0) + np.maximum(bias, 0.0)


def exact_accumulator(node) -> FixedType | None:
    """The accumulator type no input of the node's input type can overflow; None when the input type is unbounded."""
    source = fixed_type_of(node.get_input_variable().type.precision)
    if source is None:
        return None
    n_in, n_out = weight_matrix_shape(node)
    weight = node.get_weights("weight")
    weights, weight_fraction = stored(weight.data, fixed_type_of(weight.type.precision))
    weights = weights.reshape(n_in, n_out) if "Dense" in node.class_name else weights.reshape(-1, n_out)
    bias_variable = node.weights.get("bias")
    if bias_variable is None:
        bias, bias_fraction = np.zeros(n_out), 0
    else:
        bias, bias_fraction = stored(np.asarray(bias_variable.data).reshape(-1), fixed_type_of(bias_variable.type.precision))
        bias = np.broadcast_to(bias, (n_out,))
    lowest, highest = row_bounds(weights, bias, source.lowest, source.highest)
    fraction = max(source.fraction + weight_fraction, bias_fraction)
    return signed_type_for(float(lowest.min()), float(highest.max()), fraction)


def exact_layer_precisions(hls_model) -> dict[str, str]:
    """hls4ml layer name -> exact accumulator (and result) type of each dense weight layer with a bounded input."""
    chosen = {}
    for node in hls_model.get_layers():
        if node.class_name in DENSE_WEIGHT_LAYERS:
            kind = exact_accumulator(node)
            if kind is not None:
                chosen[node.name] = kind.hls4ml()
    return chosen


def quantized_input_precision(hls_model) -> str | None:
    """The type of the quantizer the model input meets first (past layout-only nodes), for the input itself.

    hls4ml gives the input the default precision (32 bits); when the first real node is a quantizer,
    feeding the input already on that grid changes no value and lets the stream carry a narrow word.
    """
    for node in list(hls_model.get_layers())[1:]:
        if node.class_name in LAYOUT_NODES:
            continue
        precision = node.get_output_variable().type.precision
        if node.class_name == "Activation" and node.get_attr("activation") == "linear" and fixed_type_of(precision):
            return str(precision)
        return None
    return None
