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


ONNX_DIR = "reference/onnx"


def _run(model, x: np.ndarray) -> np.ndarray:
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]


def test_default_domain_quant_gets_qonnx_domain_and_rounding_mode(shared_dir):
    """MLPerf Tiny's KWS model: Quant nodes in the default domain without rounding_mode, as older Brevitas wrote
    them; hls4ml 1.3 reads rounding_mode unconditionally. qonnx executes both forms alike (ROUND is its default)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from flow.frontends.qonnx_transforms import QuantOpsToQonnxDomain

    model = ModelWrapper(str(shared_dir / ONNX_DIR / "mlperf_tiny_KWS-W3A3_QONNX_model.onnx"))
    assert not any(a.name == "rounding_mode" for n in model.graph.node if n.op_type == "Quant" for a in n.attribute)
    fixed = model.transform(QuantOpsToQonnxDomain())
    quants = [n for n in fixed.graph.node if n.op_type == "Quant"]
    assert len(quants) == 8 and {n.domain for n in quants} == {"qonnx.custom_op.general"}
    assert all(any(a.name == "rounding_mode" and a.s == b"ROUND" for a in n.attribute) for n in quants)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 10, 49)).astype(np.float32)
    before, after = cleanup_model(model), cleanup_model(fixed)
    assert all(np.array_equal(_run(before, x[i:i + 1]), _run(after, x[i:i + 1])) for i in range(len(x)))


def test_no_op_and_output_softmax_removal_keep_the_logits(shared_dir):
    """hls4ml's conv2d_small example: an Identity inside, a Softmax at the output."""
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.frontends.qonnx_transforms import RemoveNoOpNodes, RemoveOutputSoftmax

    model = ModelWrapper(str(shared_dir / ONNX_DIR / "hls4ml_example-models" / "conv2d_small_keras.onnx"))
    x = np.random.default_rng(0).uniform(0, 1, model.get_tensor_shape(model.graph.input[0].name)).astype(np.float32)
    no_ops, softmax = RemoveNoOpNodes(), RemoveOutputSoftmax()
    rewritten = model.transform(no_ops).transform(softmax)
    assert len(no_ops.removed) == 1 and len(softmax.removed) == 1
    assert not {"Identity", "Softmax"} & {n.op_type for n in rewritten.graph.node}
    logits = _run(rewritten, x)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    assert np.allclose(exp / exp.sum(axis=-1, keepdims=True), _run(model, x), atol=1e-6)


GSCV2 = "qonnx_model_zoo/GSCV2__kwsmlp_w3a3__kwsmlp_w3a3.onnx"


def test_relu_before_unsigned_quant_removal_keeps_outputs(shared_dir):
    """The GSCV2 keyword-spotting MLP: BatchNorm -> Relu -> unsigned 3-bit Quant, three times. The Quant clips to
    [0, 7] steps itself, so without the Relus the model gives the same outputs on inputs far past its range."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from flow.frontends.qonnx_transforms import QuantOpsToQonnxDomain, RemoveReluBeforeUnsignedQuant

    model = cleanup_model(ModelWrapper(str(shared_dir / ONNX_DIR / GSCV2)).transform(QuantOpsToQonnxDomain()))
    removal = RemoveReluBeforeUnsignedQuant()
    rewritten = model.transform(removal)
    assert len(removal.removed) == 3 and "Relu" not in [n.op_type for n in rewritten.graph.node]
    x = np.random.default_rng(0).uniform(-300, 300, (6, 1, 10, 49)).astype(np.float32)
    assert all(np.array_equal(_run(model, x[i:i + 1]), _run(rewritten, x[i:i + 1])) for i in range(len(x)))


def test_relu_before_a_signed_quant_stays(shared_dir):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from flow.frontends.qonnx_transforms import QuantOpsToQonnxDomain, RemoveReluBeforeUnsignedQuant

    model = cleanup_model(ModelWrapper(str(shared_dir / ONNX_DIR / GSCV2)).transform(QuantOpsToQonnxDomain()))
    for node in model.graph.node:
        if node.op_type == "Quant":
            next(a for a in node.attribute if a.name == "signed").i = 1
    removal = RemoveReluBeforeUnsignedQuant()
    model.transform(removal)
    assert removal.removed == []
