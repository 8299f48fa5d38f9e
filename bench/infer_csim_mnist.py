"""Benchmark: `flow infer --target csim` on the whole MNIST test set reproduces `flow compile`'s csim outputs (issue E).

    python bench/infer_csim_mnist.py --data-dir ../shared/data/mnist [--n-samples 10000]

Compiles the shipped joint-compressed LeNet-5 (models/lenet5-admm-joint.pt) with the test set as its
verification data, then runs the bundle's test vectors through the board driver on the csim target
(encode -> simulated DMA -> hls4ml csim -> decode) and compares with the compile-time csim outputs.
Writes bench/results/infer_csim_mnist.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from common import git_commit, write_result

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from flow.build import compile as compile_build  # noqa: E402
from flow.config import BuildConfig  # noqa: E402
from flow.infer import accelerator, test_vectors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/infer-csim-mnist"))
    args = parser.parse_args()
    commit, started = git_commit(), time.perf_counter()
    build = compile_build(BuildConfig(model=REPO / "models" / "lenet5-admm-joint.pt", data_dir=args.data_dir,
                                      n_samples=args.n_samples, out=args.out, show_progress=False))
    compile_s = time.perf_counter() - started
    inputs, expected = test_vectors(build.build_dir)
    infer_started = time.perf_counter()
    outputs = accelerator(build.build_dir, "csim").predict(inputs, batch_size=1000)
    infer_s = time.perf_counter() - infer_started
    expected = expected.reshape(len(outputs), -1)
    identical = bool(np.array_equal(outputs, expected))
    mismatched = int(np.sum(np.any(outputs != expected, axis=1)))
    value = (f"{len(outputs):,} MNIST test images through bundle/driver.py on the csim target: "
             f"{'identical to' if identical else f'{mismatched} rows differ from'} compile-time csim outputs "
             f"(compile {compile_s / 60:.1f} min, infer {infer_s / 60:.1f} min, batches of 1,000)")
    metrics = {"samples": len(outputs), "identical": identical, "mismatched_rows": mismatched,
               "compile_s": round(compile_s, 1), "infer_s": round(infer_s, 1),
               "verification": build.summary["verification"]}
    rows = [{"key": "infer_csim_mnist", "label": "flow infer --target csim vs compile-time csim", "value": value}]
    print(write_result("infer_csim_mnist", metrics, rows, 0, started, commit))


if __name__ == "__main__":
    main()
