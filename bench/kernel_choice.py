"""Benchmark: flow's per-layer kernel choice against every single-kernel design, on the shipped models.

    python bench/kernel_choice.py [--shared ../shared] [--work runs/kernel_choice]

Each shipped model is compiled for the PYNQ-Z2 with `flow compile --target-fps` (the digits model at
200,000/s, the compressed LeNet-5 at 100,000/s), and a LeNet-5 whose layers must fold (recipe
models/recipes/lenet5-fold-8bit.yaml: 85x pruned, 8-bit weights, trained here into the work dir
first, or reused from there) with plain `flow compile`: the highest rate within 80% of the
board. From the build's design.json (flow/cost/pareto.py:
per kernel family the chooser's least-area design within each interval its candidates offer, and
the frontier of those), per family the fastest design whose scarcest resource share is at most
flow's choice's: rate at equal (or less) area. flow's choice should match or beat every one; a
family with no design that small is "none that small". All figures are the estimator's (HLS level per layer,
shares at the implementation level); no synthesis has checked them.
Writes bench/results/kernel_choice.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import git_commit, write_result

from flow.cost.candidates import KERNELS

REPO = Path(__file__).resolve().parents[1]
# name, checkpoint (or the recipe that trains it), target rate (None: the highest that fits), needs MNIST
MODELS = (("lenet-digits", "models/lenet-digits.pt", 200_000, False),
          ("lenet5-admm-joint", "models/lenet5-admm-joint.pt", 100_000, True),
          ("lenet5-fold-8bit", "models/recipes/lenet5-fold-8bit.yaml", None, True))
FLOW = str(Path(sys.executable).parent / "flow")
FAMILIES = KERNELS


def trained(recipe: str, mnist: Path, run: Path) -> str:
    """The recipe's model, trained into `run` (resumed where a run stopped, reused once finished)."""
    if not (run / "model.pt").is_file():
        command = [FLOW, "train", "--recipe", recipe, "--out", str(run), "--data-dir", str(mnist), "--no-progress",
                   *(["--resume"] if (run / "checkpoint.pt").is_file() else [])]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return str(run / "model.pt")


def compile_for(path: str, target: int | None, mnist: Path | None, build: Path) -> dict:
    command = [FLOW, "compile", "--model", path, "--out", str(build), "--no-progress",
               *(["--target-fps", str(target)] if target else [])]
    if mnist is not None:
        command += ["--data-dir", str(mnist)]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return json.loads((build / "design.json").read_text())


def at_equal_area(design: dict) -> dict:
    """Per family, the fastest frontier design within flow's choice's scarcest share, and flow's lead over it."""
    share = max(design["utilization"].values())
    found = {}
    for family in FAMILIES:
        within = [p for p in design["pareto"]["frontiers"][family] if p["utilization"] <= share + 1e-4]
        best = max(within, key=lambda p: p["fps"], default=None)
        found[family] = None if best is None else {**best, "flow_speedup": round(design["throughput_fps"] / best["fps"], 3)}
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "kernel_choice")
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    results = {}
    mnist = options.shared / "data" / "mnist"
    for name, path, target, needs_mnist in MODELS:
        if path.endswith(".yaml"):
            path = trained(path, mnist, options.work / f"{name}-train")
        design = compile_for(path, target, mnist if needs_mnist else None, options.work / name)
        results[name] = {"target_fps": target, "throughput_fps": design["throughput_fps"],
                         "interval": design["interval"], "utilization": design["utilization"],
                         "chosen": {layer["name"]: layer["chosen"]["kernel"] if layer["chosen"]["kernel"] != "sparse"
                                    else f"sparse P={layer['chosen']['pes']}" for layer in design["layers"]},
                         "at_equal_area": at_equal_area(design)}
        print(name, json.dumps(results[name]["at_equal_area"]), flush=True)

    def cell(name: str) -> str:
        record = results[name]
        share = max(record["utilization"].values())
        rivals = "; ".join(f"all {family} " + ("none that small" if best is None else f"{best['fps']:,.0f}/s")
                           for family, best in record["at_equal_area"].items())
        return f"{name}: flow {record['throughput_fps']:,.0f}/s at {100 * share:.0f}%; at that area {rivals}"

    metrics = {"board": "pynq-z2", "level": "estimator: HLS level per layer, shares at the implementation level",
               "models": results}
    value = " / ".join(cell(name) for name, *_ in MODELS)
    print(value)
    print(write_result("kernel_choice", metrics, [{"key": "kernel_choice", "label": "Per-layer kernel choice vs "
                                                   "single-kernel designs at equal area, PYNQ-Z2 (estimate)",
                                                   "value": value}],
                       seed=0, started=started, commit=commit))


if __name__ == "__main__":
    main()
