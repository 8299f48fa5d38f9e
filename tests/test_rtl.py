"""The rtl step (flow compile --rtl): each weight layer as Verilog, bit-exact in verilator, counted by yosys."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import run_flow

TOOLS_HERE = all(shutil.which(tool) for tool in ("yosys", "verilator")) and importlib.util.find_spec("da4ml")
needs_tools = pytest.mark.skipif(not TOOLS_HERE, reason="yosys, verilator or da4ml (the rtl extra) not installed")


@pytest.fixture(scope="module")
def lenet5_rtl_build(lenet5_sparse_build, tmp_path_factory):
    """A copy of the shipped LeNet-5 build with the rtl step run on it."""
    build_dir = tmp_path_factory.mktemp("lenet5-rtl") / "build"
    shutil.copytree(lenet5_sparse_build, build_dir, symlinks=True)
    config = json.loads((build_dir / "config.json").read_text())
    result = run_flow("compile", "--model", config["model"], "--data-dir", config["data_dir"], "--n-samples",
                      str(config["n_samples"]), "--out", str(build_dir), "--from-step", "rtl", "--rtl", "--no-progress")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return build_dir


@needs_tools
def test_every_lenet5_weight_layer_is_bit_exact_in_verilator_and_counted_by_yosys(lenet5_rtl_build):
    summary = json.loads((lenet5_rtl_build / "rtl" / "summary.json").read_text())
    layers = summary["layers"]
    assert [layer["name"] for layer in layers] == ["Conv2D_Conv_0", "Conv2D_Conv_1", "Dense_MatMul_0", "Dense_MatMul_1"]
    for layer in layers:
        assert layer["kernel"] == "dense_constant" and layer["verilator_bit_exact"] is True, layer["name"]
        assert layer["max_diff_lsb"] == 0.0 and layer["vectors"] >= 20, layer["name"]
        cells = layer["yosys"]
        assert cells["lut"] > 0 and cells["carry"] > 0 and cells["dsp"] == 0, (layer["name"], cells)  # 3-bit weights
        # yosys' LUTs stay near da4ml's own adder-graph estimate (a wildly different count means a broken netlist)
        assert 0.7 < cells["lut"] / layer["da4ml_luts"] < 1.5, (layer["name"], cells["lut"], layer["da4ml_luts"])
        assert set(layer["estimate"]) >= {"lut", "ff", "dsp", "bram18"}
    assert summary["yosys_family"] == "xc7" and "synth_xilinx" in summary["yosys_command"]
    assert all(summary["tools"][tool] for tool in ("yosys", "verilator", "da4ml"))
    record = json.loads((lenet5_rtl_build / "summary.json").read_text())["steps"]["rtl"]
    assert record["status"] == "done" and record["bit_exact"] == "4 of 4"


@needs_tools
def test_a_layer_form_with_one_weight_off_by_a_level_is_caught(lenet5_rtl_build, tmp_path):
    """The checker fails the bad case: fc2 with one kept weight moved by one quantization step."""
    from flow.build.artifacts import load_hls_model
    from flow.rtl.checks import check_constant_layer
    from flow.rtl.layers import layer_vectors

    fc2 = layer_vectors(lenet5_rtl_build, load_hls_model(lenet5_rtl_build), 50)[-1]
    good = check_constant_layer(fc2, tmp_path / "good" / "fc2", "xc7")
    row, column = np.argwhere(fc2.weights != 0)[0]
    weights = fc2.weights.copy()
    weights[row, column] += np.min(np.abs(weights[weights != 0]))
    bad = check_constant_layer(replace(fc2, weights=weights), tmp_path / "bad" / "fc2", "xc7")
    assert good["verilator_bit_exact"] is True
    assert bad["verilator_bit_exact"] is False and bad["max_diff_lsb"] >= 1


def test_the_step_says_why_it_did_not_run(default_build, tmp_path):
    build_dir, _ = default_build
    record = json.loads((build_dir / "summary.json").read_text())["steps"]["rtl"]
    assert record["status"] == "skipped: not requested (flow compile --rtl)"
    assert not (build_dir / "rtl").exists()
    copy = tmp_path / "build"
    shutil.copytree(build_dir, copy, symlinks=True)
    # a machine without the open tools: nothing on PATH
    result = subprocess.run([str(Path(sys.executable).parent / "flow"), "compile", "--out", str(copy), "--from-step",
                             "rtl", "--rtl", "--no-progress"], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PATH": str(tmp_path / "empty"), "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((copy / "summary.json").read_text())["steps"]["rtl"]
    assert record["status"] == "skipped: yosys not on PATH"
    assert not (copy / "rtl").exists()
