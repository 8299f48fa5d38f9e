"""Exact accumulator types (flow/hls4ml/accumulators.py): each weight layer, cut out into its own hls4ml
project, C-simulated at every output row's worst-case input, agrees with QONNX; one integer bit less
overflows; and no tensor of a shipped model's project is wider than 32 bits."""
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from flow.build import artifacts
from flow.hls4ml.accumulators import FixedType, fixed_type_of, signed_type_for, stored
from flow.hls4ml.exact_results import EXACT_RESULTS_KEY

MAX_TENSOR_BITS = 32


def test_signed_type_for_takes_the_fewest_integer_bits():
    assert signed_type_for(-8.0, 7.75, 2) == FixedType(6, 4)  # [-8, 8 - 1/4]
    assert signed_type_for(-8.0, 7.80, 2) == FixedType(7, 5)  # 7.8 > 8 - 1/4
    assert signed_type_for(-0.25, 0.125, 3) == FixedType(4, 1)  # the sign bit stays above the point
    assert signed_type_for(0.0, 0.0, 0) == FixedType(1, 1)


def test_float_and_xnor_types_have_no_fixed_range():
    from hls4ml.model.types import FixedPrecisionType, FloatPrecisionType, IntegerPrecisionType, XnorPrecisionType

    assert fixed_type_of(FixedPrecisionType(8, 3, signed=False)) == FixedType(8, 3, False)
    assert fixed_type_of(IntegerPrecisionType(4)) == FixedType(4, 4, True)
    # hls4ml's float type has `width` and `integer` attributes too, and an xnor bit's 0 stands for -1
    assert fixed_type_of(FloatPrecisionType()) is None and fixed_type_of(XnorPrecisionType()) is None


def worst_inputs(weights: np.ndarray, shape: list[int], kind: FixedType) -> np.ndarray:
    """Per output row j, the input making its sum highest (w > 0 at the type's top, w < 0 at its bottom), then
    the one making it lowest. A convolution's pattern (filt_h, filt_w, n_chan) is tiled from the image's
    corner, so the window of output pixel (pad_top, pad_left) holds it whole."""
    n_out = weights.shape[-1]
    if len(shape) == 2:
        columns = weights.reshape(-1, n_out).T
        return np.ascontiguousarray(np.concatenate([np.where(columns > 0, kind.highest, kind.lowest),
                                                    np.where(columns > 0, kind.lowest, kind.highest)]), np.float32)
    _, height, width, _ = shape
    filt_h, filt_w = weights.shape[:2]
    rows, cols = np.arange(height)[:, None] % filt_h, np.arange(width)[None, :] % filt_w
    highest = [np.where(weights[..., j] > 0, kind.highest, kind.lowest)[rows, cols] for j in range(n_out)]
    lowest = [np.where(weights[..., j] > 0, kind.lowest, kind.highest)[rows, cols] for j in range(n_out)]
    return np.stack(highest + lowest).astype(np.float32)


def layer_at_worst_inputs(build_dir: Path, node, first: str, last: str, kernel: str, log: Path):
    """(csim outputs, QONNX outputs, the sums the worst inputs should give) of one layer's own project."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from flow.hls4ml.csim import compile_and_predict
    from flow.hls4ml.layer_projects import convert_layer, subgraph
    from flow.hls4ml.nodes import weight_layers

    kind = fixed_type_of(node.get_input_variable().type.precision)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = weight_layers(convert_layer(build_dir, node, first, last, "dense"))[0]  # the weights as a matrix
    weight, bias = dense.get_weights("weight"), dense.get_weights("bias")
    weights, above, _ = stored(weight.data, fixed_type_of(weight.type.precision))
    bias, bias_above, _ = stored(np.asarray(bias.data).reshape(-1), fixed_type_of(bias.type.precision))
    assert np.array_equal(weights, above) and np.array_equal(bias, bias_above)  # quantized: on their grids
    cut = subgraph(ModelWrapper(str(build_dir / artifacts.MODEL_CLEAN)), first, last)
    shape = cut.get_tensor_shape(first)  # a fully connected layer's cut may start before its Flatten
    conv = any(n.op_type == "Conv" for n in cut.graph.node)
    if conv:  # hls4ml may move the padding into a layer of its own; the QONNX node has it
        conv_node = next(n for n in cut.graph.node if n.op_type == "Conv")
        attributes = {a.name: list(a.ints) for a in conv_node.attribute}
        assert set(attributes.get("strides", [1])) == {1}
        top, left = attributes.get("pads", [0, 0])[:2]
    inputs = worst_inputs(weights, shape if conv else [1, int(np.prod(shape))], kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = np.concatenate([execute_onnx(cut, {first: sample.reshape(1, *shape[1:])})[last]
                                    for sample in inputs])
        project = convert_layer(build_dir, node, first, last, kernel)
        assert not isinstance(project, str), project
        simulated = np.asarray(compile_and_predict(project, inputs, log)).reshape(reference.shape)
    n_out = weights.shape[-1]
    columns = weights.reshape(-1, n_out)
    high = np.maximum(columns * kind.highest, columns * kind.lowest).sum(axis=0) + bias
    low = np.minimum(columns * kind.highest, columns * kind.lowest).sum(axis=0) + bias
    rows = np.arange(n_out)
    if conv:  # each image's own row, at its first output pixel (the window the pattern fills)
        pick = lambda out: np.concatenate([out[rows, top, left, rows], out[n_out + rows, top, left, rows]])  # noqa: E731
    else:
        pick = lambda out: np.concatenate([out[rows, rows], out[n_out + rows, rows]])  # noqa: E731
    return pick(simulated), pick(reference), np.concatenate([high, low])


# digits_sparse_build puts every layer on the sparse kernel; its per-layer projects have both kernels
CASES = {"Conv2D_Conv_0": "dense", "Conv2D_Conv_1": "sparse", "Dense_MatMul_0": "sparse", "Dense_MatMul_1": "dense"}


@pytest.fixture(scope="module")
def digits_copy(digits_sparse_build, tmp_path_factory) -> Path:
    build_dir = tmp_path_factory.mktemp("accumulators") / "build"
    shutil.copytree(digits_sparse_build, build_dir)
    shutil.rmtree(build_dir / artifacts.LAYER_PROJECTS_DIR, ignore_errors=True)
    return build_dir


def cuts(build_dir: Path):
    from flow.hls4ml.layer_projects import weight_layer_cuts

    return {node.name: (node, first, last) for node, first, last in
            weight_layer_cuts(build_dir, artifacts.load_hls_model(build_dir))}


def test_worst_case_inputs_reach_the_bound_without_overflow(digits_copy):
    layers = cuts(digits_copy)
    assert set(layers) == set(CASES)
    for name, kernel in CASES.items():
        simulated, reference, expected = layer_at_worst_inputs(digits_copy, *layers[name], kernel, digits_copy / "adv.log")
        np.testing.assert_array_equal(reference, expected, err_msg=f"{name}: QONNX is not at the worst case")
        np.testing.assert_array_equal(simulated, reference, err_msg=f"{name} ({kernel}) overflows")


def test_one_integer_bit_less_overflows(digits_copy, tmp_path):
    narrow = tmp_path / "build"
    shutil.copytree(digits_copy, narrow)
    settings = json.loads((narrow / artifacts.HLS_CONFIG).read_text())
    precision = settings["hls_config"]["LayerName"]["MatMul_0"]["Precision"]
    results = settings["hls_config"]["Model"][EXACT_RESULTS_KEY]
    # fc1's result is the QuantReLU's type merged into it (no Relu between them), so only its accumulator is pinned
    assert "Dense_MatMul_0" not in results
    width, integer = map(int, re.fullmatch(r"fixed<(\d+),(\d+)>", precision["accum"]).groups())
    precision["accum"] = f"fixed<{width - 1},{integer - 1}>"
    (narrow / artifacts.HLS_CONFIG).write_text(json.dumps(settings))
    node, first, last = cuts(narrow)["Dense_MatMul_0"]
    simulated, reference, _ = layer_at_worst_inputs(narrow, node, first, last, "sparse", narrow / "adv.log")
    assert np.any(simulated != reference)


def widest_tensor(build_dir: Path) -> tuple[int, str]:
    """The widest ap_fixed / ap_ufixed / ap_int tensor type in the project's defines.h (activation tables aside)."""
    defines = (build_dir / artifacts.PROJECT_DIR / "firmware" / "defines.h").read_text()
    widest = (0, "")
    for line in defines.splitlines():
        found = re.match(r"typedef (?:nnet::array<)?ap_u?(?:fixed|int)<(\d+)", line.strip())
        if found and "table_t" not in line and "model_default_t" not in line:
            widest = max(widest, (int(found.group(1)), line.strip()))
    return widest


def test_no_tensor_of_the_default_build_is_wider_than_32_bits(default_build):
    build_dir, _ = default_build
    width, line = widest_tensor(build_dir)
    assert width <= MAX_TENSOR_BITS, line
    summary = json.loads((build_dir / "summary.json").read_text())
    assert "output_narrowed" not in summary["steps"]["hls4ml"]


def test_the_bound_reads_the_weights_in_kernel_order_under_either_strategy(tmp_path):
    """The Resource strategy transposes a Dense layer's stored weights; the bound must follow each output's own
    column: here output 0 sums six weights of 1 (6 at the input's top), the others one each."""
    import hls4ml
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from flow.hls4ml.accumulators import exact_accumulator
    from flow.hls4ml.nodes import weight_layers

    weights = np.zeros((6, 3), np.float32)
    weights[:, 0], weights[0, 1], weights[0, 2] = 1.0, 1.0, -1.0
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                              [numpy_helper.from_array(weights, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    model = cleanup_model(ModelWrapper(str(tmp_path / "m.onnx")))
    bounds = {}
    for strategy in ("Latency", "Resource"):
        config = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend="Vitis",
                                                            default_precision="fixed<8,4>")
        config["Model"]["Strategy"] = strategy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = hls4ml.converters.convert_from_onnx_model(
                model, output_dir=str(tmp_path / strategy), backend="Vitis", io_type="io_parallel", hls_config=config)
        bounds[strategy] = exact_accumulator(weight_layers(converted)[0])
    # input fixed<8,4>: [-8, 8 - 1/16]; output 0 reaches 6 x -8 = -48: 7 integer bits; integer weights add no
    # fraction bits to the input's 4
    assert bounds["Latency"] == bounds["Resource"] == FixedType(11, 7)
