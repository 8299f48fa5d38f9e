"""Benchmark: the joint-compressed LeNet-5 compiled all-dense and all-sparse for the PYNQ-Z2.

Compares the two csims bit for bit on 1,000 MNIST test images and records each layer's memory
(bits with indices, BRAM18) and the sparse kernel's cycles.

    python bench/sparse_lenet5.py [--shared ../shared] [--samples 1000]
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import git_commit, write_result

MODEL = Path(__file__).resolve().parents[1] / "models" / "lenet5-admm-joint.pt"
PAPER_SIZE_WITH_INDEX_KB = 2.73  # ADMM-NN Table 5, LeNet-5
TARGET_FPS = 100_000  # the compressed LeNet-5's target rate (issue [L]): 1,000 cycles at 100 MHz


def compile_once(kernels: str, build_dir: Path, shared: Path, samples: int) -> dict:
    started = time.perf_counter()
    flow = Path(sys.executable).parent / "flow"
    subprocess.run([str(flow), "compile", "--model", str(MODEL), "--data-dir", str(shared / "data" / "mnist"),
                    "--n-samples", str(samples), "--sparse", kernels, "--out", str(build_dir), "--no-progress",
                    "--allow-overfull"],  # the all-dense comparison is built fit or not; each build's fit is recorded
                   check=True, capture_output=True)
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "time_per_step": json.loads((build_dir / "time_per_step.json").read_text()),
        "csim": json.loads((build_dir / "csim.json").read_text()),
        "memory": json.loads((build_dir / "memory.json").read_text()),
        "estimates": json.loads((build_dir / "estimates.json").read_text()),
        "outputs": np.load(build_dir / "csim_outputs.npy"),
    }


def position_entropy_bits(layer: dict) -> float:
    """log2 C(n, nnz) + nnz * code bits: the fewest bits any lossless code needs for masks like this
    layer's if the kept positions carry no structure; a floor for every index format."""
    n, k = layer["n_in"] * layer["n_out"], layer["nonzeros"]
    choose = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)
    return choose + k * layer["code_bits"]


def break_even_record(layer: dict, board) -> dict:
    """The layer's break-even at TARGET_FPS (flow/cost/breakeven.py) and the fastest of its rates where the sparse
    kernel is the smaller unpruned, from the build's estimate of its shape."""
    from flow.cost.breakeven import rate_break_even
    from flow.cost.kernels import LayerShape

    interval = math.floor(board.clock_hz / TARGET_FPS)
    found = rate_break_even(LayerShape(**layer["shape"]), board, code_bits=layer["sparse"]["kernel"]["code_bits"],
                            intervals=(interval,))
    return {"pruned_portion": layer["pruned_portion"], "target_fps": TARGET_FPS, "at_target": found.at(interval),
            "always_from_fps": max((r.fps for r in found.rates if r.break_even_portion == 0.0), default=None),
            "rates": [rate.to_json() for rate in found.rates]}


def portion_cell(portion: float | None) -> str:
    return "never" if portion is None else "always" if portion == 0 else f"{100 * portion:.1f}%"


def break_even_cell(name: str, estimate: dict) -> str:
    always = estimate["always_from_fps"]
    return (f"{name}: pruned {100 * estimate['pruned_portion']:.1f}%, break-even at {estimate['target_fps']:,}/s "
            f"{portion_cell(estimate['at_target'])}, "
            + ("never smaller unpruned" if always is None else f"smaller unpruned at {always:,.0f}/s"))


def design_cell(design: dict, budget: dict) -> str:
    placed = design["implementation"]
    shares = ", ".join(f"{resource.upper()} {100 * placed[resource] / budget[resource]:.0f}%"
                       for resource in ("ff", "lut", "bram18", "dsp"))
    return f"{'fits' if design['fits'] else 'does not fit'} ({shares})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--samples", type=int, default=1000)
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    from flow.boards import load_board

    board = load_board("pynq-z2")
    with tempfile.TemporaryDirectory() as scratch:
        builds = {kernels: compile_once(kernels, Path(scratch) / kernels, options.shared, options.samples)
                  for kernels in ("all", "none")}
    sparse, dense = builds["all"], builds["none"]
    identical = bool(np.array_equal(sparse["outputs"], dense["outputs"]))
    layers = [{key: layer[key] for key in ("name", "nonzeros", "weight_bits", "code_bits", "index_bits", "pes",
                                           "cycles", "fillers", "dense", "sparse")}
              for layer in sparse["memory"]["layers"]]
    sparse_bits = sparse["memory"]["total"]["bits"]
    bound_bits = sum(position_entropy_bits(layer) for layer in sparse["memory"]["layers"])
    metrics = {
        "samples": options.samples,
        "bit_identical": identical,
        "max_abs_diff": float(np.abs(sparse["outputs"] - dense["outputs"]).max()),
        "accuracy": {"sparse": sparse["csim"]["accuracy"]["csim"], "dense": dense["csim"]["accuracy"]["csim"]},
        "argmax_vs_qonnx": {"sparse": sparse["csim"]["csim_vs_qonnx"]["argmax_agreement"],
                            "dense": dense["csim"]["csim_vs_qonnx"]["argmax_agreement"]},
        "weights_with_index_kb": round(sparse_bits / 8 / 1024, 3),
        "position_entropy_bound_kb": round(bound_bits / 8 / 1024, 3),
        "bram18": {"sparse": sparse["memory"]["total"]["bram18"], "dense": dense["memory"]["total"]["bram18"],
                   "budget": sparse["memory"]["bram18_budget"]},
        "fits": sparse["memory"]["fits"],
        "layers": layers,
        "compile_wall_s": {"sparse": sparse["wall_s"], "dense": dense["wall_s"]},
        "estimates": {layer["name"]: break_even_record(layer, board) for layer in sparse["estimates"]["layers"]},
        "estimate_basis": sparse["estimates"]["basis"],
        "whole_design": {name: {"fits": build["estimates"]["fits"],
                                "implementation": build["estimates"]["design"]["levels"]["implementation"]}
                         for name, build in (("sparse", sparse), ("dense", dense))},
        "time_per_step": {"sparse": sparse["time_per_step"], "dense": dense["time_per_step"]},
    }
    budget = sparse["estimates"]["budget"]
    rows = [
        {"key": "sparse_csim_equality",
         "label": f"joint-compressed LeNet-5: all-sparse vs all-dense csim on {options.samples:,} MNIST test images",
         "value": f"{'bit-identical' if identical else 'DIFFERENT'} outputs; accuracy {metrics['accuracy']['sparse']:.4f}; "
                  f"compile + csim {sparse['wall_s']:.0f} s sparse, {dense['wall_s']:.0f} s dense"},
        {"key": "sparse_memory",
         "label": "joint-compressed LeNet-5 weights on PYNQ-Z2 (sparse kernels, one PE per layer)",
         "value": f"{metrics['weights_with_index_kb']:.2f} KB with indices (paper: {PAPER_SIZE_WITH_INDEX_KB} KB; "
                  f"no index format can go below {metrics['position_entropy_bound_kb']:.2f} KB for these unstructured "
                  "masks: log2 C(n, nnz) + codes); "
                  f"{metrics['bram18']['sparse']} BRAM18 vs {metrics['bram18']['dense']} dense, of "
                  f"{metrics['bram18']['budget']}"},
        {"key": "sparse_whole_design",
         "label": "joint-compressed LeNet-5 whole design on PYNQ-Z2, all-sparse vs all-dense (implementation-level estimate)",
         "value": "; ".join(f"{name}: {design_cell(metrics['whole_design'][name], budget)}"
                            for name in ("sparse", "dense")) + " (estimator, no synthesis)"},
        {"key": "breakeven_lenet5",
         "label": "joint-compressed LeNet-5 on PYNQ-Z2: estimated break-even per layer against every dense kernel",
         "value": "; ".join(break_even_cell(name, e) for name, e in metrics["estimates"].items())
                  + " (estimator, no synthesis)"},
    ]
    print(write_result("sparse_lenet5", metrics, rows, seed=0, started=started, commit=commit))


if __name__ == "__main__":
    main()
