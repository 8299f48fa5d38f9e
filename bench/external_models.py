"""Benchmark: other people's QONNX models from ../shared through `flow compile`, csim checked against qonnx.

    python bench/external_models.py [--shared ../shared] [--n-samples 500] [--only NAME ...]

Each model is built for PYNQ-Z2 with every step flow runs here, on its own kind of input (MNIST for the
MNIST models, seeded inputs in the model's real input range elsewhere, as each entry says), with
--allow-overfull so that verification is measured also where the design is too big for the board;
the fit is recorded beside it. One row per model in the result, with its exact command.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import git_commit, write_result

ZOO = "reference/onnx/qonnx_model_zoo"
MNIST = "data/mnist"
# name -> (model file under ../shared, flow compile arguments ({shared} is ../shared), what the inputs are)
MODELS = {
    "TFC_2W2A": (f"{ZOO}/MNIST__Brevitas_FINN_TFC__TFC__TFC_2W2A.onnx", ["--data-dir", f"{{shared}}/{MNIST}"],
                 "MNIST test images"),
    "TFC_1W1A": (f"{ZOO}/MNIST__Brevitas_FINN_TFC__TFC__TFC_1W1A.onnx", ["--data-dir", f"{{shared}}/{MNIST}"],
                 "MNIST test images"),
    "TFC_1W2A": (f"{ZOO}/MNIST__Brevitas_FINN_TFC__TFC__TFC_1W2A.onnx", ["--data-dir", f"{{shared}}/{MNIST}"],
                 "MNIST test images"),
    "JetTagging": (f"{ZOO}/JetTagging__QKeras_hls4ml_3layer__qkeras_jettagging.onnx", ["--input-range=-3,3"],
                   "uniform in [-3, 3): the 16 jet features standardized as in hls4ml's tutorial (no input Quant)"),
    "GSCV2_kwsmlp": (f"{ZOO}/GSCV2__kwsmlp_w3a3__kwsmlp_w3a3.onnx", ["--float32-rescales"],
                     "the grid of its 8-bit input Quant"),
    "UNSW_NB15": (f"{ZOO}/UNSW_NB15__unsw_nb15_mlp_w2a2__unsw_nb15-mlp-w2a2.onnx", ["--input-range=-1,1,2"],
                  "bipolar -1/+1 features, as FINN's UNSW-NB15 data feeds it ((x + 1) / 2 inside the model)"),
    "MLPerf_Tiny_KWS": ("reference/onnx/mlperf_tiny_KWS-W3A3_QONNX_model.onnx", ["--float32-rescales"],
                        "the grid of its 8-bit input Quant"),
    "bnn_fc_1layer": ("reference/onnx/hls4ml_example-models/bnn_model_fc_1layer.onnx", [],
                      "the grid of its input BipolarQuant (-1/+1)"),
    "conv2d_small": ("reference/onnx/hls4ml_example-models/conv2d_small_keras.onnx", [],
                     "uniform in [0, 1): a float model with no input Quant and no dataset"),
}


def compile_model(name: str, shared: Path, n_samples: int, scratch: Path) -> dict:
    model, extra, inputs = MODELS[name]
    build_dir = scratch / name
    args = ["compile", "--model", str(shared / model), *[arg.format(shared=shared) for arg in extra],
            "--n-samples", str(n_samples), "--allow-overfull", "--out", str(build_dir), "--no-progress"]
    started = time.perf_counter()
    result = subprocess.run([str(Path(sys.executable).parent / "flow"), *args], capture_output=True, text=True)
    record = {"command": " ".join(["flow", *args]).replace(str(scratch), "<scratch>"),
              "exit_code": result.returncode, "inputs": inputs, "wall_s": round(time.perf_counter() - started, 1)}
    errors = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if line.startswith("error:")]
    if errors:
        record["error"] = errors[0]
    report_path = build_dir / "csim.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        record.update({key: report[key] for key in ("passed", "dataset", "n_samples", "output_precision",
                                                    "lsb_bound_enforced", "csim_vs_qonnx", "fifo_check")})
        record["accuracy"] = report.get("accuracy")
    summary_path = build_dir / "summary.json"
    if summary_path.is_file():
        steps = json.loads(summary_path.read_text())["steps"]
        record["qonnx_step"] = steps.get("qonnx")
        record["fit"] = steps.get("fit")
    return record


def row_value(records: dict) -> str:
    verified = [name for name, record in records.items() if record.get("passed")]
    exact = [name for name in verified if records[name]["lsb_bound_enforced"]]
    fits = [name for name, record in records.items() if (record.get("fit") or {}).get("fits")]
    ties = sum((record.get("csim_vs_qonnx") or {}).get("argmax_ties", 0) for record in records.values())
    return (f"{len(verified)} of {len(records)} verify (argmax agrees but for {ties} float32 tie(s); "
            f"{', '.join(exact) or 'none'} also to the LSB); {len(fits)} fit PYNQ-Z2")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--n-samples", type=int, default=500)
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), default=sorted(MODELS))
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    records = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in options.only:
            records[name] = compile_model(name, options.shared.resolve(), options.n_samples, Path(scratch))
            status = "verified" if records[name].get("passed") else records[name].get("error", "failed")
            print(f"{name}: {status} ({records[name]['wall_s']} s)", flush=True)
    rows = [{"key": "external_models", "label": "Other people's QONNX models from ../shared: csim vs qonnx",
             "value": row_value(records)}]
    print(write_result("external_models", {"models": records, "n_samples": options.n_samples}, rows, seed=0,
                       started=started, commit=commit))


if __name__ == "__main__":
    main()
