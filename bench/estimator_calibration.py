"""Benchmark: the pre-synthesis estimator against HLS C-synthesis reports of real hls4ml layers.

    python bench/estimator_calibration.py [--shared ../shared]

Points: bench/calibration_layers.yaml (one hls4ml Dense/Conv layer each, with its configuration and
the report or notebook output that holds its numbers; sources inside). Compares worst-case latency,
DSP and BRAM18 (HLS-level estimates, not placed designs) with flow/cost/kernels.py at its shipped
constants, refits the constants on all points (what CALIBRATED in flow/cost/kernels.py should hold),
and scores a leave-one-report-set-out refit, the error to expect on a design the fit never saw.
Writes bench/results/estimator_calibration.json.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import git_commit, write_result

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flow.cost.calibration import QUANTITIES, errors, fit, leave_one_group_out, load_points, medians  # noqa: E402
from flow.cost.kernels import CALIBRATED  # noqa: E402

TABLE = Path(__file__).resolve().parent / "calibration_layers.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    points = load_points(TABLE, options.shared / "reference")
    rows = errors(points)
    for row in rows:
        print(f"{row['id'][:34]:34s}", "  ".join(
            f"{q} {row[q]['estimate']}/{row[q]['reported']} ({100 * row[q]['error']:.0f}%)" for q in QUANTITIES))
    shipped = medians(rows)
    refit = fit(points)
    held_out = leave_one_group_out(points)
    by_tool = {tool: medians([r for r in rows if r["tool"] == tool]) for tool in sorted({r["tool"] for r in rows})}
    p90 = {q: round(statistics.quantiles([r[q]["error"] for r in rows], n=10)[-1], 3) for q in QUANTITIES}
    metrics = {"points": len(points), "groups": len({p.group for p in points}), "median_error": shipped,
               "p90_error": p90, "median_error_by_tool": by_tool, "leave_one_set_out_median_error": held_out,
               "shipped_constants": CALIBRATED, "refit_constants": refit,
               "refit_matches_shipped": refit == CALIBRATED, "level": "HLS C synthesis (csynth) per layer",
               "layers": rows}
    cell = lambda m: " / ".join(f"{100 * m[q]:.0f}%" for q in QUANTITIES)  # noqa: E731
    value = (f"{len(points)} layers from {metrics['groups']} report sets, HLS csynth level: median {cell(shipped)}; "
             f"leave-one-set-out {cell(held_out)}; 90th percentile {cell(p90)}")
    print(value)
    print(write_result("estimator_calibration", metrics,
                       [{"key": "estimator_error", "label": "estimator error", "value": value}],
                       seed=0, started=started, commit=commit))


if __name__ == "__main__":
    main()
