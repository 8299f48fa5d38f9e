"""External QONNX (FINN's TFC_2W2A) on MNIST through every step, its FIFO check (flow/hls4ml/fifo_check.py) on
an io_parallel top among them. Every test of the TFC build is in this file, so that one test worker builds it once."""
import json
import re
import shutil

import numpy as np
import pytest

from conftest import TFC, run_flow, run_flow_in_process, tfc_compile_args


def test_tfc_2w2a_compiles_and_matches_qonnx(tfc_build, shared_dir, tmp_path):
    build_dir = tfc_build
    report = json.loads((build_dir / "csim.json").read_text())
    assert report["n_samples"] == 200 and report["dataset"] == "mnist-test"
    assert report["csim_vs_qonnx"]["argmax_agreement"] == 1.0
    assert report["accuracy"]["qonnx"] > 0.9  # the published model: 96.6% on MNIST
    # exact accumulators keep its output (the last rescale's, once an inferred 66 bits) within one stream word
    steps = json.loads((build_dir / "summary.json").read_text())["steps"]
    assert "output_narrowed" not in steps["hls4ml"]
    assert int(re.match(r"u?fixed<(\d+),", report["output_precision"]).group(1)) <= 64
    assert steps["hls4ml"]["stream_top"] == "firmware/flow_axis_top.cpp"
    # the board driver's whole path on the csim target, over the 200 MNIST test images compile verified on
    infer = run_flow("infer", "--bundle", str(build_dir), "--target", "csim")
    assert infer.returncode == 0, infer.stderr[-2000:]
    assert "200 inputs on csim" in infer.stdout and "bit for bit: True" in infer.stdout
    # the same third-party MLP on flow's sparse kernel, its top a dataflow region (hls4ml's default pipelined
    # top would unroll the entries walk): csim identical bit for bit
    sparse = run_flow("compile", "--model", str(shared_dir / TFC), "--data-dir", str(shared_dir / "data" / "mnist"),
                      "--n-samples", "200", "--sparse", "all", "--out", str(tmp_path / "sparse"), "--no-progress")
    assert sparse.returncode == 0, sparse.stderr[-3000:]
    assert set(json.loads((tmp_path / "sparse" / "csim.json").read_text())["kernels"].values()) == {"sparse"}
    for folder in (build_dir, tmp_path / "sparse"):
        top = (folder / "hls4ml_prj" / "firmware" / "myproject.cpp").read_text()
        any_sparse = "sparse" in json.loads((folder / "csim.json").read_text())["kernels"].values()
        assert ("#pragma HLS DATAFLOW" in top, "#pragma HLS PIPELINE" in top) == (any_sparse, not any_sparse)
    assert np.array_equal(np.load(tmp_path / "sparse" / "csim_outputs.npy"), np.load(build_dir / "csim_outputs.npy"))


@pytest.mark.parametrize("channels, size", [(3, 6), (4, 4)])  # (4, 4): channels-last leaves the shape as it was
def test_a_multichannel_input_goes_in_channels_last_with_no_transpose(tmp_path, channels, size):
    """A QONNX model with an RGB-like NCHW input: its cleaned graph takes NHWC (no Transpose left for hls4ml
    to build as a whole-frame buffer), and csim, fed what the driver feeds, equals QONNX's execution of the
    model in its own layout on every channel."""
    import brevitas.nn as qnn
    import torch
    from brevitas.export import export_qonnx

    from flow.zoo import Act8bUnsignedPo2, Weight4bPo2

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=Act8bUnsignedPo2, return_quant_tensor=True),
        qnn.QuantConv2d(channels, 4, 3, bias=False, weight_quant=Weight4bPo2, return_quant_tensor=True),
        qnn.QuantReLU(act_quant=Act8bUnsignedPo2, return_quant_tensor=True),
        torch.nn.Flatten(),
        qnn.QuantLinear(4 * (size - 2) ** 2, 5, bias=False, weight_quant=Weight4bPo2),
    ).eval()
    with torch.no_grad():  # channels told apart: each input channel's weights a different sign and size
        model[1].weight[:, 1] *= -1.0
        model[1].weight[:, 2] *= 3.0
    path = tmp_path / "rgb.onnx"
    export_qonnx(model, torch.rand(1, channels, size, size), export_path=str(path))
    build_dir = tmp_path / "build"
    result = run_flow("compile", "--model", str(path), "--n-samples", "50", "--out", str(build_dir), "--no-progress")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    graph = json.loads((build_dir / "graph.json").read_text())
    assert graph["input_shape"] == [1, channels, size, size] and graph["input_perm"] == [0, 2, 3, 1]
    assert "Transpose" not in graph["ops"]
    assert "nnet::transpose" not in (build_dir / "hls4ml_prj" / "firmware" / "myproject.cpp").read_text()
    report = json.loads((build_dir / "csim.json").read_text())
    assert report["csim_vs_qonnx"]["max_diff_lsb"] == 0.0
    assert np.load(build_dir / "csim_outputs.npy").std() > 0  # the noise inputs reach the output


def test_a_float_output_too_wide_for_a_stream_word_is_narrowed_in_the_project(tmp_path):
    """A float MLP (no quantizers: hls4ml's 32-bit default types, the bias Add fused into the last MatMul) sums to
    more than 64 bits; the hls4ml step
    narrows the output layer's type to one stream word, and the written project, csim and the bundle all
    have that type."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    generator = np.random.default_rng(0)
    first, second = (generator.normal(0, 0.5, shape).astype(np.float32) for shape in ((8, 6), (6, 4)))
    bias = generator.normal(0, 0.5, 4).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w0"], ["h"], name="fc0"),  # no activation between: the sums grow
         helper.make_node("MatMul", ["h", "w1"], ["m"], name="fc1"), helper.make_node("Add", ["m", "b1"], ["y"], name="add")],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(first, "w0"), numpy_helper.from_array(second, "w1"), numpy_helper.from_array(bias, "b1")])
    path = tmp_path / "mlp.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    build_dir = tmp_path / "build"
    result = run_flow("compile", "--model", str(path), "--n-samples", "20", "--out", str(build_dir), "--no-progress",
                      "--allow-overfull")  # 32-bit products: more DSPs than the board has
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    narrowed = json.loads((build_dir / "summary.json").read_text())["steps"]["hls4ml"]["output_narrowed"]
    target = narrowed.split(" -> ")[1].split(":")[0]
    assert re.fullmatch(r"fixed<64,\d+,TRN,WRAP>", target), narrowed
    defines = (build_dir / "hls4ml_prj" / "firmware" / "defines.h").read_text()
    width, integer = re.match(r"fixed<(\d+),(\d+)", target).groups()
    assert f"typedef nnet::array<ap_fixed<{width},{integer},AP_TRN,AP_WRAP,0>" in defines or \
        re.search(rf"typedef ap_fixed<{width},{integer}(,AP_TRN,AP_WRAP,0)?> result_t;", defines), defines
    report = json.loads((build_dir / "csim.json").read_text())
    assert report["output_precision"].startswith(f"fixed<{width},{integer}")
    assert report["csim_vs_qonnx"]["argmax_agreement"] == 1.0
    assert json.loads((build_dir / "summary.json").read_text())["steps"]["hls4ml"]["stream_top"].startswith("firmware/")


def test_io_parallel_build_passes_with_one_value_per_fifo_slot(tfc_build):
    assert json.loads((tfc_build / "hls_config.json").read_text())["io_type"] == "io_parallel"
    report = json.loads((tfc_build / "csim.json").read_text())["fifo_check"]
    assert report["passed"] and report["outputs_match_csim"]
    assert {name: fifo["depth"] for name, fifo in report["fifos"].items()} == {"model_in": 784, "model_out": 10, "last": 32}


def test_without_gpp_the_report_says_skipped(tfc_build, shared_dir, tmp_path, monkeypatch):
    build_dir = tmp_path / "build"
    shutil.copytree(tfc_build, build_dir)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    result = run_flow_in_process(*tfc_compile_args(shared_dir, build_dir), "--from-step", "verify")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((build_dir / "csim.json").read_text())
    assert report["fifo_check"] == {"passed": None, "status": "skipped: g++ not on PATH"} and report["passed"]
