"""Benchmark: the board driver's csim target on the MNIST test set reproduces compile-time csim (issue E target).

    python bench/infer_csim_mnist.py --data-dir ../shared/data/mnist [--n-samples 10000] [--out runs/bench/infer-mnist]

Compiles the shipped joint-compressed LeNet-5 (models/lenet5-admm-joint.pt) for PYNQ-Z2 with csim
verification on the first --n-samples MNIST test images (a rerun reuses the finished steps), then
sends those images through `flow infer --target csim`: the bundle's driver encodes them, the
stand-in DMA feeds the build's C simulation, and the driver decodes the output words. Writes
bench/results/infer_csim_mnist.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from common import git_commit, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import flow  # noqa: E402
from flow.infer import test_vectors  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "models" / "lenet5-admm-joint.pt"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/infer-mnist"))
    args = parser.parse_args()
    commit, started = git_commit(), time.perf_counter()
    build = flow.compile(flow.BuildConfig(model=MODEL, board="pynq-z2", data_dir=args.data_dir,
                                          n_samples=args.n_samples, out=args.out))
    inputs, expected = test_vectors(build.build_dir)
    infer_started = time.perf_counter()
    outputs = flow.infer(build.build_dir, inputs, "csim").outputs
    infer_s = time.perf_counter() - infer_started
    labels = np.load(build.build_dir / "verify_labels.npy")
    identical = bool(np.array_equal(outputs, expected.reshape(len(outputs), -1)))
    metadata = json.loads((build.build_dir / "bundle" / "metadata.json").read_text())
    hls4ml_step = build.summary["steps"]["hls4ml"]
    metrics = {
        "n_samples": len(inputs),
        "identical_to_compile_csim": identical,
        "accuracy": float(np.mean(outputs.argmax(1) == labels)),
        "infer_wall_s": round(infer_s, 2),
        "input_precision": metadata["input"]["precision"],
        "output_precision": metadata["output"]["precision"],
        "output_narrowed": hls4ml_step.get("output_narrowed"),
        "compile_time_per_step": {name: record["seconds"] for name, record in build.summary["steps"].items()},
        "verification_passed": build.summary["verification"]["passed"],
    }
    rows = [{"key": "infer_csim_mnist", "label": "csim target on MNIST",
             "value": f"{len(inputs):,} MNIST test images through the bundle driver: outputs identical to compile-time "
                      f"csim bit for bit: {identical}; accuracy {metrics['accuracy']:.4f}; {infer_s:.0f} s "
                      f"(output {(metrics['output_narrowed'] or metadata['output']['precision']).split(':')[0]})"}]
    print(write_result("infer_csim_mnist", metrics, rows, 0, started, commit))


if __name__ == "__main__":
    main()
