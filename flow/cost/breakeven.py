"""Break-even pruning per layer and board (ADMM-NN section 5, Fig. 4), against every dense kernel hls4ml has.

A layer's target rate is an interval of T cycles per inference through it. At T, a kernel family's
cost is the smallest share of the board (its scarcest resource, DSP, BRAM18, LUT or FF, at the
implementation level) of any of its candidates that meets T and fits the board. The sparse kernel
(each PE count up to MAX_PES) beats the dense ones at a pruned portion p when its cost at T is
below the least of hls4ml's Latency strategy at RF 1 (whose constant zero products vanish, so it
gains from pruning too), its Resource strategy at each legal reuse factor and, where the build can
offer it (da4ml installed, weights exact in their type), its distributed_arithmetic strategy (an
adder graph, which loses pruned weights as well), or when only it fits. That is "faster at the
same area" read along the rate axis: at equal rate, less area.

The break-even at T is the first pruned portion where the sparse kernel wins (bisected below the
first of PORTIONS, then 99.9%, that wins); 0.0 ("always") where it wins unpruned; None ("never")
where it does not by 99.9%. The rates are the layer's dense candidates' intervals (at most
MOST_RATES, spread in log scale) plus any asked for; a layer's break-even is the least over them,
at the rate where it is reached.

Masks are taken as uniformly random at each pruning portion, so the expected number of entries
with k-bit gaps is nnz / (1 - p^(2^k - 1)).

Where synthesis reports exist, `Corrections` (reported / estimated, per kernel) scale the
estimates before the comparison, so the decision runs on the real numbers' proportions.

Against one given dense kernel at its own area (the rtl bench's measured comparison),
`break_even_curve` gives the sparse kernel's speedup at each pruned portion.

Example::

    found = rate_break_even(shape, board, code_bits=3)
    found.break_even_portion, found.interval      # the least break-even, and the rate (cycles) it holds at
    [(r.interval, r.break_even_portion) for r in found.rates]
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..boards import Board
from ..sparse.encoding import max_index_bits
from .candidates import MAX_PES, legal_reuse_factors
from .chooser import shares
from .design import RESOURCES
from .kernels import (UNROLLED, DenseKernel, Estimate, LayerShape, SparseKernel, estimate_dense,
                      estimate_sparse, estimate_unrolled)
from .pareto import spread

PORTIONS = tuple(float(p) for p in np.round(np.concatenate([np.arange(0.10, 0.95, 0.05), [0.96, 0.97, 0.98, 0.99]]), 2))
SCALED = ("latency", "interval", "dsp", "bram18", "lut", "ff")
MOST_RATES = 12  # rates per layer: each costs a bisection over the pruned portion


@dataclass(frozen=True)
class Corrections:
    """Per kernel ("dense", "sparse"), reported / estimated factors for the Estimate fields; 1 where unknown."""

    factors: dict = field(default_factory=dict)

    def apply(self, kernel: str, estimate: Estimate) -> Estimate:
        factors = self.factors.get(kernel, {})
        scaled = {name: int(math.ceil(getattr(estimate, name) * factors.get(name, 1.0))) for name in SCALED}
        # reports give no LUTRAM of their own: kept as estimated, within the scaled LUTs that hold it
        return Estimate(**scaled, lutram=min(estimate.lutram, scaled["lut"]))


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


@dataclass(frozen=True)
class Comparison:
    """One layer on one board: a dense kernel's budget and latency, and what the sparse kernel gets within it."""

    shape: LayerShape
    board: Board
    code_bits: int
    level_bits: int
    budget: float
    dense_latency: int
    corrections: Corrections = NONE

    @classmethod
    def of(cls, shape: LayerShape, board: Board, dense_kernel: DenseKernel, code_bits: int,
           level_bits: int | None = None, corrections: Corrections = NONE) -> "Comparison":
        """The sparse kernel given dense_kernel's share of the board."""
        dense = corrections.apply("dense", estimate_dense(shape, dense_kernel))
        return cls(shape, board, code_bits, level_bits or shape.weight_bits, utilization(dense, board),
                   dense.latency, corrections)

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


def break_even_curve(shape: LayerShape, board: Board, dense_kernel: DenseKernel, code_bits: int = 3,
                     level_bits: int | None = None, corrections: Corrections = NONE,
                     portions: tuple[float, ...] = PORTIONS) -> Curve:
    """Speedup of the sparse kernel over dense_kernel, given its share of the board, at each pruned portion, and
    the portion where it first reaches 1."""
    comparison = Comparison.of(shape, board, dense_kernel, code_bits, level_bits, corrections)
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


@dataclass(frozen=True)
class RatePoint:
    """The break-even at one rate: `interval` cycles per inference through the layer."""

    interval: int
    fps: float
    break_even_portion: float | None  # 0.0: always; None: never by 99.9%

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BreakEven:
    """One layer's break-even on one board at each rate (rates fastest first)."""

    layer: str
    board: str
    rates: tuple[RatePoint, ...]

    @property
    def best(self) -> RatePoint | None:
        """The rate with the least break-even (the faster on a tie); None where the sparse kernel never wins."""
        found = [rate for rate in self.rates if rate.break_even_portion is not None]
        return min(found, key=lambda rate: (rate.break_even_portion, rate.interval), default=None)

    @property
    def break_even_portion(self) -> float | None:
        return None if self.best is None else self.best.break_even_portion

    @property
    def interval(self) -> int | None:
        return None if self.best is None else self.best.interval

    @property
    def break_even_ratio(self) -> float | None:
        return None if self.best is None else 1 / (1 - self.best.break_even_portion)

    def at(self, interval: int) -> float | None:
        """The break-even at the listed rate nearest `interval` (in log scale)."""
        return min(self.rates, key=lambda rate: abs(math.log(rate.interval / interval))).break_even_portion

    def to_json(self) -> dict:
        return {"layer": self.layer, "board": self.board, "rates": [rate.to_json() for rate in self.rates],
                "break_even_portion": self.break_even_portion, "interval": self.interval,
                "break_even_ratio": self.break_even_ratio}


@dataclass
class KernelCosts:
    """Per pruned portion, each candidate's (interval, share of the board) for one layer, dense and sparse."""

    shape: LayerShape
    board: Board
    code_bits: int
    level_bits: int
    corrections: Corrections = NONE
    unrolled: bool = False  # hls4ml's distributed_arithmetic is a dense candidate too (candidates.unrolled_candidates)
    cache: dict = field(default_factory=dict)

    def share(self, estimate: Estimate) -> float:
        return max(shares({resource: getattr(estimate, resource) for resource in RESOURCES}, self.board).values())

    def costs(self, pruned: float) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        if pruned not in self.cache:
            nonzeros = max(1, int(round((1 - pruned) * self.shape.weights)))
            kept = replace(self.shape, nonzeros=nonzeros)
            io_type = "io_stream" if self.shape.stream_packets else "io_parallel"
            dense = [self.corrections.apply("dense", estimate_dense(kept, DenseKernel(1, "latency", io_type)))]
            dense += [self.corrections.apply("dense", estimate_dense(self.shape, DenseKernel(rf, "resource", io_type)))
                      for rf in legal_reuse_factors(self.shape.n_in, self.shape.n_out)]
            if self.unrolled:  # corrected by DA layers' own reports only, as the build's estimate is
                dense.append(self.corrections.apply(UNROLLED, estimate_unrolled(kept, io_type)))
            index_bits = best_index_bits(nonzeros, pruned, self.code_bits, self.shape.n_in)
            entries = expected_entries(nonzeros, pruned, index_bits)
            sparse = [self.corrections.apply("sparse", estimate_sparse(kept, SparseKernel(
                pes=pes, entries=math.ceil(entries / pes), rows=math.ceil(self.shape.n_out / pes),
                index_bits=index_bits, code_bits=self.code_bits), self.level_bits))
                for pes in range(1, min(MAX_PES, self.shape.n_out) + 1)]
            self.cache[pruned] = ([(e.interval, self.share(e)) for e in dense],
                                  [(e.interval, self.share(e)) for e in sparse])
        return self.cache[pruned]

    def sparse_wins(self, pruned: float, interval: int) -> bool:
        """Whether, within `interval` and the board, the sparse kernel's smallest candidate is below the dense
        kernels' smallest (or the only one)."""
        dense, sparse = self.costs(pruned)
        smallest_sparse = min((share for i, share in sparse if i <= interval and share <= 1), default=None)
        smallest_dense = min((share for i, share in dense if i <= interval and share <= 1), default=None)
        return smallest_sparse is not None and (smallest_dense is None or smallest_sparse < smallest_dense)

    def break_even_at(self, interval: int) -> float | None:
        if self.sparse_wins(0.0, interval):
            return 0.0
        low = 0.0
        for portion in (*PORTIONS, 0.999):
            if self.sparse_wins(portion, interval):
                high = portion
                while high - low > 1e-4:
                    middle = (low + high) / 2
                    low, high = (low, middle) if self.sparse_wins(middle, interval) else (middle, high)
                return round(high, 4)
            low = portion
        return None


def rate_break_even(shape: LayerShape, board: Board, code_bits: int = 3, level_bits: int | None = None,
                    corrections: Corrections = NONE, intervals: tuple[int, ...] = (),
                    unrolled: bool = False) -> BreakEven:
    """The layer's break-even at each rate of its dense candidates (spread) and each of `intervals`; `unrolled`:
    distributed_arithmetic is among them."""
    costs = KernelCosts(shape, board, code_bits, level_bits or shape.weight_bits, corrections, unrolled)
    dense, _ = costs.costs(0.0)
    rates = sorted(set(spread(sorted({i for i, _ in dense}), MOST_RATES)) | set(intervals))
    return BreakEven(layer=shape.name, board=board.name, rates=tuple(
        RatePoint(interval=interval, fps=round(board.clock_hz / interval, 1),
                  break_even_portion=costs.break_even_at(interval)) for interval in rates))


def plot_break_evens(found: list[BreakEven], path, pruned: dict[str, float] | None = None) -> None:
    """breakeven.png: per layer, the break-even pruned portion against the target rate; each layer's own pruned
    portion as a dotted line (`pruned`)."""
    from ..plots import new_figure, save_figure

    figure = new_figure(figsize=(7, 4.5))
    axes = figure.subplots()
    for layer in found:
        points = [(rate.fps, 100 * rate.break_even_portion) for rate in layer.rates
                  if rate.break_even_portion is not None]
        line, = axes.plot([x for x, _ in points], [y for _, y in points], marker="o", markersize=3,
                          label=layer.layer if points else f"{layer.layer} (never)")
        if pruned and layer.layer in pruned:
            axes.axhline(100 * pruned[layer.layer], color=line.get_color(), linestyle=":", linewidth=1)
    axes.set_xscale("log")
    rates = [rate.fps for layer in found for rate in layer.rates]
    if rates:  # the rates checked, drawn even where every layer's break-even is "never"
        axes.set_xlim(min(rates) / 1.5, max(rates) * 1.5)
    axes.set_ylim(0, 100)
    axes.set_xlabel("target rate through the layer (inferences/s, estimate)")
    axes.set_ylabel("break-even pruned portion (%)")
    board = found[0].board if found else ""
    axes.set_title(f"Sparse beats every dense kernel above the line, on {board} (dotted: pruned)", fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)
