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
def digits_rtl_build(default_build, tmp_path_factory):
    """A copy of the default digits build with the rtl step run on it."""
    build_dir = tmp_path_factory.mktemp("digits-rtl") / "build"
    shutil.copytree(default_build[0], build_dir, symlinks=True)
    result = run_flow("compile", "--out", str(build_dir), "--from-step", "rtl", "--rtl", "--no-progress")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return build_dir


@needs_tools
def test_every_weight_layer_is_bit_exact_in_verilator_in_both_forms_and_counted_by_yosys(digits_rtl_build):
    summary = json.loads((digits_rtl_build / "rtl" / "summary.json").read_text())
    memory = {layer["name"]: layer for layer in json.loads((digits_rtl_build / "memory.json").read_text())["layers"]}
    rows = summary["layers"]
    assert [(row["name"], row["kernel"]) for row in rows] == [
        (name, kernel) for name in memory for kernel in ("dense_constant", "sparse")]
    for row in rows:
        assert row["verilator_bit_exact"] is True and row["max_diff_lsb"] == 0.0, (row["name"], row["kernel"])
        assert row["vectors"] >= 100 and row["yosys"]["lut"] > 0, (row["name"], row["kernel"])
        assert set(row["estimate"]) >= {"lut", "ff", "dsp", "bram18"}
        if row["kernel"] == "sparse":
            # the walk, then the rows, plus the start cycle and the ROM's registered read
            assert row["cycles_per_vector"] == row["entries_per_pe"] + row["rows_per_pe"] + 2, row["name"]
            assert row["estimate"]["cycles_per_vector"] >= row["cycles_per_vector"], row["name"]
        else:
            # yosys' LUTs stay near da4ml's own adder-graph estimate (a wildly different count: a broken netlist), and
            # its flip-flops are the pipeline's registers
            assert 0.7 < row["yosys"]["lut"] / row["da4ml_luts"] < 1.6, (row["name"], row["yosys"], row["da4ml_luts"])
            assert 0.8 < row["yosys"]["ff"] / row["da4ml_ffs"] <= 1.0, (row["name"], row["yosys"], row["da4ml_ffs"])
            assert row["latency_cycles"] >= 2
        assert set(row["estimate_gate_level"]) == {"lut", "ff"}
    # the output layer's result type is its merged output quantizer's: round half to even, saturate
    assert rows[-1]["result_type"] == [1, 5, 2]
    assert summary["yosys_family"] == "xc7" and "synth_xilinx" in summary["yosys_command"]
    assert all(summary["tools"][tool] for tool in ("yosys", "verilator", "da4ml"))
    record = json.loads((digits_rtl_build / "summary.json").read_text())["steps"]["rtl"]
    assert record["status"] == "done" and record["bit_exact"] == f"{len(rows)} of {len(rows)} forms"


def _rounded_half_even_saturated(sums: np.ndarray, dropped: int, width: int) -> np.ndarray:
    """Integer sums (units of the accumulator's LSB) in a signed width-bit type `dropped` bits coarser."""
    floor = sums >> dropped
    rest = sums - (floor << dropped)
    half = 1 << (dropped - 1)
    rounded = floor + ((rest > half) | ((rest == half) & (floor % 2 == 1)))
    return np.clip(rounded, -(1 << (width - 1)), (1 << (width - 1)) - 1)


@pytest.fixture(scope="module")
def odd_layer():
    """12 inputs x 7 outputs, 3-bit levels on signed 6-bit inputs, 60% pruned, one empty output row; the result
    type drops a fraction bit with ties to even and saturates, so every cast path of both forms runs."""
    from flow.rtl.layers import FixedType, LayerVectors

    rng = np.random.default_rng(3)
    levels = np.array([-1.5, -0.75, -0.25, 0.5, 1.0, 1.75])  # weight type ap_fixed<4,2>: multiples of 1/4
    weights = rng.choice(levels, (12, 7)) * (rng.random((12, 7)) < 0.4)
    weights[:, 4] = 0
    bias = rng.integers(-8, 8, 7) / 16  # on the accumulator's grid of 1/16
    inputs = rng.integers(-32, 32, (400, 12)) / 4  # ap_fixed<6,4>: -8 .. 7.75 by 1/4
    sums = np.round((inputs @ weights + bias) * 16).astype(np.int64)
    outputs = _rounded_half_even_saturated(sums, 1, 6) / 8  # ap_fixed<6,3,AP_RND_CONV,AP_SAT>
    return LayerVectors(name="odd", kind="dense", weights=weights, bias=bias,
                        input_type=FixedType(True, 6, 4), weight_type=FixedType(True, 4, 2),
                        accum_type=FixedType(True, 16, 12), result_type=FixedType(True, 6, 3, "RND_CONV", "SAT"),
                        firmware_entries=None, inputs=inputs, outputs=outputs)


@needs_tools
def test_every_form_reproduces_an_odd_layer_and_catches_a_weight_off_by_a_level(odd_layer, tmp_path):
    """Three PEs with 2-bit gaps (fillers), ties to even and saturation; the dense folded form at 7 PEs x 3 inputs
    a cycle, pruned weights stored and multiplied; the checker fails the bad case."""
    from flow.rtl.checks import check_constant_layer, check_folded_layer, check_sparse_layer
    from flow.rtl.folded_kernel import Folding

    sums = np.round((odd_layer.inputs @ odd_layer.weights + odd_layer.bias) * 16).astype(np.int64)
    assert np.any(sums % 2 == 1) and np.any(np.abs(sums) > 64)  # ties and saturation are exercised
    weights = odd_layer.weights.copy()
    row, column = np.argwhere((weights != 0) & (weights < 1.5))[0]
    weights[row, column] += 0.25  # one kept weight one step of its type off
    bad = replace(odd_layer, weights=weights)
    for name, layer in (("good", odd_layer), ("bad", bad)):
        dense = check_constant_layer(layer, tmp_path / name / "dense", "xc7")
        sparse = check_sparse_layer(layer, 3, 2, "lutram", tmp_path / name / "sparse", "xc7")
        folded = check_folded_layer(layer, Folding(pe=7, simd=3), tmp_path / name / "folded", "xc7")
        expected = name == "good"
        assert [form["verilator_bit_exact"] for form in (dense, sparse, folded)] == [expected] * 3, name
    assert sparse["entries_per_pe"] > 0 and sparse["rows_per_pe"] == 3
    # one output row per PE, 12 inputs 3 at a time: 4 steps, plus the start cycle and the ROM's registered read
    assert folded["steps"] == 4 and folded["cycles_per_vector"] == 6 and folded["hung_vectors"] == 0


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


def test_the_dense_folding_takes_the_most_products_at_a_reuse_factor_hls4ml_accepts():
    from flow.cost.candidates import legal_reuse_factors
    from flow.rtl.folded_kernel import Folding

    # 25 x 20: PE 10 x SIMD 5 (RF 10) divides the layer but hls4ml refuses RF 10; RF 25 is PE 20 x SIMD 1
    assert 10 not in legal_reuse_factors(25, 20)
    assert Folding.largest(n_in=25, n_out=20, multipliers=55) == Folding(pe=20, simd=1)
    assert Folding.largest(n_in=25, n_out=20, multipliers=100) == Folding(pe=20, simd=5)  # RF 5
    assert Folding.largest(n_in=500, n_out=50, multipliers=55) == Folding(pe=50, simd=1)  # every output at once
    assert Folding.largest(n_in=500, n_out=10, multipliers=55) == Folding(pe=10, simd=5)  # RF 100
    assert Folding.largest(n_in=7, n_out=13, multipliers=5) == Folding(pe=1, simd=1)  # primes: one product a cycle
    with pytest.raises(ValueError, match="refuses reuse factor 10"):
        Folding.at_reuse_factor(25, 20, 10)
    for n_in, n_out in [(800, 500), (25, 20), (36, 10)]:
        folding = Folding.largest(n_in=n_in, n_out=n_out, multipliers=55)
        reuse_factor = folding.cycles(n_in, n_out)
        assert reuse_factor in legal_reuse_factors(n_in, n_out)
        assert folding == Folding.at_reuse_factor(n_in, n_out, reuse_factor)
        assert folding.multipliers == n_in * n_out // reuse_factor <= 55
