"""Vivado `report_utilization`: the flat summary and the `-hierarchical` per-instance table.

Seen in the wild and handled here: 7-series names (`Slice LUTs`) and UltraScale names (`CLB LUTs`),
`*` marks on synthesis counts, the `Prohibited` column of Vivado 2024+, section numbers that move
when a "Logic Distribution" section is present, per-SLR tables repeating the row names, half
Block RAM tiles, and hierarchical cells like `17654(33,189211%)` with a comma decimal separator.
A synthesis report of a block design whose IPs are black boxes counts none of their logic; its
`black_boxes` say so.

hls4ml's `parse_vivado_report` reads a flat report only as a project's `vivado_synth.rpt` and by section
number, so on placed and routed reports it finds no BRAM or DSP row (tests/test_library_equivalents.py); it
files 36 Kb tiles under BRAM_18K, and its hierarchical `util.rpt` reader raises on comma decimals.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import FlowError
from .tables import section, table_after

ROWS = {"Slice LUTs": "lut", "CLB LUTs": "lut", "Slice Registers": "ff", "CLB Registers": "ff",
        "Block RAM Tile": "bram_tiles", "RAMB36/FIFO": "ramb36", "RAMB18": "ramb18", "URAM": "uram", "DSPs": "dsp"}


@dataclass(frozen=True)
class Utilization:
    design: str
    device: str
    state: str  # Synthesized, Optimized, Fully Placed, Routed
    tool_version: str
    lut: int
    ff: int
    bram_tiles: float  # 36 Kb tiles; a lone RAMB18 is half a tile
    dsp: int
    uram: int
    black_boxes: tuple[str, ...] = ()

    @property
    def bram18(self) -> int:
        return int(round(2 * self.bram_tiles))


@dataclass(frozen=True)
class InstanceUtilization:
    depth: int
    instance: str
    module: str
    lut: int
    ff: int
    ramb36: int
    ramb18: int
    dsp: int
    uram: int = 0

    @property
    def bram18(self) -> int:
        return 2 * self.ramb36 + self.ramb18


def _header(text: str, field: str) -> str:
    match = re.search(rf"^\|\s*{field}\s*:\s*(.*?)\s*$", text, re.MULTILINE)
    return match.group(1) if match else ""


def _number(cell: str) -> float:
    """'17654', '1.5', or a hierarchical '17654(33,189211%)': the count before the percentage."""
    match = re.match(r"\s*([\d.]+)", cell)
    if not match:
        raise ValueError(cell)
    return float(match.group(1))


def parse_utilization(text: str, source: str = "") -> Utilization:
    if "report_utilization" not in text and "Utilization Design Information" not in text:
        raise FlowError(f"{source or 'file'} is not a Vivado report_utilization report")
    used: dict[str, float] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.lstrip().startswith("|"):
            continue
        key = ROWS.get(cells[0].rstrip("*").strip())
        if key and key not in used:  # the first table has the whole design; later ones split it per SLR
            used[key] = _number(cells[1])
    if "lut" not in used:
        raise FlowError(f"{source or 'report'} has no Slice/CLB LUTs row; pass a flat report_utilization file")
    lines = text.splitlines()
    black_box_title = section(lines, r"\d+\. Black Boxes")
    black_boxes = () if black_box_title is None else tuple(
        row[0] for row in table_after(lines, black_box_title + 1)[1] if row and row[0])
    tiles = used.get("bram_tiles", used.get("ramb36", 0) + used.get("ramb18", 0) / 2)
    return Utilization(design=_header(text, "Design"), device=_header(text, "Device"),
                       state=_header(text, "Design State"), tool_version=_header(text, "Tool Version"),
                       lut=int(used["lut"]), ff=int(used.get("ff", 0)), bram_tiles=tiles,
                       dsp=int(used.get("dsp", 0)), uram=int(used.get("uram", 0)), black_boxes=black_boxes)


HIERARCHY_COLUMNS = {"Total LUTs": "lut", "FFs": "ff", "RAMB36": "ramb36", "RAMB18": "ramb18",
                     "URAM": "uram", "DSP48 Blocks": "dsp", "DSP Blocks": "dsp"}


def parse_hierarchical_utilization(text: str, source: str = "") -> list[InstanceUtilization]:
    lines = text.splitlines()
    title = section(lines, r"1\. Utilization by Hierarchy")
    if title is None:
        raise FlowError(f"{source or 'file'} is not a hierarchical report_utilization (-hierarchical) report")
    names = table_after(lines, title + 1)[0][-1]
    columns = {HIERARCHY_COLUMNS[name]: index for index, name in enumerate(names) if name in HIERARCHY_COLUMNS}
    rows = []  # read raw, not via table_after: an instance's depth is its indentation
    for line in lines[title + 2:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        raw = line[1:].split("|")
        instance_cell = raw[0]
        if instance_cell.strip() == "Instance":
            continue
        cells = [cell.strip() for cell in raw]
        depth = (len(instance_cell) - len(instance_cell.lstrip(" ")) - 1) // 2
        rows.append(InstanceUtilization(
            depth=depth, instance=cells[0], module=cells[1],
            **{key: int(_number(cells[index])) for key, index in columns.items()}))
    if not rows:
        raise FlowError(f"{source or 'report'}: the hierarchy table is empty")
    return rows


def read_utilization(path: Path) -> Utilization:
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"no utilization report at {path}")
    return parse_utilization(path.read_text(errors="replace"), str(path))


@dataclass(frozen=True)
class TimingSummary:
    """The `Design Timing Summary` of report_timing_summary: worst setup and hold slack over all clocks."""

    wns_ns: float
    tns_ns: float
    whs_ns: float | None  # older reports or -setup-only runs leave out the hold columns
    ths_ns: float | None

    @property
    def met(self) -> bool:
        return self.wns_ns >= 0 and (self.whs_ns is None or self.whs_ns >= 0)


def parse_timing_summary(text: str, source: str = "") -> TimingSummary:
    """Header columns are separated by two or more spaces and the numbers row follows the dashes under them."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "WNS(ns)" in line and index + 2 < len(lines) and lines[index + 1].strip().startswith("---"):
            names = re.split(r"\s{2,}", line.strip())
            values = lines[index + 2].split()
            if len(values) >= len(names):
                row = dict(zip(names, values))
                try:
                    hold = {key: float(row[name]) if name in row else None
                            for key, name in (("whs_ns", "WHS(ns)"), ("ths_ns", "THS(ns)"))}
                    return TimingSummary(wns_ns=float(row["WNS(ns)"]), tns_ns=float(row["TNS(ns)"]), **hold)
                except (KeyError, ValueError):
                    break
    raise FlowError(f"{source or 'report'} has no Design Timing Summary table; pass a report_timing_summary file")
