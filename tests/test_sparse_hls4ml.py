"""Sparse kernels inside real hls4ml projects: the compressed LeNet-5 equal to QONNX to the LSB, and the
digits model's all-sparse csim equal to its dense csim, bit for bit (bench/sparse_lenet5.py compares
LeNet-5's two kernels on 1,000 images)."""
import json
import re

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
    transposes the image."""
    firmware = lenet5_sparse / "hls4ml_prj" / "firmware"
    top = (firmware / "myproject.cpp").read_text()
    calls = [line.split("(")[0].split("<")[0].strip() for line in top.splitlines() if line.strip().startswith("nnet::")]
    calls = [call for call in calls if call != "nnet::load_weights_from_txt"]
    assert calls == ["nnet::conv_2d_cl", "nnet::relu", "nnet::pooling2d_cl", "nnet::conv_2d_cl", "nnet::relu",
                     "nnet::pooling2d_cl", "nnet::sparse_dense", "nnet::relu", "nnet::sparse_dense"]
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
