"""hls4ml's distributed_arithmetic strategy on a model converted from QONNX (flow/hls4ml/distributed_arithmetic.py):
hls4ml 1.3's own DA pass cannot find a QONNX layer's producer by its input tensor's name, flow's pass writes the
kernel instead, and the project's csim is bit-exact with the build's verified csim."""
import json
import shutil

import numpy as np
import pytest

pytestmark = [pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")]
LAYER = "Dense_MatMul_1"  # the digits model's last layer (32 x 10), after a ReLU whose output QONNX names Relu_2_out0


@pytest.fixture(scope="module")
def converted(default_build, tmp_path_factory):
    """The default digits build's model with its last fully connected layer on distributed_arithmetic."""
    pytest.importorskip("da4ml")
    from flow.build import artifacts
    from flow.hls4ml.nodes import config_entry

    build_dir = tmp_path_factory.mktemp("da") / "build"
    shutil.copytree(default_build[0], build_dir, ignore=shutil.ignore_patterns("hls4ml_prj"))
    settings = json.loads((build_dir / "hls_config.json").read_text())
    sparse = settings["hls_config"]["Model"]["SparseKernels"]
    sparse["select"] = [name for name in sparse["select"] if name != LAYER]
    entry = config_entry(settings["hls_config"], LAYER)
    entry["Strategy"], entry["ReuseFactor"] = "distributed_arithmetic", 1
    return build_dir, artifacts.convert(build_dir, settings)


def test_hls4mls_own_pass_cannot_find_a_qonnx_layers_producer(converted):
    from hls4ml.model.optimizer.passes.bit_exact import get_input_layers  # what hls4ml's DA pass looks it up with

    from flow.hls4ml.distributed_arithmetic import producer_found

    _, model = converted
    node = model.graph[LAYER]
    assert node.get_attr("strategy") == "distributed_arithmetic" and "da_codegen" in node.attributes
    assert not producer_found(node) and node.inputs[0] not in model.graph
    with pytest.raises(AssertionError, match="not in the model"):
        get_input_layers(node)


def test_flows_kernel_is_bit_exact_with_the_verified_build(converted):
    build_dir, model = converted
    model.compile()
    inputs = np.load(build_dir / "verify_inputs.npy")
    reference = np.load(build_dir / "csim_outputs.npy")  # the build's own csim, verified against QONNX
    outputs = np.asarray(model.predict(np.ascontiguousarray(inputs.astype(np.float32)))).reshape(reference.shape)
    assert np.array_equal(outputs, reference)
    code = model.graph[LAYER].get_attr("da_codegen").code
    assert f"dense_da_{model.graph[LAYER].index}" in code and "#pragma HLS INLINE" in code
