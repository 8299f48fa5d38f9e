import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from flow.errors import FlowError
from flow.train import TrainConfig, accuracy, train
from flow.transforms import AddZeroBiasToGemm
from flow.data import load_digits_split
from flow.zoo import load_checkpoint


def test_train_writes_a_checkpoint_that_reloads_to_the_same_accuracy(tmp_path):
    path = tmp_path / "ld.pt"
    metrics = train(TrainConfig(epochs=2, out=path), show_progress=False)
    model, blob = load_checkpoint(path)
    test = load_digits_split("test")
    assert blob["arch"] == "lenet-digits" and metrics["epochs"] == 2
    assert accuracy(model, test.images, test.labels) == pytest.approx(metrics["test_accuracy"])
    assert metrics["test_accuracy"] > 0.5  # two epochs already learn digits far above chance (0.1)


def test_same_seed_same_weights(tmp_path):
    train(TrainConfig(epochs=1, out=tmp_path / "a.pt"), show_progress=False)
    train(TrainConfig(epochs=1, out=tmp_path / "b.pt"), show_progress=False)
    a, b = (torch.load(tmp_path / n, weights_only=True)["state_dict"] for n in ("a.pt", "b.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)


class Payload:
    pass


def test_checkpoint_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"arch": "lenet-digits", "state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(FlowError, match="not a flow checkpoint"):
        load_checkpoint(path)


def test_zero_bias_gemm_then_matmul_keeps_outputs():
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul

    weight = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=[onnx.numpy_helper.from_array(weight, "w")],
    )
    model = ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    x = np.random.default_rng(1).standard_normal((1, 5)).astype(np.float32)
    with pytest.raises(IndexError):  # the qonnx limitation the rewrite exists for
        ModelWrapper(model.model).transform(GemmToMatMul())
    rewritten = model.transform(AddZeroBiasToGemm()).transform(GemmToMatMul())
    assert "Gemm" not in [n.op_type for n in rewritten.graph.node]
    assert np.allclose(execute_onnx(rewritten, {"x": x})["y"], x @ weight.T, atol=1e-6)
