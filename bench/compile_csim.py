"""Benchmark: `flow compile` wall time and csim agreement for the default model and FINN's TFC_2W2A.

    python bench/compile_csim.py [--shared ../shared]
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

TFC = "reference/onnx/qonnx_model_zoo/MNIST__Brevitas_FINN_TFC__TFC__TFC_2W2A.onnx"


def compile_once(args: list[str], build_dir: Path) -> dict:
    started = time.perf_counter()
    flow = Path(sys.executable).parent / "flow"
    subprocess.run([str(flow), "compile", *args, "--out", str(build_dir), "--no-progress"], check=True,
                   capture_output=True)
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "time_per_step": json.loads((build_dir / "time_per_step.json").read_text()),
        "csim": json.loads((build_dir / "csim.json").read_text()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    with tempfile.TemporaryDirectory() as scratch:
        default = compile_once(["--board", "pynq-z2"], Path(scratch) / "default")
        tfc = compile_once(["--model", str(options.shared / TFC), "--data-dir", str(options.shared / "data" / "mnist"),
                            "--n-samples", "1000"], Path(scratch) / "tfc")
    rows = [
        {"key": "compile_default_wall_s", "label": "`flow compile --board pynq-z2` (default LeNet, csim-only) wall time",
         "value": f"{default['wall_s']:.0f} s"},
        {"key": "compile_default_csim", "label": "default LeNet: csim vs QONNX vs Brevitas on 359 held-out digits",
         "value": f"argmax agreement {default['csim']['csim_vs_qonnx']['argmax_agreement']:.4f} / "
                  f"{default['csim']['qonnx_vs_brevitas']['argmax_agreement']:.4f}, max "
                  f"{default['csim']['csim_vs_qonnx']['max_diff_lsb']:.0f} / "
                  f"{default['csim']['qonnx_vs_brevitas']['max_diff_lsb']:.0f} LSB, "
                  f"accuracy {default['csim']['accuracy']['csim']:.4f}"},
        {"key": "compile_tfc_csim", "label": "FINN TFC_2W2A QONNX: csim vs QONNX on 1,000 MNIST test images",
         "value": f"argmax agreement {tfc['csim']['csim_vs_qonnx']['argmax_agreement']:.4f}, "
                  f"max abs diff {tfc['csim']['csim_vs_qonnx']['max_abs_diff']:.3g} (float logits), "
                  f"accuracy {tfc['csim']['accuracy']['csim']:.4f}, compile {tfc['wall_s']:.0f} s"},
    ]
    print(write_result("compile_csim", {"default": default, "tfc_2w2a": tfc}, rows, seed=0, started=started, commit=commit))


if __name__ == "__main__":
    main()
