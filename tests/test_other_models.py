"""Other people's QONNX models from ../shared (FINN, hls4ml, MLPerf Tiny, the QONNX model zoo): each compiles and
its csim equals qonnx's execution, on its own kind of input. FINN's TFC_2W2A has its own file
(test_external_qonnx.py). The two keyword-spotting MLPs, the jet tagger and FINN's TFC_1W2A are built whole only
by bench/external_models.py (all nine, 500 inputs each, every step): their builds would take the suite past its
20 minutes. Here the keyword-spotting MLP's hls4ml conversion, which hls4ml 1.3 cannot do alone, and the
rescale constant types they need are tested on their own."""
import json

import numpy as np
import pytest

from conftest import run_flow_in_process

ZOO = "reference/onnx/qonnx_model_zoo"
SAMPLES = 12  # the per-model bench compares 500
# name -> (file under ../shared, extra flags, how csim.json names the inputs)
MODELS = {
    "TFC_1W1A": (f"{ZOO}/MNIST__Brevitas_FINN_TFC__TFC__TFC_1W1A.onnx", ["--data-dir", "{shared}/data/mnist"],
                 "mnist-test"),
    "UNSW_NB15": (f"{ZOO}/UNSW_NB15__unsw_nb15_mlp_w2a2__unsw_nb15-mlp-w2a2.onnx", ["--input-range=-1,1,2"],
                  "random-grid[-1..1 step 2] (--input-range"),
    "bnn_fc_1layer": ("reference/onnx/hls4ml_example-models/bnn_model_fc_1layer.onnx", [],
                      "random-grid[-1..1 step 2] (the grid of input Quant 'BipolarQuant_0'"),
    "conv2d_small": ("reference/onnx/hls4ml_example-models/conv2d_small_keras.onnx", [],
                     "uniform-random[0,1) (no input Quant"),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_compiles_and_csim_equals_qonnx(name, shared_dir, tmp_path):
    path, extra, dataset = MODELS[name]
    build_dir = tmp_path / name
    result = run_flow_in_process("compile", "--model", str(shared_dir / path),
                                 *[arg.format(shared=shared_dir) for arg in extra], "--n-samples", str(SAMPLES),
                                 "--allow-overfull", "--to-step", "verify", "--out", str(build_dir), "--no-progress")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((build_dir / "csim.json").read_text())
    assert report["passed"] and report["dataset"].startswith(dataset)
    assert report["csim_vs_qonnx"]["argmax_agreement"] == 1.0
    if report["lsb_bound_enforced"]:  # the model ends on a quantizer: csim is qonnx's value itself
        assert report["csim_vs_qonnx"]["max_diff_lsb"] == 0.0
    assert report["fifo_check"]["passed"], report["fifo_check"]
    outputs = np.load(build_dir / "csim_outputs.npy")
    if name in ("UNSW_NB15", "bnn_fc_1layer"):  # a BipolarQuant output leaves as -1 / +1, not an xnor 0 / 1
        assert report["output_precision"] == "int<2>" and set(np.unique(outputs)) == {-1.0, 1.0}
    else:
        assert len(np.unique(outputs.argmax(1))) > 1  # the inputs reach the output


def test_an_argmax_between_outputs_float32_holds_equal_is_a_tie_not_a_disagreement():
    """MLPerf Tiny KWS, one of 500 inputs: csim's logits for classes 2 and 11 are equal in its exact fixed-point
    sum, and qonnx's float32 puts class 11 four ulps higher. That is a tie; a class a real step below is not."""
    from flow.build.steps.verify import compare

    reference = np.array([[0.84493649, 1.73434353, 1.73434401, 10.873], [0.5, 1.0, 3.0, 10.873]])
    tied = np.array([[0.84493673, 1.73434389, 1.73434389, 10.873], [0.5, 1.0, 3.0, 10.873]])
    tied[:, 3] = -1.0  # the largest magnitude is no logit's: it only sets the scale
    reference[:, 3] = -10.873
    result = compare(tied, reference, lsb=2.0**-16)
    assert result["argmax_agreement"] == 0.5 and result["argmax_ties"] == 1
    assert result["argmax_agreement_beyond_ties"] == 1.0
    wrong = tied.copy()
    wrong[1] = [0.5, 3.5, 3.0, -1.0]  # picks class 1, 2.0 below the reference's best
    assert compare(wrong, reference, lsb=2.0**-16)["argmax_agreement_beyond_ties"] == 0.5


def prepared_and_converted(model_path, build_dir):
    """The model after flow's qonnx step (its build dir) and hls4ml's conversion of it with flow's passes."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper

    from flow.hls4ml import register

    result = run_flow_in_process("compile", "--model", str(model_path), "--to-step", "qonnx", "--out", str(build_dir),
                                 "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    register("Vitis")
    model = ModelWrapper(str(build_dir / "model_clean.onnx"))
    config = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend="Vitis")
    return hls4ml.converters.convert_from_onnx_model(model, hls_config=config, backend="Vitis",
                                                     output_dir=str(build_dir / "prj"))


def test_a_per_channel_weight_scale_converts_and_moves_below_the_matmul(shared_dir, tmp_path):
    """GSCV2's QuantLinear weights have one scale per output channel. hls4ml 1.3 broadcasts it over the whole
    weight matrix and cannot move it below the MatMul, and its conversion ends in an IndexError; with flow's pass
    every Dense holds the integer codes and the scale is a rescale after it."""
    build_dir = tmp_path / "build"
    converted = prepared_and_converted(shared_dir / ZOO / "GSCV2__kwsmlp_w3a3__kwsmlp_w3a3.onnx", build_dir)
    # verify's default inputs for it: the 8-bit narrow input Quant's grid, -127..127 steps of its scale
    graph = json.loads((build_dir / "graph.json").read_text())
    quant = graph["input_quant"]
    assert quant["node"] == "Quant_0" and np.allclose(quant["grid"], [-127 * 0.8298504, 127 * 0.8298504, 0.8298504])
    # its quantizers round after non-power-of-two scales and batch norms: verify's --float32-rescales hint names them
    assert graph["rescaled_quantizers"] == ["Quant_0", "Quant_5", "Quant_6", "Quant_7"]
    dense = [node for node in converted.get_layers() if node.class_name == "Dense"]
    assert len(dense) == 4
    for node in dense:
        weights = node.get_weights("weight").data
        assert np.array_equal(weights, np.round(weights)) and np.abs(weights).max() <= 3  # 3-bit narrow codes


def test_the_jet_tagger_and_tfc_1w2a_convert_as_the_bench_builds_them(shared_dir, tmp_path):
    """Both are verified whole (500 inputs) by bench/external_models.py only; here the conversion that build
    starts from. The jet tagger's QuantReLUs lose their Relus (its unsigned Quants clip at 0) and its softmax
    (the build outputs logits); TFC_1W2A's binary weights, before 2-bit activations and no threshold, are -1/+1
    signed integers in ordinary products, not hls4ml's xnor bits."""
    from flow.hls4ml.nodes import is_xnor

    jet = prepared_and_converted(shared_dir / ZOO / "JetTagging__QKeras_hls4ml_3layer__qkeras_jettagging.onnx",
                                 tmp_path / "jet")
    steps = json.loads((tmp_path / "jet" / "summary.json").read_text())["steps"]
    assert steps["qonnx"]["relus_before_unsigned_quant_removed"] == 3
    assert steps["qonnx"]["output_softmax_removed"] == ["Softmax_0"]
    assert not [node.name for node in jet.get_layers() if node.get_attr("activation") in ("relu", "softmax")]
    tfc = prepared_and_converted(shared_dir / ZOO / "MNIST__Brevitas_FINN_TFC__TFC__TFC_1W2A.onnx", tmp_path / "tfc")
    dense = [node for node in tfc.get_layers() if node.class_name == "Dense"]
    assert len(dense) == 4
    for node in dense:
        weights = node.get_weights("weight")
        assert not is_xnor(node) and set(np.unique(weights.data)) == {-1, 1}
        assert str(weights.type.precision) == "int<2>"


def test_rescale_constants_get_the_integer_bits_they_need_and_float32_bits_on_request():
    from hls4ml.model.types import FixedPrecisionType

    from flow.hls4ml.rescale_types import constant_type

    scales = np.array([139644.0, 0.0123], dtype=np.float32).astype(np.float64)  # UNSW's largest; a small one
    wide = constant_type(scales, default_fraction=16, float32=False)
    assert wide.width - wide.integer == 16 and 2.0 ** (wide.integer - 1) > 139644  # fixed<32,16> would wrap
    precise = constant_type(scales, default_fraction=16, float32=True)
    assert precise.width - precise.integer > 16  # 0.0123 in float32 needs 26 fraction bits
    step = 2.0 ** -(precise.width - precise.integer)
    assert np.array_equal(np.round(scales / step) * step, scales)  # float32 values held exactly
    assert isinstance(precise, FixedPrecisionType)
