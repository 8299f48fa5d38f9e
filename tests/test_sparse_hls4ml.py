"""Sparse kernels inside real hls4ml projects: the compressed LeNet-5 equal to QONNX to the LSB, its estimates
and break-even, and the digits model's all-sparse csim equal to its dense csim, bit for bit
(bench/sparse_lenet5.py compares LeNet-5's two kernels on 1,000 images). Every test of the LeNet-5 build
is in this file, so that one test worker builds it once."""
import json
import re
import shutil

import numpy as np
import pytest
import torch

from conftest import (LENET5, LENET5_SAMPLES, assert_sparse_configs_follow_memory_json,
                      sparse_layer_configs)
from flow.sparse.encoding import choose

LENET5_LAYERS = ["Conv2D_Conv_0", "Conv2D_Conv_1", "Dense_MatMul_0", "Dense_MatMul_1"]


@pytest.fixture(scope="module")
def lenet5_sparse(lenet5_sparse_build):
    return lenet5_sparse_build  # --sparse conv2,fc1,fc2


def test_compressed_lenet5_sparse_csim_agrees_with_qonnx_on_mnist(lenet5_sparse):
    """The pruned layers on the sparse kernel, the csim equal to QONNX to the LSB on every image, and (8-bit
    activations, exact accumulators) no tensor wider than 32 bits, so the output needs no narrowing."""
    from test_accumulators import MAX_TENSOR_BITS, widest_tensor

    report = json.loads((lenet5_sparse / "csim.json").read_text())
    assert report["kernels"] == {"Conv2D_Conv_0": "dense", **{name: "sparse" for name in LENET5_LAYERS[1:]}}
    assert report["fifo_check"]["passed"]
    assert np.load(lenet5_sparse / "csim_outputs.npy").shape == (LENET5_SAMPLES, 10)
    assert report["passed"] and report["csim_vs_qonnx"]["max_diff_lsb"] == 0
    assert report["qonnx_vs_brevitas"]["max_diff_lsb"] == 0 and report["accuracy"]["csim"] > 0.97
    width, line = widest_tensor(lenet5_sparse)
    assert width <= MAX_TENSOR_BITS, line
    assert "output_narrowed" not in json.loads((lenet5_sparse / "summary.json").read_text())["steps"]["hls4ml"]


def test_the_bias_adds_fuse_into_fc1_and_fc2_and_the_input_needs_no_transpose(lenet5_sparse):
    """hls4ml fuses QONNX's bias Add into the MatMul before it while that layer's result type is unspecified; flow
    gives the exact type after the fusion, so the project has no rescale node and no FIFO in front of one, and
    each fully connected layer adds its own (non-zero) biases. The graph input is channels-last, so nothing
    transposes the image. No Relu is left: each came before an unsigned QuantReLU quantizer, which clips at 0
    itself, and the qonnx step removes it."""
    firmware = lenet5_sparse / "hls4ml_prj" / "firmware"
    top = (firmware / "myproject.cpp").read_text()
    calls = [line.split("(")[0].split("<")[0].strip() for line in top.splitlines() if line.strip().startswith("nnet::")]
    calls = [call for call in calls if call != "nnet::load_weights_from_txt"]
    assert calls == ["nnet::conv_2d_cl", "nnet::pooling2d_cl", "nnet::conv_2d_cl", "nnet::pooling2d_cl",
                     "nnet::sparse_dense", "nnet::sparse_dense"]
    nodes = json.loads((lenet5_sparse / "estimates.json").read_text())["design"]["nodes"]
    assert not [node["name"] for node in nodes if node["kind"] in ("rescale", "transpose")]
    state = torch.load(LENET5, weights_only=True)["state_dict"]
    for layer, key in (("Dense_MatMul_0", "fc1.bias"), ("Dense_MatMul_1", "fc2.bias")):
        variable = re.search(rf"\(\w+, \w+, \w+, (\w+)\); // {layer}\n", top).group(1)
        stored = np.loadtxt(firmware / "weights" / f"{variable}.txt", delimiter=",")
        assert np.count_nonzero(stored) > 0 and stored.size == state[key].numel(), layer
        np.testing.assert_allclose(stored, state[key].numpy(), atol=2.0 ** -5)  # the Add's bias, on its grid


def test_sparse_project_really_uses_the_sparse_kernel(lenet5_sparse):
    firmware = lenet5_sparse / "hls4ml_prj" / "firmware"
    assert (firmware / "nnet_utils" / "nnet_sparse.h").is_file()
    assert (firmware / "parameters.h").read_text().count("using kernel = nnet::SparseDense") == 3
    configs = sparse_layer_configs(lenet5_sparse)
    assert sorted(name for name, config in configs.items() if config["function"] == "sparse_dense") == LENET5_LAYERS[2:]
    assert_sparse_configs_follow_memory_json(lenet5_sparse, configs)
    assert {config["kernel"]["storage"] for config in configs.values()} == {"nnet::sparse_bram"}


def test_compressed_lenet5_weights_fit_pynq_z2_and_memory_matches_the_encoder(lenet5_sparse):
    sparse_memory = json.loads((lenet5_sparse / "memory.json").read_text())
    assert sparse_memory["fits"] and sparse_memory["bram18_budget"] == 280
    layers = {layer["name"]: layer for layer in sparse_memory["layers"]}
    assert sparse_memory["total"]["bram18"] < sum(layer["dense"]["bram18"] for layer in layers.values())
    assert sum(layer["nonzeros"] for layer in layers.values()) == 2811  # 153x, the progressive joint recipe's keep counts
    for layer in layers.values():
        assert layer["sparse"]["bits"] < layer["dense"]["bits"]
    # the conv layers' bits, recomputed from the checkpoint in hls4ml's (kh, kw, c_in, c_out) order
    state = torch.load(LENET5, weights_only=True)["state_dict"]
    for name, key in (("Conv2D_Conv_0", "conv1.weight"), ("Conv2D_Conv_1", "conv2.weight")):
        weight = state[key].numpy()
        matrix = weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
        assert layers[name]["sparse"]["bits"] == choose(matrix).total_bits
        assert layers[name]["nonzeros"] == np.count_nonzero(matrix)


def test_digits_model_all_sparse_on_several_pes_equals_its_dense_build(default_build, digits_sparse_build):
    dense_dir, _ = default_build
    report = json.loads((digits_sparse_build / "csim.json").read_text())
    assert set(report["kernels"].values()) == {"sparse"} and report["passed"] and report["fifo_check"]["passed"]
    pes = [layer["pes"] for layer in json.loads((digits_sparse_build / "memory.json").read_text())["layers"]]
    assert pes == [1, 16, 16, 5]
    assert np.array_equal(np.load(digits_sparse_build / "csim_outputs.npy"), np.load(dense_dir / "csim_outputs.npy"))


def test_compressed_lenet5_build_reports_estimates_and_break_even(lenet5_sparse_build, shared_dir, tmp_path):
    from conftest import lenet5_compile_args, run_flow

    out = tmp_path / "build"
    shutil.copytree(lenet5_sparse_build, out)  # the forced rebuild below must leave the shared build as it was
    estimates = json.loads((out / "estimates.json").read_text())
    assert estimates["basis"].startswith("estimator")
    assert estimates["fits"] == (not estimates["design"]["over_budget"])  # judged on the whole design
    assert (out / "breakeven.png").stat().st_size > 10_000
    # the build's rate is its slowest layer's, conv2's sparse walk (92,368 cycles): that slow, every layer is
    # pruned beyond its break-even (conv1, fc1 and fc2 unpruned already, conv2 beyond 26%), so the break-even rule
    # would put conv1 on the sparse kernel too
    layers = estimates["layers"]
    built = max(layer[layer["kernel"]]["estimate"]["interval"] for layer in layers)
    assert built == layers[1]["sparse"]["estimate"]["interval"]
    assert [layer["break_even"]["at_build_rate"] for layer in layers] == [0.0, 0.2638, 0.0, 0.0]
    for layer in layers:
        even = layer["break_even"]
        assert built in [rate["interval"] for rate in even["rates"]]
        assert even["rates"][0]["break_even_portion"] is None  # no sparse kernel is as fast as Latency at RF 1
        assert layer["beyond_break_even"] and "equal_dsp" not in layer
    assert estimates["layers_to_switch"] == ["Conv2D_Conv_0"]
    assert estimates["rebuild_sparse"] == ",".join(layer["name"] for layer in layers)
    report = run_flow("report", str(out))
    assert report.returncode == 0 and "break-even" in report.stdout
    text = (out / "report.md").read_text()
    assert "![break-even pruned portion per layer and target rate](breakeven.png)" in text
    # four pictures beside report.md, named by `flow report`: the pinned build's design space among them
    pictures = re.findall(r"\]\((\w+\.png)\)", text)
    assert sorted(pictures) == ["breakeven.png", "layers.png", "pareto.png", "resources.png"]
    assert all((out / name).stat().st_size > 10_000 and name in report.stdout for name in pictures)
    assert "| Conv2D_Conv_1 | sparse |" in text
    assert f"--from-step hls4ml --sparse {estimates['rebuild_sparse']}" in text
    # pinned against the rule: conv1 and conv2 sparse, fc1 and fc2 dense, named as the checkpoint names them
    forced = run_flow(*lenet5_compile_args(shared_dir, out, "--from-step", "hls4ml", "--to-step", "estimate",
                                           "--sparse", "conv1,conv2"))
    assert forced.returncode == 0, forced.stderr[-3000:]
    # stopped after the estimate: the earlier build's later artifacts are gone, not left to look like this one's
    assert list(json.loads((out / "summary.json").read_text())["steps"])[-1] == "estimate"
    assert not (out / "csim.json").exists() and not (out / "bundle").exists()
    estimates = json.loads((out / "estimates.json").read_text())
    kernels = {layer["name"]: layer["kernel"] for layer in estimates["layers"]}
    assert [name for name, kernel in kernels.items() if kernel == "sparse"] == list(kernels)[:2]
    assert estimates["layers_to_switch"] == list(kernels)[2:]


def test_compressed_lenet5_takes_at_most_70_percent_of_every_pynq_z2_resource(lenet5_sparse_build):
    """The issue's target for the shipped LeNet-5: the whole design at the implementation level."""
    estimates = json.loads((lenet5_sparse_build / "estimates.json").read_text())
    placed, budget = estimates["design"]["levels"]["implementation"], estimates["budget"]
    shares = {resource: placed[resource] / budget[resource] for resource in ("dsp", "bram18", "lut", "ff")}
    assert max(shares.values()) <= 0.70, shares
    assert estimates["fits"] and not estimates["design"]["not_modelled"]


def test_a_sparse_layer_counts_its_partitioned_arrays(lenet5_sparse_build):
    """hls/nnet_sparse.h's stream wrapper fully partitions data[n_in] and res[n_out], and a sparse convolution's
    output buffer (nnet_conv_stream.h) res_out[n_filt]: all registers, so each sparse layer's FFs hold at least
    their bits."""
    from flow.build.artifacts import load_hls_model

    nodes = {node["name"]: node for node in
             json.loads((lenet5_sparse_build / "estimates.json").read_text())["design"]["nodes"]}
    sparse = [node for node in load_hls_model(lenet5_sparse_build).get_layers() if node.class_name.startswith("Sparse")]
    assert [node.name for node in sparse] == ["Conv2D_Conv_1", "Dense_MatMul_0", "Dense_MatMul_1"]
    for node in sparse:
        outputs = node.get_attr("n_out", node.get_attr("n_filt")) * node.get_output_variable().type.precision.width
        inputs = node.get_attr("n_in") * node.get_input_variable().type.precision.width if "Dense" in node.class_name else 0
        assert nodes[node.name]["ff"] >= inputs + outputs, node.name
