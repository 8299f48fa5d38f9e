"""flow's own QONNX rewrites (flow/frontends/qonnx_transforms.py), against qonnx execution."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from flow.frontends.qonnx_transforms import AddZeroBiasToGemm


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
