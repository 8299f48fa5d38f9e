"""Regenerate the README results table from bench/results/*.json.

    python bench/make_table.py          # rewrite README.md between the results markers
    python bench/make_table.py --check  # exit 1 if README.md is stale
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from common import RESULTS_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

# Every row the project has promised; a row no result file fills says so.
PLANNED_ROWS = [
    ("compile_default_wall_s", "`flow compile --board pynq-z2` (default LeNet, csim-only) wall time"),
    ("compile_default_csim", "default LeNet: csim vs QONNX vs Brevitas on 359 held-out digits"),
    ("compile_tfc_csim", "FINN TFC_2W2A QONNX: csim vs QONNX on 1,000 MNIST test images"),
    ("admm_prune_lenet5", "ADMM pruning, LeNet-5 / MNIST: accuracy drop at 85x / 167x / 250x (issue B)"),
    ("admm_joint_recipe", "ADMM joint prune + quantize, lenet5-admm-joint-progressive recipe from scratch: size and drop per seed (issue B)"),
    ("admm_joint_ablation_s0", "Progressive joint recipe with one of its changes undone, seed 0 (issue B)"),
    ("admm_joint_ablation_s1", "Progressive joint recipe with one of its changes undone, seed 1 (issue B)"),
    ("admm_joint_lenet5", "Earlier joint recipe (3/3/2/2 bits, no distillation) on the H100 sweep: weight data / with indices (issue B, C)"),
    ("magnitude_baseline_lenet5", "Iterative magnitude pruning baseline at the same ratios (issue B)"),
    ("admm_progressive_lenet5", "Progressive ADMM 85x -> 167x -> 250x: accuracy after each step (issue B)"),
    ("admm_quant_step_lenet5", "ADMM quantization, exact step q vs power-of-two q (issue B)"),
    ("admm_targets_85x", "85x ADMM pruning vs magnitude baseline, shipped recipes with distillation: drop per seed (issue B)"),
    ("admm_targets_joint", "Joint recipe of 2026-11-23 (3/3/2/2 bits, 167x, distillation) from scratch: size and drop per seed (issue B)"),
    ("admm_learn_step_lenet5_s0", "Quantized LeNet-5 (894 B) retrained with learned vs constant steps, seed 0 (issue B)"),
    ("admm_learn_step_lenet5_s1", "Quantized LeNet-5 (894 B) retrained with learned vs constant steps, seed 1 (issue B)"),
    ("admm_quant_sensitivity_lenet5_s0", "One layer on 1 / 2 / 3-bit levels, no retraining: accuracy cost, seed 0 (issue B)"),
    ("admm_quant_sensitivity_lenet5_s1", "One layer on 1 / 2 / 3-bit levels, no retraining: accuracy cost, seed 1 (issue B)"),
    ("admm_full_wall_lenet5", "Full joint compression from scratch (2026-11-22 recipe) on this 2-core CPU: wall time (issue B)"),
    ("sparse_csim_equality", "Joint-compressed LeNet-5, all-sparse vs all-dense csim on 1,000 MNIST images (issue C)"),
    ("sparse_memory", "Joint-compressed LeNet-5 weights with indices on PYNQ-Z2: size, BRAM18 sparse vs dense (issue C)"),
    ("estimator_error", "Estimator error vs HLS C-synthesis reports: latency / DSP / BRAM18 (issue D)"),
    ("plan_lenet5", "Hardware-aware compression (`flow plan`, Fig. 5) of LeNet-5 for PYNQ-Z2, compiled (issue D)"),
    ("breakeven_lenet5", "Joint-compressed LeNet-5 on PYNQ-Z2: break-even ratio per layer, speedup at equal DSP (issue D)"),
    ("driver_codec_rate", "Board driver fixed-point encode/decode rate (issue E)"),
    ("infer_csim_mnist", "Joint-compressed LeNet-5: `flow infer --target csim` on the MNIST test set vs compile-time csim (issue E)"),
]


def measured_rows() -> dict:
    found = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        for row in record["rows"]:
            found[row["key"]] = (row["value"], f"`{record['command']}` ({record['date']}, {record['git_commit'][:10]})")
    return found


def table() -> str:
    found = measured_rows()
    lines = ["| result | value | measured by |", "|---|---|---|"]
    for key, label in PLANNED_ROWS:
        value, source = found.get(key, ("not measured yet", ""))
        lines.append(f"| {label} | {value} | {source} |")
    return "\n".join(lines)


def render(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> None:
    current = README.read_text()
    updated = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if updated == current else 1)
    README.write_text(updated)


if __name__ == "__main__":
    main()
