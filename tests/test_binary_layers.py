"""Binary (xnor) layers as hls4ml 1.3 builds them with flow's corrections: a binary Dense after a threshold computes
whole dot products of 0/1 bits (hls4ml's QuantizeDenseOutput), which flow must neither quantize twice, nor count as
pruned, nor give a threshold its type cannot hold. FINN's TFC_1W1A from ../shared and small
binary MLPs built here (one hidden neuron: the narrowest threshold type)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_flow_in_process

TFC_1W1A = "reference/onnx/qonnx_model_zoo/MNIST__Brevitas_FINN_TFC__TFC__TFC_1W1A.onnx"
QONNX_DOMAIN = "qonnx.custom_op.general"


def binary_mlp(path, widths: list[int], means: list[list[float]]) -> None:
    """x -> BipolarQuant, then per layer MatMul(+-1 weights) -> BatchNormalization(means) -> BipolarQuant: FINN's
    binarized MLP. A batch norm of scale s > 0 and mean m is +1 where the dot product is >= m."""
    rng = np.random.default_rng(0)
    initializers, nodes = [], []

    def constant(name, value):
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    one = constant("one", 1.0)
    nodes.append(helper.make_node("BipolarQuant", ["x", one], ["a0"], domain=QONNX_DOMAIN))
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        weights = constant(f"w{i}", np.where(rng.random((n_in, n_out)) < 0.5, -1.0, 1.0))
        norm = [constant(f"bn{i}_{part}", value) for part, value in (
            ("scale", np.linspace(0.5, 2.0, n_out)), ("bias", np.zeros(n_out)), ("mean", means[i]),
            ("var", np.ones(n_out)))]
        nodes += [helper.make_node("BipolarQuant", [weights, one], [f"wq{i}"], domain=QONNX_DOMAIN),
                  helper.make_node("MatMul", [f"a{i}", f"wq{i}"], [f"dot{i}"]),
                  helper.make_node("BatchNormalization", [f"dot{i}", *norm], [f"norm{i}"], epsilon=0.0),
                  helper.make_node("BipolarQuant", [f"norm{i}", one], [f"a{i + 1}"], domain=QONNX_DOMAIN)]
    graph = helper.make_graph(nodes, "binary_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                  [1, widths[0]])],
                              [helper.make_tensor_value_info(f"a{len(widths) - 1}", TensorProto.FLOAT,
                                                             [1, widths[-1]])], initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11),
                                                      helper.make_opsetid(QONNX_DOMAIN, 1)]), str(path))


def convert_step(model, out):
    return run_flow_in_process("compile", "--model", str(model), "--input-range=-1,1,2", "--to-step", "hls4ml",
                               "--out", str(out), "--no-progress")


def test_a_threshold_no_sum_of_one_binary_input_reaches_is_refused_inside_the_model(tmp_path):
    """One hidden neuron: the next Dense sums one +-1 product, whose type hls4ml makes int<2>. A threshold of 2 (-1
    whatever the input) wraps there to -2 (+1 whatever the input): csim was 2 LSB off qonnx before flow refused it.
    At the model's output the threshold is compared as > 1, which int<2> holds, so the same layer converts."""
    inside = tmp_path / "inside.onnx"
    binary_mlp(inside, [4, 1, 2, 2], [[0.0], [1.5, 0.0], [0.0, 0.0]])
    result = convert_step(inside, tmp_path / "inside")
    assert result.returncode == 2
    assert "channel 0 is -1 at every sum of the 1 binary input(s) of 'Dense_MatMul_1'" in result.stderr
    assert "int<2>" in result.stderr and "Traceback" not in result.stderr
    at_output = tmp_path / "at_output.onnx"
    binary_mlp(at_output, [4, 1, 2], [[0.0], [1.5, 0.0]])
    assert convert_step(at_output, tmp_path / "at_output").returncode == 0
    two_inputs = tmp_path / "two_inputs.onnx"  # sums -2, 0, 2 in int<3>: a threshold of 3 fits
    binary_mlp(two_inputs, [4, 2, 2, 2], [[0.0, 0.0], [2.5, 0.0], [0.0, 0.0]])
    assert convert_step(two_inputs, tmp_path / "two_inputs").returncode == 0


@pytest.fixture(scope="module")
def tfc_1w1a_clean(shared_dir, tmp_path_factory):
    """TFC_1W1A after flow's qonnx step (cleaned, ready for hls4ml)."""
    build_dir = tmp_path_factory.mktemp("tfc_1w1a")
    result = run_flow_in_process("compile", "--model", str(shared_dir / TFC_1W1A), "--to-step", "qonnx",
                                 "--out", str(build_dir), "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir / "model_clean.onnx"


def convert(model, output_dir):
    import hls4ml

    from flow.hls4ml import register

    register("Vitis")
    config = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend="Vitis")
    return hls4ml.converters.convert_from_onnx_model(model, hls_config=config, backend="Vitis",
                                                     output_dir=str(output_dir))


def test_binary_dense_layers_become_whole_dot_products_once_and_none_of_their_weights_counts_as_pruned(
        tfc_1w1a_clean, tmp_path):
    from hls4ml.backends.vivado.passes.bn_quant import QuantizeDenseOutput
    from hls4ml.model.optimizer import get_optimizer
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.hls4ml.kernel_selection import layer_menus, sparse_layers
    from flow.hls4ml.nodes import is_xnor, layer_shape

    model = convert(ModelWrapper(str(tfc_1w1a_clean)), tmp_path / "prj")
    xnor = [node for node in model.get_layers() if node.class_name == "Dense" and is_xnor(node)]
    assert [node.name for node in xnor] == [f"Dense_MatMul_{i}" for i in range(4)]  # the input is thresholded too
    menus = layer_menus(model, "io_parallel")
    once = get_optimizer("flow:quantize_dense_output_once")
    for node in xnor:
        bits = np.array(node.get_weights("weight").data)
        assert set(np.unique(bits)) == {0, 1}
        shape = layer_shape(node)
        assert shape.nonzeros == shape.n_in * shape.n_out  # an xnor 0 is -1, not a pruned weight
        assert {candidate.kernel for candidate in menus[node.name]}.isdisjoint({"sparse"})
        assert not once.match(node)  # a rerun of hls4ml's flow leaves the layer as it is
    assert sparse_layers("all", model, []) == []  # --sparse all: every layer that has pruned weights
    # hls4ml's own pass matches the finished layer again and quantizes its bits once more, to all 1s
    layer = xnor[0]
    assert QuantizeDenseOutput().match(layer)
    QuantizeDenseOutput().transform(model, layer)
    assert np.all(np.array(layer.get_weights("weight").data) == 1)



def test_the_sparse_kernel_is_refused_for_a_binary_layer_in_one_line(shared_dir, tmp_path):
    """Its xnor 0 bits are -1 weights, not pruned ones; the sparse kernel would drop them."""
    result = run_flow_in_process("compile", "--model", str(shared_dir / TFC_1W1A), "--sparse", "Dense_MatMul_2",
                                 "--to-step", "hls4ml", "--out", str(tmp_path / "build"), "--no-progress")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: --sparse names Dense_MatMul_2, a binary layer of xnor products")
    assert not (tmp_path / "build" / "hls_config.json").exists()

