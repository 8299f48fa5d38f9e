"""The estimator against real HLS reports: per-layer points (bench/calibration_layers.yaml), errors, a constant fit.

Each point is one hls4ml Dense / Conv layer with its configuration and either a report folder
under ../shared/reference (read with flow.reports.hls) or the numbers a notebook printed
(`reported`). Figures compared are HLS C-synthesis estimates: worst-case latency, DSP, BRAM18.
Relative error is |estimate - reported| / max(reported, 1), so a layer with no DSP that the
estimator also gives none scores 0.
"""
from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import FlowError
from ..reports.hls import read_hls_reports
from .kernels import CALIBRATED, DenseKernel, LayerShape, estimate_dense

QUANTITIES = ("latency", "dsp", "bram18")
# jet *_float_vhls2019 synthesizes the same kernels as *_ap_fixed_vhls2019 (only the AXI wrapper differs)
DUPLICATE_SETS = ("jet_mlp_16-64-32-32-5_z7020_pynq_float_vhls2019",)
FIT_GRID = {
    "constant_product_dsp_fraction": (0.5, 0.6, 0.7, 0.8, 0.9),
    "adder_tree_cycles_per_level": (0.0, 0.25, 0.5, 0.75, 1.0),
    "pipeline_fill_cycles": (0, 1, 2, 3),
    "stream_overhead_cycles": (0, 1, 2, 4),
}


@dataclass(frozen=True)
class Point:
    id: str
    group: str  # the report set (or the notebook) it comes from: the unit of leave-one-out
    tool: str
    shape: LayerShape
    kernel: DenseKernel
    reported: dict  # latency (worst case), dsp, bram18


def _shape(entry: dict) -> LayerShape:
    if entry["kind"] == "dense":
        return LayerShape(entry["id"], entry["n_in"], entry["n_out"], nonzeros=entry.get("nonzero_weights"),
                          weight_bits=entry["weight_bits"], input_bits=entry["input_bits"] or entry["weight_bits"])
    kernel_area = 1
    for size in entry["kernel"]:
        kernel_area *= size
    out_positions = in_positions = 1
    for size in entry["out_shape"]:
        out_positions *= size
    for size in entry["in_shape"]:
        in_positions *= size
    return LayerShape(entry["id"], kernel_area * entry["n_in"], entry["n_out"], positions=out_positions,
                      input_positions=in_positions, nonzeros=entry.get("nonzero_weights"),
                      weight_bits=entry["weight_bits"], input_bits=entry["input_bits"] or entry["weight_bits"])


def load_points(table: Path, reference: Path) -> list[Point]:
    """The table's points with their reported numbers; report folders are parsed once each."""
    entries = yaml.safe_load(Path(table).read_text())
    reports, points = {}, []
    for entry in entries:
        if entry.get("report") and Path(entry["report"]).name in DUPLICATE_SETS:
            continue
        if "reported" in entry:
            r = entry["reported"]
            reported = {"latency": r["latency"][1], "dsp": r["dsp"], "bram18": r["bram18"]}
            group = entry["csv_row"].split(" [")[0].rsplit(" ", 1)[0]  # the notebook's model
        else:
            folder = entry["report"]
            if folder not in reports:
                reports[folder] = read_hls_reports(reference / folder)
            report = reports[folder]
            if entry["layer_index"] is not None:
                module = report.layers()[entry["layer_index"]]
            else:
                module = next(m for m in report.modules if m.module == entry["module"])
            if module.module != entry["module"] or module.resources is None or module.latency[1] is None:
                raise FlowError(f"calibration point {entry['id']}: {folder} has no usable module {entry['module']}")
            reported = {"latency": module.latency[1], "dsp": module.resources.dsp, "bram18": module.resources.bram18}
            group = folder
        kernel = DenseKernel(reuse_factor=entry["reuse_factor"], strategy=entry["strategy"], io_type=entry["io_type"])
        points.append(Point(entry["id"], group, entry["tool"], _shape(entry), kernel, reported))
    return points


def relative_error(estimate: float, reported: float) -> float:
    return abs(estimate - reported) / max(reported, 1)


def errors(points: list[Point], constants: dict = CALIBRATED) -> list[dict]:
    rows = []
    for point in points:
        estimate = estimate_dense(point.shape, point.kernel, constants)
        row = {"id": point.id, "group": point.group, "tool": point.tool}
        for quantity in QUANTITIES:
            row[quantity] = {"estimate": getattr(estimate, quantity), "reported": point.reported[quantity],
                             "error": round(relative_error(getattr(estimate, quantity), point.reported[quantity]), 4)}
        rows.append(row)
    return rows


def medians(rows: list[dict]) -> dict:
    return {q: round(statistics.median(row[q]["error"] for row in rows), 4) for q in QUANTITIES}


def fit(points: list[Point]) -> dict:
    """The grid constants with the smallest mean of the three median errors."""
    names = list(FIT_GRID)
    best, best_score = None, float("inf")
    for values in itertools.product(*(FIT_GRID[name] for name in names)):
        constants = {**CALIBRATED, **dict(zip(names, values))}
        score = sum(medians(errors(points, constants)).values())
        if score < best_score:
            best, best_score = constants, score
    return best


def leave_one_group_out(points: list[Point]) -> dict:
    """Fit on every group but one, score the held-out group's layers; medians over all held-out layers."""
    held_out = []
    for group in sorted({p.group for p in points}):
        constants = fit([p for p in points if p.group != group])
        held_out += errors([p for p in points if p.group == group], constants)
    return medians(held_out)

