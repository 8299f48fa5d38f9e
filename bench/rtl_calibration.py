"""Benchmark: the estimator's unrolled and sparse models against yosys on flow's own RTL forms.

    python bench/rtl_calibration.py [--shared ../shared] [--seeded 20] [--work runs/rtl_calibration]

Points: every weight layer of the shipped models (the digits LeNet and the compressed LeNet-5,
built with `flow compile --rtl`) and `--seeded` seeded layers (flow/rtl/seeded_layers.py: 16-200
inputs, 4-32 outputs, 50-99.7% pruned, 1-7 level-code bits, 1-8 input bits, 1-4 PEs). Each layer's
two RTL forms are checked bit for bit in verilator and counted by yosys synth_xilinx -family xc7.

Per kernel and resource (LUT, FF) the median and 90th-percentile error of the estimator's
structural terms with the gate-level coefficients (flow/cost/kernels.py: GATE_LEVEL) and with the
HLS-level ones, the refit that GATE_LEVEL should hold, and the refit on the seeded layers alone
scored on the shipped models' layers. yosys counts cells before placement and routing, of flow's
reference Verilog: these figures say how well the terms track that, not what Vitis HLS builds.

Measurements are kept per layer in the work dir (an existing record is reused, so a run that
stops resumes), builds under it too. Writes bench/results/rtl_calibration.json with every point.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import git_commit, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flow.cost.gate_level import (KERNELS, QUANTITIES, errors, fit, medians_by_kernel,  # noqa: E402
                                  percentile90_by_kernel, point_from_records)
from flow.cost.kernels import GATE_LEVEL  # noqa: E402
from flow.paths import atomic_write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEED = 0
SHIPPED = (("lenet-digits", []), ("lenet5-admm-joint", ["--model", "models/lenet5-admm-joint.pt",
                                                        "--data-dir", "{mnist}", "--n-samples", "20"]))


def shipped_records(work: Path, shared: Path) -> list[dict]:
    """The rtl step's records of the shipped models' layers: one `flow compile --rtl` each, kept in work."""
    records = []
    for name, arguments in SHIPPED:
        build = work / "builds" / name
        summary = build / "rtl" / "summary.json"
        if not summary.is_file():
            command = [str(Path(sys.executable).parent / "flow"), "compile", "--rtl", "--out", str(build),
                       "--no-progress", *(a.format(mnist=shared / "data" / "mnist") for a in arguments)]
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True, capture_output=True, cwd=REPO)
        records += [{**row, "origin": name} for row in json.loads(summary.read_text())["layers"]]
    return records


def seeded_records(work: Path, count: int) -> list[dict]:
    """Both forms of each seeded layer checked and counted; each layer's records kept in work/seeded/."""
    from flow.rtl.checks import check_constant_layer, check_sparse_layer, layer_fields
    from flow.rtl.seeded_layers import seeded_layer, seeded_specs
    from flow.sparse.encoding import choose, encode
    from flow.sparse.memory import entries_storage

    records = []
    for spec in seeded_specs(count, SEED):
        kept = work / "seeded" / f"{spec.name}.json"
        if not kept.is_file():
            started = time.perf_counter()
            layer = seeded_layer(spec)
            folder = work / "seeded" / spec.name
            pes = min(spec.pes, spec.n_out)
            index_bits = choose(layer.weights).index_bits  # the encoder's smallest memory at one PE
            encoding = encode(layer.weights, pes, index_bits)
            storage = entries_storage(pes, encoding.entries_per_pe, index_bits + encoding.code_bits)
            common = {**layer_fields(layer), "origin": "seeded", "spec": spec.to_json()}
            pair = [{**common, **check_constant_layer(layer, folder / "dense_constant", "xc7")},
                    {**common, **check_sparse_layer(layer, pes, index_bits, storage, folder / "sparse", "xc7")}]
            atomic_write_json(kept, pair)
            print(f"{spec.name}: {time.perf_counter() - started:.0f} s", flush=True)
        records += json.loads(kept.read_text())
    return records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--seeded", type=int, default=20)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "rtl_calibration")
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    records = shipped_records(options.work, options.shared) + seeded_records(options.work, options.seeded)
    wrong = [f"{r['name']} ({r['kernel']})" for r in records if r.get("verilator_bit_exact") is not True]
    if wrong:
        raise SystemExit(f"error: not bit-exact or not built: {', '.join(wrong)}")
    by_layer = {}
    for record in records:
        by_layer.setdefault((record["origin"], record["name"]), {})[record["kernel"]] = record
    points = [point_from_records(pair["dense_constant"], pair["sparse"], origin) for (origin, _), pair in
              by_layer.items()]
    shipped_points = [p for p in points if p.origin != "seeded"]
    gate_rows, hls_rows = errors(points, "gate"), errors(points, "hls")
    refit = fit(points)
    seeded_fit = fit([p for p in points if p.origin == "seeded"])
    metrics = {
        "level": "yosys 0.23 synth_xilinx -family xc7 cells of flow's RTL forms, before placement and routing",
        "points": len(points), "shipped_points": len(shipped_points),
        "median_error": medians_by_kernel(gate_rows), "p90_error": percentile90_by_kernel(gate_rows),
        "hls_level_median_error": medians_by_kernel(hls_rows),
        "seeded_fit_on_shipped_median_error": medians_by_kernel(errors(shipped_points, "gate", seeded_fit)),
        "shipped_coefficients": GATE_LEVEL, "refit_coefficients": refit, "refit_matches_shipped": refit == GATE_LEVEL,
        "points_measured": [point.to_json() for point in points], "errors": gate_rows,
    }
    for row in gate_rows:
        print(f"{row['id'][:34]:34s} {row['kernel']:14s}",
              " ".join(f"{q} {row[q]['estimate']}/{row[q]['reported']} ({100 * row[q]['error']:.0f}%)"
                       for q in QUANTITIES))
    cell = lambda m: "; ".join(f"{k} LUT {100 * m[k]['lut']:.0f}% FF {100 * m[k]['ff']:.0f}%" for k in KERNELS)  # noqa
    value = (f"{len(points)} layers ({len(shipped_points)} of shipped models), yosys xc7 cells: median "
             f"{cell(metrics['median_error'])}; 90th percentile {cell(metrics['p90_error'])}; with the HLS-level "
             f"coefficients {cell(metrics['hls_level_median_error'])}")
    print(value)
    print(write_result("rtl_calibration", metrics, [{"key": "rtl_estimator_error",
                                                      "label": "estimator error against yosys", "value": value}],
                       seed=SEED, started=started, commit=commit))


if __name__ == "__main__":
    main()
