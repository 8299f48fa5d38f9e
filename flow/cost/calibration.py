"""The estimator against real HLS reports: per-layer points (bench/calibration_layers.yaml), errors, a constant fit.

Each point is one hls4ml Dense / Conv layer with its configuration and either a report folder
under ../shared/reference (read with flow.reports.hls) or the numbers a notebook printed
(`reported`). Figures compared are HLS C-synthesis estimates: worst-case latency, DSP, BRAM18,
LUT and FF. Relative error is |estimate - reported| / max(reported, 1), so a layer with no DSP
that the estimator also gives none scores 0.

Two levels, never mixed in one fit:
- HLS C synthesis, per layer: the four latency/DSP constants on a grid, the LUT and FF
  coefficients of the structural terms (flow/cost/kernels.py: dense_terms) by minimizing the
  median relative error;
- implementation (placed and routed), whole design: for the designs whose HLS top and whose
  routed kernel both have reports (IMPLEMENTATION_PAIRS), routed / HLS per resource.
"""
from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..errors import FlowError
from ..reports.hls import read_hls_reports
from ..reports.vivado import parse_hierarchical_utilization, read_utilization
from .kernels import CALIBRATED, DenseKernel, LayerShape, dense_terms, estimate_dense

QUANTITIES = ("latency", "dsp", "bram18", "lut", "ff")
GRID_QUANTITIES = ("latency", "dsp", "bram18")  # what the grid constants move; LUT and FF have their own fit
RESOURCES = ("lut", "ff", "dsp", "bram18")
FIT_SEED = 0  # the coefficient fit's random restarts
FIT_RESTARTS = 60
# accum_t where a point's config does not set it: hls4ml gives a layer's accum_t the model's default
# precision, and every report set here keeps config_from_keras_model's ap_fixed<16,6>
DEFAULT_ACCUM_BITS = 16
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
    reported: dict  # latency (worst case), dsp, bram18, lut, ff


def _shape(entry: dict) -> LayerShape:
    if entry["kind"] == "dense":
        return LayerShape(entry["id"], entry["n_in"], entry["n_out"], nonzeros=entry.get("nonzero_weights"),
                          weight_bits=entry["weight_bits"], input_bits=entry["input_bits"] or entry["weight_bits"],
                          accum_bits=entry["accum_bits"] or DEFAULT_ACCUM_BITS)
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
                      weight_bits=entry["weight_bits"], input_bits=entry["input_bits"] or entry["weight_bits"],
                      accum_bits=entry["accum_bits"] or DEFAULT_ACCUM_BITS)


def load_points(table: Path, reference: Path) -> list[Point]:
    """The table's points with their reported numbers; report folders are parsed once each."""
    entries = yaml.safe_load(Path(table).read_text())
    reports, points = {}, []
    for entry in entries:
        if entry.get("report") and Path(entry["report"]).name in DUPLICATE_SETS:
            continue
        if "reported" in entry:
            r = entry["reported"]
            reported = {"latency": r["latency"][1], "dsp": r["dsp"], "bram18": r["bram18"], "lut": r["lut"], "ff": r["ff"]}
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
            resources = module.resources
            reported = {"latency": module.latency[1], "dsp": resources.dsp, "bram18": resources.bram18,
                        "lut": resources.lut, "ff": resources.ff}
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


def medians(rows: list[dict], quantities: tuple[str, ...] = QUANTITIES) -> dict:
    return {q: round(statistics.median(row[q]["error"] for row in rows), 4) for q in quantities}


def percentile90(rows: list[dict], quantities: tuple[str, ...] = QUANTITIES) -> dict:
    return {q: round(float(np.quantile([row[q]["error"] for row in rows], 0.9)), 4) for q in quantities}


def fit_grid(points: list[Point], constants: dict = CALIBRATED) -> dict:
    """The grid constants with the smallest mean of the latency, DSP and BRAM18 median errors."""
    names = list(FIT_GRID)
    best, best_score = None, float("inf")
    for values in itertools.product(*(FIT_GRID[name] for name in names)):
        candidate = {**constants, **dict(zip(names, values))}
        score = sum(medians(errors(points, candidate), GRID_QUANTITIES).values())
        if score < best_score:
            best, best_score = candidate, score
    return best


def fit_terms(term_rows: list[dict], reported: list[float]) -> dict:
    """Non-negative coefficients of structural terms (one dict of term -> value per point, all with the same
    terms) with the smallest median relative error against `reported`.

    The median is flat almost everywhere, so the objective adds a twentieth of the mean error (each
    point's capped at 2) to pull the tail in; Nelder-Mead from seeded random starts, in log space."""
    from scipy.optimize import minimize

    names = list(term_rows[0])
    matrix = np.array([[row[name] for name in names] for row in term_rows], dtype=float)
    reported = np.array(reported, dtype=float)

    def relative_errors(log_coefficients):
        return np.abs(matrix @ np.exp(log_coefficients) - reported) / np.maximum(reported, 1)

    def objective(log_coefficients):
        found = relative_errors(log_coefficients)
        return float(np.median(found) + 0.05 * np.mean(np.minimum(found, 2)))

    generator = np.random.default_rng(FIT_SEED)
    starts = [np.zeros(len(names))] + [generator.normal(0, 2, len(names)) for _ in range(FIT_RESTARTS - 1)]
    best = min((minimize(objective, start, method="Nelder-Mead", options={"maxiter": 6000}) for start in starts),
               key=lambda result: result.fun)
    return {name: round(float(value), 4) for name, value in zip(names, np.exp(best.x))}


def fit_coefficients(points: list[Point], quantity: str, constants: dict) -> dict:
    """The LUT (or FF) coefficients of dense_terms fitted to the points' HLS reports."""
    rows = [dense_terms(point.shape, point.kernel, constants)[0 if quantity == "lut" else 1] for point in points]
    names = list(constants[f"{quantity}_coefficients"])
    return fit_terms([{name: row[name] for name in names} for row in rows],
                     [point.reported[quantity] for point in points])


def fit(points: list[Point]) -> dict:
    """Every fitted constant: the grid ones for latency, DSP and BRAM18, then LUT and FF coefficients."""
    constants = fit_grid(points)
    for quantity in ("lut", "ff"):
        constants = {**constants, f"{quantity}_coefficients": fit_coefficients(points, quantity, constants)}
    return constants


def leave_one_group_out(points: list[Point], fitter=fit, quantities: tuple[str, ...] = QUANTITIES) -> dict:
    """Fit on every group but one with `fitter`, score the held-out group's layers; medians over all held-out layers."""
    held_out = []
    for group in sorted({p.group for p in points}):
        constants = fitter([p for p in points if p.group != group])
        held_out += errors([p for p in points if p.group == group], constants)
    return medians(held_out, quantities)


# Designs with an HLS C-synthesis report of their kernel and a placed-and-routed utilization of the
# same kernel (MANIFEST section 1; calibration.csv levels hls_csynth_top and post_route_kernel_only /
# post_route_ooc): (group, HLS report folder, HLS top, routed report, routed instance or None for a flat
# out-of-context report). Full designs (PS7, DMA, interconnect around the IP) are a different level.
IMPLEMENTATION_PAIRS = (
    ("nicologhielmetti/hls4ml-pynq", "hls_reports/jet_mlp_16-64-32-32-5_z7020_pynq_ap_fixed_vhls2019/syn_report",
     "myproject_axi", "hls_reports/jet_mlp_16-64-32-32-5_z7020_pynq_ap_fixed_vhls2019/vivado/util_hierarchical_routed.rpt",
     "myproject_axi_0"),
    ("nicologhielmetti/hls4ml-pynq", "hls_reports/jet_mlp_16-64-32-32-5_z7020_pynq_float_vhls2019/syn_report",
     "myproject_axi", "hls_reports/jet_mlp_16-64-32-32-5_z7020_pynq_float_vhls2019/vivado/util_hierarchical_routed.rpt",
     "myproject_axi_0"),
    ("nicologhielmetti/hls4ml-pynq", "hls_reports/jet_mlp_16-64-32-32-5_z7020_pynq_stream_vhls2019/syn_report",
     "myproject_axi", "hls_reports/jet_mlp_16-64-32-32-5_z7020_pynq_stream_vhls2019/vivado/util_hierarchical_routed.rpt",
     "myproject_axi_0"),
    ("seanlipps/ECE226_CoDesign", "hls_reports/conv1d_har_xcu250_vitis2024/syn_report", "myproject",
     "hls_reports/conv1d_har_xcu250_vitis2024/vivado/vivado_utilization.rpt", None),
)


def implementation_pairs(reference: Path) -> list[dict]:
    """Per pair: its group, the HLS and the routed figures per resource."""
    pairs = []
    for group, hls_folder, top, routed_report, instance in IMPLEMENTATION_PAIRS:
        hls = read_hls_reports(Path(reference) / hls_folder, top=top).resources
        path = Path(reference) / routed_report
        if instance is None:
            routed = read_utilization(path)
        else:
            routed = next(row for row in parse_hierarchical_utilization(path.read_text(errors="replace"), str(path))
                          if row.instance == instance)
        pairs.append({"group": group, "hls_report": hls_folder, "routed_report": routed_report,
                      "hls": {name: getattr(hls, name) for name in RESOURCES},
                      "implementation": {name: getattr(routed, name) for name in RESOURCES}})
    return pairs


def implementation_ratios(pairs: list[dict]) -> dict:
    """Per resource, the median routed / HLS ratio over the pairs that use the resource."""
    return {name: round(statistics.median(pair["implementation"][name] / pair["hls"][name]
                                          for pair in pairs if pair["hls"][name]), 4) for name in RESOURCES}


def implementation_errors(pairs: list[dict], ratios: dict) -> list[dict]:
    """Each pair's routed figure against its HLS figure times the ratio."""
    return [{"group": pair["group"], "hls_report": pair["hls_report"],
             **{name: {"estimate": round(pair["hls"][name] * ratios[name]), "reported": pair["implementation"][name],
                       "error": round(relative_error(pair["hls"][name] * ratios[name], pair["implementation"][name]), 4)}
                for name in RESOURCES}} for pair in pairs]


def implementation_leave_one_group_out(pairs: list[dict]) -> dict:
    """Ratios fitted without a group, scored on it; medians over all held-out pairs."""
    held_out = []
    for group in sorted({pair["group"] for pair in pairs}):
        ratios = implementation_ratios([pair for pair in pairs if pair["group"] != group])
        held_out += implementation_errors([pair for pair in pairs if pair["group"] == group], ratios)
    return medians(held_out, RESOURCES)
