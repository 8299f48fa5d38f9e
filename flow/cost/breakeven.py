"""Break-even pruning ratio per layer and board (ADMM-NN section 5, Fig. 4).

Under one hardware budget, a sparse layer runs faster than the dense one only once enough weights
are pruned: the sparse kernel pays for indices, fillers and, here, a multiplexer per PE that can
read any input. The budget is the share of the board the dense layer takes (the largest of its
DSP, LUT and BRAM18 fractions); the sparse kernel gets as many PEs as fit the same share.

The dense reference is hls4ml's Resource strategy at the reuse factor that gives the layer
`dsp_share` of the board's DSPs. Masks are taken as uniformly random at each pruning portion,
so the expected number of entries with k-bit gaps is nnz / (1 - p^(2^k - 1)).

Where synthesis reports exist, `Corrections` (reported / estimated, per kernel) scale the
estimates before the comparison, so the decision runs on the real numbers' proportions.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..boards import Board
from ..sparse.encoding import max_index_bits
from .candidates import legal_reuse_factors
from .kernels import (DenseKernel, Estimate, LayerShape, SparseKernel, dsp_per_product, estimate_dense,
                       estimate_sparse)

PORTIONS = tuple(float(p) for p in np.round(np.concatenate([np.arange(0.10, 0.95, 0.05), [0.96, 0.97, 0.98, 0.99]]), 2))
DSP_SHARE = 0.25  # the dense reference layer gets a quarter of the board's DSPs
SCALED = ("latency", "interval", "dsp", "bram18", "lut", "ff")


@dataclass(frozen=True)
class Corrections:
    """Per kernel ("dense", "sparse"), reported / estimated factors for the Estimate fields; 1 where unknown."""

    factors: dict = field(default_factory=dict)

    def apply(self, kernel: str, estimate: Estimate) -> Estimate:
        factors = self.factors.get(kernel, {})
        return Estimate(**{name: int(math.ceil(getattr(estimate, name) * factors.get(name, 1.0))) for name in SCALED},
                        lutram=estimate.lutram)  # reports give no LUTRAM of their own: kept as estimated


NONE = Corrections()


def utilization(estimate: Estimate, board: Board) -> float:
    resources = board.resources
    return max(estimate.dsp / resources["dsp"], estimate.lut / resources["lut"], estimate.bram18 / resources["bram18"])


def expected_entries(nonzeros: int, pruned: float, index_bits: int) -> float:
    """Entries (kept weights plus fillers) of a uniformly random mask with k-bit relative indices."""
    span = 2**index_bits - 1
    return nonzeros / (1 - pruned**span) if pruned < 1 else float("inf")


def best_index_bits(nonzeros: int, pruned: float, code_bits: int, n_in: int) -> int:
    return min(range(1, max_index_bits(n_in) + 1),
               key=lambda k: expected_entries(nonzeros, pruned, k) * (k + code_bits))


def reference_multipliers(shape: LayerShape, board: Board, dsp_share: float = DSP_SHARE) -> int:
    """The dense reference's parallel products: as many as dsp_share of the board's DSPs hold (one slot each
    where a product is built in LUTs)."""
    per_product = max(1, dsp_per_product(shape.weight_bits, shape.input_bits))
    return max(1, min(shape.weights, int(board.resources["dsp"] * dsp_share) // per_product))


def dense_reference(shape: LayerShape, board: Board, dsp_share: float = DSP_SHARE,
                    corrections: Corrections = NONE) -> tuple[DenseKernel, Estimate]:
    """Resource strategy at the smallest reuse factor hls4ml accepts whose DSPs stay within dsp_share of the
    board (hls4ml would move any other to an accepted one)."""
    wanted = math.ceil(shape.weights / reference_multipliers(shape, board, dsp_share))
    kernel = DenseKernel(reuse_factor=min(rf for rf in legal_reuse_factors(shape.n_in, shape.n_out) if rf >= wanted),
                         strategy="resource")
    return kernel, corrections.apply("dense", estimate_dense(shape, kernel))


@dataclass(frozen=True)
class Comparison:
    """One layer on one board: the dense reference's budget and latency, and what the sparse kernel gets."""

    shape: LayerShape
    board: Board
    code_bits: int
    level_bits: int
    budget: float
    dense_latency: int
    corrections: Corrections = NONE

    @classmethod
    def of(cls, shape: LayerShape, board: Board, code_bits: int, level_bits: int | None = None,
           dsp_share: float = DSP_SHARE, corrections: Corrections = NONE,
           dense_kernel: DenseKernel | None = None) -> tuple["Comparison", DenseKernel]:
        """Against dense_kernel, or without one the reference at dsp_share of the board's DSPs."""
        if dense_kernel is None:
            kernel, dense = dense_reference(shape, board, dsp_share, corrections)
        else:
            kernel, dense = dense_kernel, corrections.apply("dense", estimate_dense(shape, dense_kernel))
        return cls(shape, board, code_bits, level_bits or shape.weight_bits, utilization(dense, board),
                   dense.latency, corrections), kernel

    def sparse_at_budget(self, pruned: float) -> tuple[SparseKernel, Estimate] | None:
        """The most PEs (one output row at least each) whose estimate fits the budget; None if not even one does."""
        nonzeros = max(1, int(round((1 - pruned) * self.shape.weights)))
        index_bits = best_index_bits(nonzeros, pruned, self.code_bits, self.shape.n_in)
        entries = expected_entries(nonzeros, pruned, index_bits)
        pruned_shape = replace(self.shape, nonzeros=nonzeros)

        def build(pes: int):
            kernel = SparseKernel(pes=pes, entries=math.ceil(entries / pes), rows=math.ceil(self.shape.n_out / pes),
                                  index_bits=index_bits, code_bits=self.code_bits)
            return kernel, self.corrections.apply("sparse", estimate_sparse(pruned_shape, kernel, self.level_bits))

        best = None
        low, high = 1, self.shape.n_out
        while low <= high:  # the estimate grows with the PE count
            middle = (low + high) // 2
            candidate = build(middle)
            if utilization(candidate[1], self.board) <= self.budget:
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        return best

    def speedup(self, pruned: float) -> tuple[float, int]:
        """Dense latency / sparse latency at this pruned portion, and the sparse PE count; (0, 0) if no PE fits."""
        found = self.sparse_at_budget(pruned)
        if found is None:
            return 0.0, 0
        kernel, estimate = found
        return self.dense_latency / estimate.latency, kernel.pes

    def break_even(self, first_faster: float) -> float:
        """Bisection between 0 and a portion known to be faster: the speedup rises with the pruned portion."""
        low, high = 0.0, first_faster
        if self.speedup(low)[0] >= 1:
            return 0.0
        while high - low > 1e-4:
            middle = (low + high) / 2
            if self.speedup(middle)[0] >= 1:
                high = middle
            else:
                low = middle
        return round(high, 4)


@dataclass(frozen=True)
class Curve:
    layer: str
    board: str
    dense_reuse_factor: int
    dense_latency: int
    budget: float  # share of the board
    portions: tuple[float, ...]
    speedups: tuple[float, ...]  # dense latency / sparse latency under the budget; 0 where no PE fits
    pes: tuple[int, ...]
    break_even_portion: float | None  # smallest pruned portion with speedup >= 1 (None: never within 99%)

    @property
    def break_even_ratio(self) -> float | None:
        return None if self.break_even_portion is None else 1 / (1 - self.break_even_portion)

    def to_json(self) -> dict:
        return {**asdict(self), "break_even_ratio": self.break_even_ratio}


def break_even_portion(shape: LayerShape, board: Board, code_bits: int = 3, level_bits: int | None = None,
                       dsp_share: float = DSP_SHARE, corrections: Corrections = NONE) -> float | None:
    """The smallest pruned portion at which the sparse kernel beats the dense one, as break_even_curve finds it
    (the first of its portions, then 99.9%, to reach 1, bisected below); None if none does."""
    comparison, _ = Comparison.of(shape, board, code_bits, level_bits, dsp_share, corrections)
    faster = next((p for p in (*PORTIONS, 0.999) if comparison.speedup(p)[0] >= 1), None)
    return None if faster is None else comparison.break_even(faster)


def break_even_curve(shape: LayerShape, board: Board, code_bits: int = 3, level_bits: int | None = None,
                     dsp_share: float = DSP_SHARE, corrections: Corrections = NONE,
                     dense_kernel: DenseKernel | None = None, portions: tuple[float, ...] = PORTIONS) -> Curve:
    """Speedup of the sparse kernel over hls4ml's dense one (dense_kernel, or the reference at dsp_share of the
    board's DSPs) at each pruned portion, and the break-even portion."""
    comparison, dense_kernel = Comparison.of(shape, board, code_bits, level_bits, dsp_share, corrections,
                                             dense_kernel)
    points = [comparison.speedup(p) for p in portions]
    speedups = tuple(round(s, 4) for s, _ in points)
    faster = next((p for p, s in zip(portions, speedups) if s >= 1), None)
    return Curve(layer=shape.name, board=board.name, dense_reuse_factor=dense_kernel.reuse_factor,
                 dense_latency=comparison.dense_latency, budget=round(comparison.budget, 5), portions=tuple(portions),
                 speedups=speedups, pes=tuple(pes for _, pes in points),
                 break_even_portion=None if faster is None else comparison.break_even(faster))


def measured_break_even(portions: tuple[float, ...], speedups: tuple[float, ...]) -> float | None:
    """Where speedups measured at ascending pruned portions first reach 1: interpolated linearly in log speedup
    between the two points around the crossing (at the point itself after one where no sparse design fit);
    the first portion where that one already reaches 1; None where none does.

    Example::

        measured_break_even((0.5, 0.9), (0.5, 2.0))   # 0.7: halfway in log speedup
    """
    for index, (portion, speedup) in enumerate(zip(portions, speedups)):
        if speedup < 1:
            continue
        if index == 0 or speedups[index - 1] <= 0:
            return portion
        low, before = portions[index - 1], speedups[index - 1]
        return round(low + (portion - low) * math.log(1 / before) / math.log(speedup / before), 4)
    return None


def plot_curves(curves: list[Curve], path) -> None:
    """Speedup against pruned portion per layer (paper Fig. 4), break-even points marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for curve in curves:
        portions = [100 * p for p, s in zip(curve.portions, curve.speedups) if s > 0]
        speedups = [s for s in curve.speedups if s > 0]
        line, = axes.plot(portions, speedups, marker="o", markersize=3, label=curve.layer)
        if curve.break_even_portion is not None:
            axes.axvline(100 * curve.break_even_portion, color=line.get_color(), linestyle=":", linewidth=1)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_xlabel("pruned portion of the layer's weights (%)")
    axes.set_ylabel("speedup of sparse over dense (same budget)")
    board = curves[0].board if curves else ""
    axes.set_title(f"Break-even pruning per layer on {board} (dotted: break-even)")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    partial = path.with_name(path.name + ".partial.png")  # a half-written plot never looks finished
    figure.savefig(partial, dpi=120)
    plt.close(figure)
    partial.replace(path)
