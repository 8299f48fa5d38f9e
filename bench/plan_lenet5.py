"""Benchmark: `flow plan` (hardware-aware compression, paper Fig. 5) on LeNet-5 / MNIST for a board, full size.

    python bench/plan_lenet5.py --data-dir ../shared/data/mnist [--board pynq-z2] [--budget-pp 0.5] [--probes 3]

Runs the `flow plan` command as a user does, from the pretrained model of `admm_lenet5.py`
(runs/bench/pretrain-s<seed>, trained here first if missing), into runs/bench/plan-<board>-s<seed>;
probes already finished there are reused (the row gives each probe's own training time).
Writes bench/results/plan_lenet5.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import git_commit, write_result

RECIPES = Path(__file__).resolve().parents[1] / "models" / "recipes"


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--board", default="pynq-z2")
    parser.add_argument("--budget-pp", type=float, default=0.5)
    parser.add_argument("--probes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/bench")
    args = parser.parse_args()
    commit, started = git_commit(), time.perf_counter()
    flow = [sys.executable, "-m", "flow"]
    pretrained = Path(args.runs) / f"pretrain-s{args.seed}"
    if not (pretrained / "model.pt").is_file():
        run(flow + ["train", "--recipe", str(RECIPES / "lenet5-pretrain.yaml"), "--set", f"seed={args.seed}",
                    "--out", str(pretrained), "--data-dir", str(args.data_dir), "--no-progress"])
    out = Path(args.runs) / f"plan-{args.board}-s{args.seed}"
    run(flow + ["plan", "--init", str(pretrained / "model.pt"), "--board", args.board, "--budget-pp", str(args.budget_pp),
                "--probes", str(args.probes), "--out", str(out), "--data-dir", str(args.data_dir),
                "--set", f"seed={args.seed}", "--no-progress"])
    record = json.loads((out / "plan.json").read_text())
    chosen, build = record["chosen"], record.get("build")
    layers = "; ".join(f"{layer['name']} keep {layer['keep']:,}/{layer['weights']:,}"
                       + ("" if layer["break_even"] is None else f" (break-even portion {layer['break_even']:.2f})")
                       for layer in record["layers"])
    def probe_cell(probe: dict) -> str:
        if not probe["trained"]:
            return f"s={probe['strength']:.3f}: skipped, {probe['estimated_bram18']} BRAM18"
        wall_min = json.loads((Path(probe["run"]) / "compression.json").read_text())["metrics"]["wall_s"] / 60
        return f"s={probe['strength']:.3f}: {probe['accuracy_drop_pp']:+.2f} pp, trained in {wall_min:.0f} min"

    probes = ", ".join(probe_cell(p) for p in record["probes"])
    if chosen is None:
        value = f"no probe within {args.budget_pp} pp ({probes})"
    else:
        value = (f"budget {args.budget_pp} pp, {len(record['probes'])} probe(s) ({probes}); chosen s={chosen['strength']:.3f}: "
                 f"{layers}; accuracy {chosen['test_accuracy']:.4f} (drop {chosen['accuracy_drop_pp']:+.2f} pp)")
        if build:
            value += (f"; build: {build['throughput_fps']:,.0f}/s with {', '.join(build['kernels'].values())}, "
                      f"weights {build['weight_bram18']} of {record['bram18_budget']} BRAM18, csim "
                      f"{'passed' if build['csim_passed'] else 'FAILED'}, estimated LUT/FF/DSP "
                      f"{'fit' if build['estimated_resources_fit'] else 'do not fit'}")
    rows = [{"key": "plan_lenet5", "label": f"flow plan on {args.board}", "value": value}]
    print(write_result("plan_lenet5", {"plan": record}, rows, args.seed, started, commit))


if __name__ == "__main__":
    main()
