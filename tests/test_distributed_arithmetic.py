"""hls4ml's distributed_arithmetic strategy (da4ml's adder graph) on a model converted from QONNX
(flow/hls4ml/distributed_arithmetic.py), on the default digits build with its first convolution and its last
fully connected layer set to it: hls4ml 1.3's own DA pass cannot find the Dense layer's producer by its input
tensor's name, flow's pass writes its kernel instead, the project's csim is bit-exact with the build's verified
csim, and gcov counts the kernels' calls as the estimator schedules them."""
import json
import re
import shutil

import numpy as np
import pytest

from test_dense_schedule import counted, coverage_run

pytestmark = [pytest.mark.skipif(shutil.which("g++") is None or shutil.which("gcov") is None,
                                 reason="g++ or gcov not on PATH")]
CONVOLUTION = "Conv2D_Conv_0"  # after hls4ml's own zero padding, whose output is named after the node
DENSE = "Dense_MatMul_1"  # 32 x 10, after a ReLU whose output QONNX names Relu_2_out0
LAYERS = (CONVOLUTION, DENSE)


@pytest.fixture(scope="module")
def converted(default_build, tmp_path_factory):
    """The default digits build's model with LAYERS on distributed_arithmetic, compiled."""
    pytest.importorskip("da4ml")
    from flow.build import artifacts
    from flow.hls4ml.nodes import config_entry

    build_dir = tmp_path_factory.mktemp("da") / "build"
    shutil.copytree(default_build[0], build_dir, ignore=shutil.ignore_patterns("hls4ml_prj"))
    settings = json.loads((build_dir / "hls_config.json").read_text())
    sparse = settings["hls_config"]["Model"]["SparseKernels"]
    sparse["select"] = [name for name in sparse["select"] if name not in LAYERS]
    for name in LAYERS:
        entry = config_entry(settings["hls_config"], name)
        entry["Strategy"], entry["ReuseFactor"] = "distributed_arithmetic", 1
    model = artifacts.convert(build_dir, settings)
    model.compile()
    return build_dir, model


def test_hls4mls_own_pass_cannot_find_a_qonnx_layers_producer(converted):
    from hls4ml.model.optimizer.passes.bit_exact import get_input_layers  # what hls4ml's DA pass looks it up with

    from flow.hls4ml.distributed_arithmetic import producer_found

    _, model = converted
    node = model.graph[DENSE]
    assert node.get_attr("strategy") == "distributed_arithmetic" and "da_codegen" in node.attributes
    assert not producer_found(node) and node.inputs[0] not in model.graph
    with pytest.raises(AssertionError, match="not in the model"):
        get_input_layers(node)
    assert producer_found(model.graph[CONVOLUTION])  # hls4ml's own pass wrote this one


def test_flows_kernel_is_the_one_hls4mls_pass_writes(converted):
    """On the layer hls4ml's own pass could write (the convolution), flow's pass writes the same source."""
    from hls4ml.model.types import Source

    from flow.hls4ml.distributed_arithmetic import DistributedArithmeticInputs

    _, model = converted
    node = model.graph[CONVOLUTION]
    hls4mls = node.get_attr("da_codegen").code
    try:
        DistributedArithmeticInputs().transform(model, node)
        assert node.get_attr("da_codegen").code == hls4mls
    finally:
        node.set_attr("da_codegen", Source(hls4mls))


def test_the_project_is_bit_exact_with_the_verified_build(converted):
    build_dir, model = converted
    inputs = np.load(build_dir / "verify_inputs.npy")
    reference = np.load(build_dir / "csim_outputs.npy")  # the build's own csim, verified against QONNX
    outputs = np.asarray(model.predict(np.ascontiguousarray(inputs.astype(np.float32)))).reshape(reference.shape)
    assert np.array_equal(outputs, reference)
    for name in LAYERS:
        code = model.graph[name].get_attr("da_codegen").code
        assert f"dense_da_{model.graph[name].index}" in code and "#pragma HLS INLINE" in code


def test_the_kernels_run_as_the_estimator_schedules_them(converted, tmp_path):
    """One sample through the coverage build: the convolution's adder graph runs once per output pixel inside the
    line buffer's loop, which reads every input pixel (the estimated interval); the Dense one once per sample, its
    stream wrapper reading and writing its packets around it (the estimated interval is that whole process)."""
    from flow.cost.kernels import CALIBRATED, estimate_unrolled, unrolled_stages
    from flow.hls4ml.nodes import layer_shape

    build_dir, model = converted
    graph = json.loads((build_dir / "graph.json").read_text())
    run = coverage_run(build_dir / "hls4ml_prj" / "firmware", graph, tmp_path / "run")
    calls = {}
    for row in (run / "nnet_code_gen.h.gcov").read_text().splitlines():
        count, _, source = (row.split(":", 2) + ["", ""])[:3]
        match = re.match(r"void dense_da_(\d+)\(", source)
        if match:
            calls[int(match.group(1))] = 0 if count.strip() == "#####" else int(count.strip().rstrip("*"))
    convolution, dense = (model.graph[name] for name in LAYERS)
    assert set(calls) == {convolution.index, dense.index}
    shape = layer_shape(convolution)
    assert calls[convolution.index] == shape.positions == 64
    # the padded 10 x 10 input, one pixel per cycle (the ReadInputWidth loop test_dense_schedule.py counts)
    assert estimate_unrolled(shape, "io_stream").interval == shape.input_positions == 100
    shape = layer_shape(dense)
    assert calls[dense.index] == 1
    # nnet_da_wrappers.h's packet loops, one packet per iteration: the packets the estimate counts
    packets = [sum(counted(run, "nnet_da_wrappers.h", label)) for label in ("DataPrepare", "ResWrite")]
    assert sum(packets) == shape.stream_packets and all(packets)
    estimate = estimate_unrolled(shape, "io_stream")
    # the packets, the wrapper's overhead, the call's cycle, the graph's stages and its output register
    assert estimate.interval == estimate.latency == (shape.stream_packets + CALIBRATED["stream_overhead_cycles"]
                                                     + 1 + unrolled_stages(shape) + 1)
