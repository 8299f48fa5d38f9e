"""One kernel per weight layer for the whole design: a target rate met at the least area, or the most rate that fits.

The design's interval is its slowest layer's (the layers run as a dataflow pipeline, one inference
each per interval). Its area is the weight layers' chosen candidates plus `fixed`: everything else
the design holds (flow/cost/design.py), per resource, at the HLS level. Its size is its scarcest
resource's share of the board at the implementation level (design.implementation), the level the
build's fit step judges, as FINN's SetFolding and hls4ml's reuse factors trade rate for area.

- With a target interval T, each layer may take any candidate whose interval is at most T. From the
  cheapest candidate per layer (smallest largest share on its own), the chooser moves one layer at
  a time to the candidate that lowers the design's scarcest share most (then the sum of shares),
  until no move does. It runs that search over all candidates and over each kernel family alone,
  and keeps the smallest result: never larger than a single-kernel design within T.
- Without a target, T runs over the candidates' intervals from the fastest up; the first T whose
  design fits within `max_utilization` of every resource is taken (None where none does: the
  build then takes the smallest design, within the slowest T). The search per T is greedy, so a
  smaller T's design that fits may exist where the chooser found none.

Example::

    design = choose(menus, board, max_utilization=0.8)          # the highest rate that fits
    design = choose(menus, board, target_interval=1_000)         # 100,000 inferences/s at 100 MHz
"""
from __future__ import annotations

from dataclasses import dataclass

from ..boards import Board
from .candidates import Candidate
from .design import BUDGETED, RESOURCES, implementation


def shares(hls: dict[str, int], board: Board) -> dict[str, float]:
    """Each budgeted resource's share of the board, at the implementation level, of HLS-level totals."""
    placed = implementation(hls)
    return {resource: placed[resource] / board.resources[resource] for resource in BUDGETED}


def used_by(candidate: Candidate) -> dict[str, int]:
    return {resource: candidate.uses(resource) for resource in RESOURCES}


@dataclass(frozen=True)
class Design:
    """The chosen candidate per layer and what the whole design then uses and achieves."""

    chosen: dict[str, Candidate]
    target_interval: int | None
    interval: int
    used: dict[str, int]  # HLS level, the fixed part included
    utilization: dict[str, float]  # implementation level
    fits: bool
    reasons: dict[str, str]
    menus: dict[str, list[Candidate]]  # every candidate considered, per layer

    @property
    def scarcest(self) -> str:
        return max(self.utilization, key=self.utilization.get)

    @property
    def share(self) -> float:
        """The scarcest resource's share of the board."""
        return max(self.utilization.values())

    def cycles(self, words: int, in_series: bool) -> int:
        """Cycles per sample of the whole stream top: the slowest layer or the top's own (sample_cycles)."""
        return max(self.interval, sample_cycles(self.chosen, words, in_series))


def sample_cycles(choice: dict[str, Candidate], words: int, in_series: bool) -> int:
    """The stream top's cycles per sample around the chosen layers: `words`, the values it moves, plus, where the
    model runs each sample to its end between them (in_series, io_parallel), the layers' latencies."""
    return words + (sum(c.estimate.latency for c in choice.values()) if in_series else 0)


def _total(choice: dict[str, Candidate], fixed: dict[str, int]) -> dict[str, int]:
    total = {resource: int(fixed.get(resource, 0)) for resource in RESOURCES}
    for candidate in choice.values():
        for resource, value in used_by(candidate).items():
            total[resource] += value
    return total


def _score(choice: dict[str, Candidate], fixed: dict[str, int], board: Board) -> tuple[float, float]:
    fractions = shares(_total(choice, fixed), board)
    return max(fractions.values()), sum(fractions.values())


def scarcest_share(choice: dict[str, Candidate], fixed: dict[str, int], board: Board) -> float:
    """The design's scarcest resource's share of the board (implementation level), `fixed` included."""
    return _score(choice, fixed, board)[0]


def smallest_within(menus: dict[str, list[Candidate]], board: Board, target_interval: int,
                    fixed: dict[str, int]) -> dict[str, Candidate] | None:
    """The least-area choice whose every layer's interval is at most target_interval; None if a layer has no such
    candidate."""
    allowed = {name: [c for c in menu if c.interval <= target_interval] for name, menu in menus.items()}
    if any(not menu for menu in allowed.values()):
        return None
    # the greedy search over every candidate, and over each kernel family alone: the least of them, so the
    # mixed design is never larger than a single-kernel design within the same interval
    families = [{name: [c for c in menu if c.kernel == kernel] for name, menu in allowed.items()}
                for kernel in sorted({c.kernel for menu in allowed.values() for c in menu})]
    searches = [allowed, *(family for family in families if all(family.values()))]
    return min((_descend(search, board, fixed) for search in searches), key=lambda c: _score(c, fixed, board))


def _descend(allowed: dict[str, list[Candidate]], board: Board, fixed: dict[str, int]) -> dict[str, Candidate]:
    """From the cheapest candidate per layer, one layer at a time to the candidate that lowers the design's scarcest
    share most, until no move does."""
    choice = {name: min(menu, key=lambda c: (max(shares(used_by(c), board).values()), c.interval))
              for name, menu in allowed.items()}
    score = _score(choice, fixed, board)
    while True:
        moves = [(_score({**choice, name: other}, fixed, board), name, other)
                 for name, menu in allowed.items() for other in menu if other is not choice[name]]
        best = min(moves, key=lambda move: move[0], default=None)
        if best is None or best[0] >= score:
            return choice
        score, name, other = best
        choice = {**choice, name: other}


def _design(choice: dict[str, Candidate], target: int | None, fixed: dict[str, int], board: Board,
            max_utilization: float, menus: dict[str, list[Candidate]]) -> Design:
    used = _total(choice, fixed)
    utilization = {resource: round(share, 4) for resource, share in shares(used, board).items()}
    fits = max(utilization.values()) <= max_utilization
    scarcest = max(utilization, key=utilization.get)
    interval = max(candidate.interval for candidate in choice.values())
    reasons = {}
    for name, candidate in choice.items():
        within = sum(1 for c in menus[name] if c.interval <= interval)
        reasons[name] = (f"{candidate.label}: of the {within} of {len(menus[name])} candidates within the design's "
                         f"interval ({interval:,} cycles), the one that leaves the design's scarcest resource "
                         f"({scarcest.upper()}) lowest")
    return Design(chosen=choice, target_interval=target, interval=interval, used=used, utilization=utilization,
                  fits=fits, reasons=reasons, menus=menus)


def choose(menus: dict[str, list[Candidate]], board: Board, target_interval: int | None = None,
           max_utilization: float = 0.8, fixed: dict[str, int] | None = None) -> Design | None:
    """The design for target_interval (None: the fastest that fits within max_utilization); None when no choice
    meets the target, or none fits without one."""
    fixed = fixed or {}
    if target_interval is not None:
        choice = smallest_within(menus, board, target_interval, fixed)
        return None if choice is None else _design(choice, target_interval, fixed, board, max_utilization, menus)
    for interval in sorted({c.interval for menu in menus.values() for c in menu}):
        choice = smallest_within(menus, board, interval, fixed)
        if choice is not None:
            design = _design(choice, None, fixed, board, max_utilization, menus)
            if design.fits:
                return design
    return None
