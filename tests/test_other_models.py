"""Other people's QONNX models from ../shared (FINN, hls4ml, MLPerf Tiny, the QONNX model zoo): each compiles and
its csim equals qonnx's execution, on its own kind of input. FINN's TFC_2W2A has its own file
(test_external_qonnx.py); bench/external_models.py runs all seven with more samples and every step."""
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
    "JetTagging": (f"{ZOO}/JetTagging__QKeras_hls4ml_3layer__qkeras_jettagging.onnx", ["--input-range=-3,3"],
                   "uniform-random[-3,3) (--input-range"),
    "GSCV2_kwsmlp": (f"{ZOO}/GSCV2__kwsmlp_w3a3__kwsmlp_w3a3.onnx", ["--float32-rescales"],
                     "random-grid[-105.391..105.391 step 0.82985] (the grid of input Quant"),
    "UNSW_NB15": (f"{ZOO}/UNSW_NB15__unsw_nb15_mlp_w2a2__unsw_nb15-mlp-w2a2.onnx", ["--input-range=-1,1,2"],
                  "random-grid[-1..1 step 2] (--input-range"),
    "MLPerf_Tiny_KWS": ("reference/onnx/mlperf_tiny_KWS-W3A3_QONNX_model.onnx", ["--float32-rescales"],
                        "random-grid[-42.7663..42.7663 step 0.336742] (the grid of input Quant"),
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
    elif "--float32-rescales" in extra:  # float logits, computed as precisely as qonnx's float32
        assert report["csim_vs_qonnx"]["max_abs_diff"] < 1e-4
    assert report["fifo_check"]["passed"], report["fifo_check"]
    outputs = np.load(build_dir / "csim_outputs.npy")
    if name == "UNSW_NB15":  # a BipolarQuant output leaves as -1 / +1 (hls4ml's xnor bit would say 0 / 1)
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
