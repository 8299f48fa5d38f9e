"""C-synthesis estimates, top and per layer, from Vivado HLS (2019.2, 2020.1) and Vitis HLS (2024.1, 2025.1).

Three sources, one result (`SynthesisReport`):
- `<top>_csynth.rpt`: the top's numbers and its Instance tables, which give each direct child (one
  hls4ml layer, `config<N>` in its module name is the layer's index) its latency, interval and
  resources. Children of children are already counted in their parent, so only direct children are kept.
- `<top>_csynth.xml`: the same top numbers; Vivado HLS calls DSPs `DSP48E`, Vitis HLS `DSP`.
- `solution1_data.json`: ModuleInfo's hierarchy and per-module metrics, for projects that kept no report.

hls4ml's `parse_vivado_report` reads only the top xml of a whole project directory; this reads
any report folder and every layer in it.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..errors import FlowError
from .tables import find_line, table_after

LAYER_INDEX = re.compile(r"config(\d+)(?:_|$)")


@dataclass(frozen=True)
class Resources:
    bram18: int = 0
    dsp: int = 0
    ff: int = 0
    lut: int = 0
    uram: int = 0


@dataclass(frozen=True)
class ModuleEstimate:
    """One direct child of the top: usually one hls4ml layer."""

    instance: str
    module: str
    latency: tuple[int | None, int | None]  # min, max cycles; None where the tool printed '?'
    interval: tuple[int | None, int | None]
    pipeline: str
    resources: Resources | None  # None when the report lists the module's timing only

    @property
    def layer_index(self) -> int | None:
        """hls4ml's layer index (`config<N>` structs); None for modules hls4ml does not number."""
        found = LAYER_INDEX.findall(self.module)
        return int(found[-1]) if found else None


@dataclass(frozen=True)
class SynthesisReport:
    tool: str  # "Vivado HLS" or "Vitis HLS"
    version: str
    part: str
    top: str
    target_clock_ns: float | None
    estimated_clock_ns: float | None
    latency: tuple[int | None, int | None]
    interval: tuple[int | None, int | None]
    pipeline: str
    resources: Resources
    available: Resources | None
    modules: tuple[ModuleEstimate, ...] = ()
    source: str = ""

    def layers(self) -> dict[int, ModuleEstimate]:
        return {m.layer_index: m for m in self.modules if m.layer_index is not None}


def _int(cell: str | None) -> int | None:
    cell = (cell or "").strip()
    return int(cell) if cell.isdigit() else None


def _count(cell: str | None) -> int:
    """A resource cell: '-' and '' mean none."""
    return _int(cell) or 0


def _float(cell: str | None) -> float | None:
    match = re.search(r"[-+]?\d+(?:\.\d+)?", cell or "")
    return float(match.group()) if match else None


RESOURCE_COLUMNS = {"BRAM_18K": "bram18", "DSP48E": "dsp", "DSP": "dsp", "FF": "ff", "LUT": "lut", "URAM": "uram"}


def _resources(names: list[str], cells: list[str]) -> Resources:
    values = {RESOURCE_COLUMNS[name]: _count(cell) for name, cell in zip(names, cells) if name in RESOURCE_COLUMNS}
    return Resources(**values)


# ---- .rpt ------------------------------------------------------------------------------------

def parse_csynth_rpt(text: str, source: str = "") -> SynthesisReport:
    lines = text.splitlines()
    title = re.search(r"== (Vivado HLS|Vitis HLS) Report for '([^']+)'", text)
    if not title:
        raise FlowError(f"{source or 'report'} is not a Vivado/Vitis HLS csynth report (no 'Report for' title)")
    version = re.search(r"\* Version:\s+(\S+)", text)
    part = re.search(r"\* Target device:\s+(\S+)", text)
    performance = find_line(lines, "== Performance Estimates") or 0
    utilization = find_line(lines, "== Utilization Estimates", performance) or len(lines)

    timing = find_line(lines, "+ Timing:", performance, utilization)
    clocks = table_after(lines, find_line(lines, "* Summary:", timing, utilization))[1] if timing else []
    target_ns, estimated_ns = (_float(clocks[0][1]), _float(clocks[0][2])) if clocks else (None, None)
    latency_line = find_line(lines, "+ Latency:", performance, utilization)
    if latency_line is None:
        raise FlowError(f"{source or 'report'} has no latency summary; is the csynth report complete?")
    summary = table_after(lines, find_line(lines, "* Summary:", latency_line, utilization))[1][0]
    loops = find_line(lines, "* Loop:", latency_line, utilization) or utilization
    modules_timing = {row[0]: row for row in table_after(lines, find_line(lines, "* Instance:", latency_line, loops))[1]}

    header, body = table_after(lines, find_line(lines, "* Summary:", utilization))
    names = header[-1][1:]
    rows = {row[0]: row[1:] for row in body}
    header_i, body_i = table_after(lines, find_line(lines, "* Instance:", utilization))
    instance_resources = {row[0]: _resources(header_i[-1][2:], row[2:])
                          for row in body_i if row[0] and row[0] != "Total"}

    modules = tuple(
        ModuleEstimate(instance=row[0], module=row[1], latency=(_int(row[2]), _int(row[3])),
                       interval=(_int(row[6]), _int(row[7])), pipeline=row[8] if len(row) > 8 else "",
                       resources=instance_resources.get(row[0]))
        for row in modules_timing.values())
    return SynthesisReport(
        tool=title.group(1), version=version.group(1) if version else "", part=part.group(1) if part else "",
        top=title.group(2), target_clock_ns=target_ns, estimated_clock_ns=estimated_ns,
        latency=(_int(summary[0]), _int(summary[1])), interval=(_int(summary[4]), _int(summary[5])),
        pipeline=summary[6] if len(summary) > 6 else "",
        resources=_resources(names, rows.get("Total", [])),
        available=_resources(names, rows["Available"]) if "Available" in rows else None,
        modules=modules, source=source)


# ---- .xml ------------------------------------------------------------------------------------

def parse_csynth_xml(text: str, source: str = "") -> SynthesisReport:
    """The top of a `<top>_csynth.xml`; its modules come from the .rpt or solution1_data.json."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FlowError(f"{source or 'report'} is not valid XML ({exc}); re-run C synthesis") from None

    def get(path: str) -> str | None:
        node = root.find(path)
        return None if node is None else (node.text or "").strip()

    def resources(path: str) -> Resources | None:
        node = root.find(path)
        if node is None:
            return None
        return Resources(**{RESOURCE_COLUMNS[c.tag]: _count(c.text) for c in node if c.tag in RESOURCE_COLUMNS})

    if root.find("PerformanceEstimates") is None:
        raise FlowError(f"{source or 'report'} is not a csynth report (no PerformanceEstimates)")
    latency = "PerformanceEstimates/SummaryOfOverallLatency/"
    tool = "Vitis HLS" if root.find("AreaEstimates/Resources/DSP") is not None else "Vivado HLS"
    return SynthesisReport(
        tool=tool, version=get("ReportVersion/Version") or "", part=get("UserAssignments/Part") or "",
        top=get("UserAssignments/TopModelName") or "",
        target_clock_ns=_float(get("UserAssignments/TargetClockPeriod")),
        estimated_clock_ns=_float(get("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        latency=(_int(get(latency + "Best-caseLatency")), _int(get(latency + "Worst-caseLatency"))),
        interval=(_int(get(latency + "Interval-min")), _int(get(latency + "Interval-max"))),
        pipeline=get("PerformanceEstimates/PipelineType") or "",
        resources=resources("AreaEstimates/Resources") or Resources(),
        available=resources("AreaEstimates/AvailableResources"), source=source)


# ---- solution1_data.json ---------------------------------------------------------------------

def _pipeline_ii(cell: str) -> tuple[int | None, int | None]:
    """'3923' or a range '54 ~ 55'."""
    numbers = [int(n) for n in re.findall(r"\d+", cell or "")]
    return (numbers[0], numbers[-1]) if numbers else (None, None)


def parse_solution_data(text: str, top: str | None = None, source: str = "") -> SynthesisReport:
    try:
        data = json.loads(text)
        info, metrics = data["ModuleInfo"]["Hierarchy"], data["ModuleInfo"]["Metrics"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise FlowError(f"{source or 'file'} is not a Vivado HLS solution1_data.json with ModuleInfo") from None

    def find(node: dict, name: str) -> dict | None:
        if node.get("ModuleName") == name:
            return node
        for child in node.get("Instances") or []:
            hit = find(child, name)
            if hit:
                return hit
        return None

    def busiest(node: dict) -> dict:
        """Without a named top, the module with the most direct children: the hls4ml kernel, not its wrapper."""
        best = node
        for child in node.get("Instances") or []:
            candidate = busiest(child)
            if len(candidate.get("Instances") or []) > len(best.get("Instances") or []):
                best = candidate
        return best

    node = find(info, top) if top else busiest(info)
    if node is None:
        raise FlowError(f"{source}: no module '{top}' in its hierarchy")

    def estimate(name: str):
        latency, area = metrics[name].get("Latency", {}), metrics[name].get("Area")
        return ((_int(latency.get("LatencyBest")), _int(latency.get("LatencyWorst"))),
                _pipeline_ii(latency.get("PipelineII", "")), latency.get("PipelineType", ""),
                Resources(**{RESOURCE_COLUMNS[k]: _count(v) for k, v in area.items() if k in RESOURCE_COLUMNS})
                if area else None)

    name = node["ModuleName"]
    latency, interval, pipeline, resources = estimate(name)
    modules = tuple(ModuleEstimate(child.get("InstanceName") or child["ModuleName"], child["ModuleName"],
                                   *estimate(child["ModuleName"]))
                    for child in node.get("Instances") or [] if child["ModuleName"] in metrics)
    target = data.get("Target", {})
    timing = metrics[name].get("Timing", {})
    return SynthesisReport(
        tool="Vivado HLS", version="", part="".join(target.get(k, "") for k in ("Device", "Package", "Speed")),
        top=name, target_clock_ns=_float(timing.get("Target")), estimated_clock_ns=_float(timing.get("Estimate")),
        latency=latency, interval=interval, pipeline=pipeline, resources=resources or Resources(), available=None,
        modules=modules, source=source)


# ---- a report folder -------------------------------------------------------------------------

def read_hls_reports(path: Path, top: str | None = None) -> SynthesisReport:
    """The kernel's report under `path` (a csynth report folder, an HLS project, or one report file).

    Without `top`, the kernel is the report with the most instances (hls4ml's `myproject`, not
    the `myproject_axi` wrapper). The top's numbers come from its xml where there is one.
    """
    path = Path(path)
    if not path.exists():
        raise FlowError(f"no HLS reports at {path}; pass the project's syn/report folder")
    if path.is_file():
        files = [path]
    else:
        files = sorted(path.rglob("*_csynth.rpt")) or sorted(path.rglob("*_csynth.xml")) \
            or sorted(path.rglob("solution1_data.json"))
    if not files:
        raise FlowError(f"no *_csynth.rpt, *_csynth.xml or solution1_data.json under {path}; "
                        "run C synthesis first (flow compile --synth)")
    if files[0].name == "solution1_data.json":
        return parse_solution_data(files[0].read_text(), top, str(files[0]))
    if files[0].suffix == ".xml":
        chosen = next((f for f in files if f.name == f"{top}_csynth.xml"), files[0]) if top else files[0]
        return parse_csynth_xml(chosen.read_text(), str(chosen))
    reports = [parse_csynth_rpt(f.read_text(errors="replace"), str(f)) for f in files]
    if top:
        matching = [r for r in reports if r.top == top]
        if not matching:
            raise FlowError(f"no csynth report for top '{top}' under {path}; found {sorted({r.top for r in reports})}")
        report = matching[0]
    else:
        report = max(reports, key=lambda r: (len(r.modules), -len(r.top)))
    xml = Path(report.source).with_suffix(".xml")
    if xml.is_file():
        top_numbers = parse_csynth_xml(xml.read_text(), str(xml))
        report = SynthesisReport(**{**top_numbers.__dict__, "tool": report.tool, "modules": report.modules,
                                    "source": report.source})
    return report
