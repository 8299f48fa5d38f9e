"""Throughput against area for the designs one kernel family can make, and for flow's mixed choice (pareto.png).

Per family (every layer Latency, every layer Resource, every layer distributed_arithmetic where
da4ml is installed, every layer flow's sparse kernel, or any candidate per layer: the chooser's
mixed designs), one design per interval that the family's candidates offer (at most 40, spread in
log scale): the chooser's least-area choice within it (chooser.smallest_within). A design's
rate is the clock over the slowest of its layers' intervals and the stream top's cycles per
sample (io_parallel: the top's plus the layers' latencies, as its model runs each sample to its end); its area is its scarcest resource's share of the board at the implementation level, the
fixed part (every node but the weight layers) included. The frontier keeps the designs no other
design of the family beats on both. A family that lacks a candidate for some layer has no design.

Example::

    fronts = frontiers(menus, board, fixed, stream_cycles=784)
    fronts["mixed"]   # fastest first: [Point(interval=784, fps=127551.0, utilization=0.61, kernels=(...)), ...]
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..boards import Board
from .candidates import KERNELS, Candidate
from .chooser import Design, sample_cycles, scarcest_share, smallest_within, used_by
from .kernels import UNROLLED

MOST_INTERVALS = 40  # designs per family: the chooser's greedy search per interval takes a fraction of a second
FAMILIES = {**{kernel: (kernel,) for kernel in KERNELS}, "mixed": KERNELS}


@dataclass(frozen=True)
class Point:
    interval: int
    fps: float
    utilization: float  # the scarcest resource's share of the board
    kernels: tuple[str, ...]  # the chosen candidate's label per layer

    def to_json(self) -> dict:
        return {"interval": self.interval, "fps": self.fps, "utilization": self.utilization,
                "kernels": list(self.kernels)}


def family_designs(menus: dict[str, list[Candidate]], board: Board, fixed: dict[str, int], stream_cycles: int,
                   kernels: tuple[str, ...], also: frozenset[int] = frozenset(), in_series: bool = False) -> list[Point]:
    """The least-area design of `kernels` within each interval those kernels' candidates offer (spread), and
    within each interval of `also`."""
    menus = {name: [c for c in menu if c.kernel in kernels] for name, menu in menus.items()}
    if any(not menu for menu in menus.values()):
        return []
    points = []
    for interval in sorted(set(spread(sorted({c.interval for menu in menus.values() for c in menu}))) | also):
        choice = smallest_within(menus, board, interval, fixed)
        if choice is None:
            continue
        achieved = max(sample_cycles(choice, stream_cycles, in_series), max(c.interval for c in choice.values()))
        points.append(Point(interval=achieved, fps=round(board.clock_hz / achieved, 1),
                            utilization=round(scarcest_share(choice, fixed, board), 4),
                            kernels=tuple(choice[name].label for name in menus)))
    return points


def spread(intervals: list[int], most: int = MOST_INTERVALS) -> list[int]:
    """At most `most` of the sorted intervals, spread evenly in log scale, the fastest and slowest kept."""
    if len(intervals) <= most:
        return intervals
    ratio = (intervals[-1] / intervals[0]) ** (1 / (most - 1))
    wanted = [intervals[0] * ratio ** k for k in range(most)]
    return sorted({min(intervals, key=lambda i: abs(math.log(i / w))) for w in wanted})


def frontier(points: list[Point]) -> list[Point]:
    """The points no other point beats on both rate and area, fastest first."""
    kept = []
    for point in sorted(points, key=lambda p: (-p.fps, p.utilization)):
        if not kept or point.utilization < kept[-1].utilization:
            kept.append(point)
    return kept


def fixed_part(design: Design) -> dict[str, int]:
    """What the design uses beside its weight layers (every other node), per resource, HLS level."""
    return {resource: total - sum(used_by(c)[resource] for c in design.chosen.values())
            for resource, total in design.used.items()}


def frontiers(menus: dict[str, list[Candidate]], board: Board, fixed: dict[str, int], stream_cycles: int,
              also: frozenset[int] = frozenset(), in_series: bool = False) -> dict[str, list[Point]]:
    """Each family's frontier. The mixed designs are also taken within `also` (the build's target) and within
    each interval a single-kernel design achieves; every single-kernel design is a mixed one too, so the mixed
    frontier is drawn over both. in_series: the model runs each sample to its end between the stream top's
    stream_cycles (io_parallel), so a design's layer latencies add to them."""
    single = {family: family_designs(menus, board, fixed, stream_cycles, kernels, in_series=in_series)
              for family, kernels in FAMILIES.items() if family != "mixed"}
    achieved = frozenset(point.interval for points in single.values() for point in points)
    mixed = family_designs(menus, board, fixed, stream_cycles, FAMILIES["mixed"], also | achieved, in_series)
    return {**{family: frontier(points) for family, points in single.items()},
            "mixed": frontier(mixed + [point for points in single.values() for point in points])}


def plot_frontiers(fronts: dict[str, list[Point]], chosen: Point | None, board: Board, path: Path,
                   max_utilization: float) -> None:
    """pareto.png: rate against the scarcest resource's share, one line per family, flow's choice marked."""
    from ..plots import new_figure, save_figure

    figure = new_figure(figsize=(7, 4.5))
    axes = figure.subplots()
    styles = {"latency": "s", "resource": "^", UNROLLED: "D", "sparse": "o", "mixed": "."}
    for family, points in fronts.items():
        if points:
            axes.plot([100 * p.utilization for p in points], [p.fps for p in points], marker=styles[family],
                      markersize=4, linestyle="-" if family == "mixed" else "--", label=f"all {family}"
                      if family != "mixed" else "any kernel per layer")
    if chosen is not None:
        axes.plot([100 * chosen.utilization], [chosen.fps], marker="*", markersize=14, color="black",
                  linestyle="none", label="flow's choice")
    axes.axvline(100 * max_utilization, color="grey", linestyle=":", linewidth=1)
    axes.axvline(100, color="black", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("scarcest resource, % of the board (estimate, implementation level)")
    axes.set_ylabel(f"inferences/s at {board.clock_hz / 1e6:g} MHz (estimate)")
    axes.set_title(f"Rate against area on {board.name}: the designs each kernel family can make")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)
