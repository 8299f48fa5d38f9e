"""The deploy bundle and its board driver: fixed-point codec, integrity checks, bounded DMA waits, Python 3.10 + numpy/pynq only."""
import ast
import json
import shutil
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from conftest import REPO, run_flow
from flow.deploy.csim_overlay import CsimOverlay
from flow.deploy.pynq_driver import Accelerator, DMATimeoutError, FixedPoint, read_bundle

DRIVER = REPO / "flow" / "deploy" / "pynq_driver.py"


def reference_code(value: float, width: int, integer: int, signed: bool, rounding: str, overflow: str) -> int:
    """ap_fixed's float -> code conversion, one value at a time in exact rational arithmetic."""
    scaled = Fraction(value) * 2 ** (width - integer)
    floor = scaled.numerator // scaled.denominator
    if rounding == "TRN":
        code = floor
    else:  # RND_CONV: to nearest, ties to even
        rest = scaled - floor
        code = floor + (1 if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2) else 0)
    low, high = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if overflow == "SAT":
        return min(max(code, low), high)
    code %= 1 << width
    return code - (1 << width) if signed and code > high else code


@pytest.mark.parametrize("precision", ["fixed<16,6,TRN,WRAP,0>", "fixed<8,3,RND_CONV,SAT,0>", "ufixed<8,2,TRN,SAT,0>",
                                       "fixed<32,16,TRN,WRAP,0>", "ufixed<12,4,RND_CONV,WRAP,0>", "fixed<5,5>"])
def test_codec_matches_ap_fixed_conversion(precision):
    codec = FixedPoint(precision)
    values = np.random.default_rng(0).normal(scale=2.0 ** (codec.width - codec.fraction - 1), size=4000)
    values = np.concatenate([values, np.arange(-64, 64) / 2 ** (codec.fraction + 1)])  # exact ties
    codes = codec.encode(values)
    kind, rest = precision.split("<")
    width, integer = (int(x) for x in rest.rstrip(">").split(",")[:2])
    rounding, overflow = (rest.rstrip(">").split(",") + ["TRN", "WRAP"])[2:4]
    expected = [reference_code(float(v), width, integer, kind == "fixed", rounding, overflow) for v in values]
    assert codes.dtype.itemsize * 8 == codec.bits >= width
    assert codec.decode(codes).tolist() == [code * 2.0 ** -(width - integer) for code in expected]


def test_driver_is_python_310_with_numpy_and_pynq_only():
    tree = ast.parse(DRIVER.read_text(), feature_version=(3, 10))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"numpy", "pynq"}


def test_bundle_ships_the_driver_and_it_refuses_to_run_without_a_bitstream(default_build):
    bundle = default_build[0] / "bundle"
    assert (bundle / "driver.py").read_bytes() == DRIVER.read_bytes()
    result = subprocess.run([sys.executable, str(bundle / "driver.py"), "selftest"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "has no bitstream (it was built without Vivado)" in result.stderr and "Traceback" not in result.stderr
    pynq = run_flow("infer", "--bundle", str(bundle), "--target", "pynq")
    assert pynq.returncode == 2 and "has no bitstream" in pynq.stderr


def test_csim_target_cli_reproduces_compile_csim(default_build):
    result = run_flow("infer", "--bundle", str(default_build[0] / "bundle"), "--target", "csim")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "359 inputs on csim" in result.stdout and "bit for bit: True" in result.stdout


def test_a_stalled_dma_times_out_with_a_clear_error(default_build):
    bundle = default_build[0] / "bundle"
    overlay = CsimOverlay(default_build[0], read_bundle(bundle), stalled=True)
    device = Accelerator(bundle, overlay=overlay, allocate=overlay.allocate, timeout_s=0.2)
    with pytest.raises(DMATimeoutError, match=r"DMA send \(MM2S\) did not finish within 0.2 s"):
        device.predict(np.load(bundle / "test_inputs.npy")[:2])


@pytest.mark.parametrize("damage, message", [
    ("tamper", "does not match its sha256 in manifest.json"),
    ("drop_driver", "lacks driver.py, listed in manifest.json"),
    ("drop_metadata", "holds no bundle (no metadata.json)"),
    ("corrupt_manifest", "unreadable manifest.json or metadata.json"),
])
def test_damaged_bundles_are_refused_before_anything_runs(default_build, tmp_path, damage, message):
    build = tmp_path / "build"
    shutil.copytree(default_build[0], build, ignore=shutil.ignore_patterns("hls4ml_prj", "layer_projects"))
    bundle = build / "bundle"
    if damage == "tamper":
        inputs = np.load(bundle / "test_inputs.npy")
        np.save(bundle / "test_inputs.npy", inputs + 1)
    elif damage == "drop_driver":
        (bundle / "driver.py").unlink()
    elif damage == "drop_metadata":
        (bundle / "metadata.json").unlink()
    else:
        (bundle / "manifest.json").write_text("{not json")
    result = run_flow("infer", "--bundle", str(bundle))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_wrong_input_shape_is_one_line(default_build, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 28, 28), dtype=np.float32))
    result = run_flow("infer", "--bundle", str(default_build[0]), "--input", str(tmp_path / "x.npy"))
    assert result.returncode == 2 and "shaped (N, 1, 8, 8)" in result.stderr and "Traceback" not in result.stderr


def test_metadata_names_what_the_driver_needs(default_build):
    metadata = json.loads((default_build[0] / "bundle" / "metadata.json").read_text())
    assert FixedPoint(metadata["input"]["precision"]).bits == 32 and FixedPoint(metadata["output"]["precision"]).bits == 8
