"""Benchmark: the pre-synthesis estimator against HLS C-synthesis and implementation reports of real hls4ml designs.

    python bench/estimator_calibration.py [--shared ../shared]

HLS C-synthesis level, per layer: bench/calibration_layers.yaml (one hls4ml Dense/Conv layer each,
with its configuration and the report or notebook output that holds its numbers; sources inside).
Compares worst-case latency, DSP, BRAM18, LUT and FF with flow/cost/kernels.py at its shipped
constants, refits the constants on all points (what CALIBRATED in flow/cost/kernels.py should
hold), and scores a leave-one-report-set-out refit, the error to expect on a design the fit never saw.

Implementation level, whole design: the designs with both an HLS report of their kernel and a routed
utilization of it (flow/cost/calibration.py: IMPLEMENTATION_PAIRS). Fits routed / HLS per resource
(what IMPLEMENTATION_RATIOS in flow/cost/design.py should hold) and scores it leaving each origin out.
Writes bench/results/estimator_calibration.json.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import git_commit, write_result

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flow.cost.calibration import (QUANTITIES, RESOURCES, errors, fit, implementation_errors,  # noqa: E402
                                   implementation_leave_one_group_out, implementation_pairs, implementation_ratios,
                                   leave_one_group_out, load_points, medians, percentile90)
from flow.cost.design import IMPLEMENTATION_RATIOS  # noqa: E402
from flow.cost.kernels import CALIBRATED, UNCALIBRATED_FF, UNCALIBRATED_LUT  # noqa: E402

TABLE = Path(__file__).resolve().parent / "calibration_layers.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    points = load_points(TABLE, options.shared / "reference")
    rows = errors(points)
    for row in rows:
        print(f"{row['id'][:30]:30s}", " ".join(
            f"{q} {row[q]['estimate']}/{row[q]['reported']} ({100 * row[q]['error']:.0f}%)" for q in QUANTITIES))
    shipped, p90 = medians(rows), percentile90(rows)
    uncalibrated = medians(errors(points, {**CALIBRATED, "lut_coefficients": UNCALIBRATED_LUT,
                                           "ff_coefficients": UNCALIBRATED_FF}), ("lut", "ff"))
    refit = fit(points)
    held_out = leave_one_group_out(points)
    tools = sorted({r["tool"] for r in rows})
    by_tool = {tool: medians([r for r in rows if r["tool"] == tool]) for tool in tools}
    p90_by_tool = {tool: percentile90([r for r in rows if r["tool"] == tool]) for tool in tools}
    pairs = implementation_pairs(options.shared / "reference")
    ratios = implementation_ratios(pairs)
    placed = implementation_errors(pairs, IMPLEMENTATION_RATIOS)
    placed_held_out = implementation_leave_one_group_out(pairs)
    metrics = {
        "hls_csynth": {"level": "HLS C synthesis (csynth) per layer", "points": len(points),
                       "groups": len({p.group for p in points}), "median_error": shipped, "p90_error": p90,
                       "median_error_by_tool": by_tool, "p90_error_by_tool": p90_by_tool,
                       "leave_one_set_out_median_error": held_out,
                       "uncalibrated_lut_ff_median_error": uncalibrated,
                       "shipped_constants": CALIBRATED, "refit_constants": refit,
                       "refit_matches_shipped": refit == CALIBRATED, "layers": rows},
        "implementation": {"level": "placed and routed kernel (routed / HLS ratio per resource), whole design",
                           "pairs": len(pairs), "groups": len({p["group"] for p in pairs}),
                           "median_error": medians(placed, RESOURCES), "p90_error": percentile90(placed, RESOURCES),
                           "leave_one_origin_out_median_error": placed_held_out,
                           "shipped_ratios": IMPLEMENTATION_RATIOS, "refit_ratios": ratios,
                           "refit_matches_shipped": ratios == IMPLEMENTATION_RATIOS, "designs": placed},
    }
    cell = lambda m, names: " / ".join(f"{100 * m[q]:.0f}%" for q in names)  # noqa: E731
    value = (f"{len(points)} layers from {metrics['hls_csynth']['groups']} report sets, HLS csynth level "
             f"(latency / DSP / BRAM18 / LUT / FF): median {cell(shipped, QUANTITIES)}; leave-one-set-out "
             f"{cell(held_out, QUANTITIES)}; 90th percentile {cell(p90, QUANTITIES)}; uncalibrated LUT / FF "
             f"{cell(uncalibrated, ('lut', 'ff'))}")
    placed_value = (f"{len(pairs)} designs, implementation level (LUT / FF / DSP / BRAM18): median "
                    f"{cell(metrics['implementation']['median_error'], RESOURCES)}; leave-one-origin-out "
                    f"{cell(placed_held_out, RESOURCES)}; routed/HLS ratios {ratios}")
    print(value)
    print(placed_value)
    print(write_result("estimator_calibration", metrics,
                       [{"key": "estimator_error", "label": "estimator error", "value": value},
                        {"key": "estimator_implementation_error", "label": "estimator error, implementation level",
                         "value": placed_value}],
                       seed=0, started=started, commit=commit))


if __name__ == "__main__":
    main()
