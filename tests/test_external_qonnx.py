"""External QONNX (FINN's TFC_2W2A) on MNIST through every step."""
import json
import re

import numpy as np

from conftest import TFC, run_flow


def test_tfc_2w2a_compiles_and_matches_qonnx(tfc_build, shared_dir, tmp_path):
    build_dir = tfc_build
    report = json.loads((build_dir / "csim.json").read_text())
    assert report["n_samples"] == 200 and report["dataset"] == "mnist-test"
    assert report["csim_vs_qonnx"]["argmax_agreement"] == 1.0
    assert report["accuracy"]["qonnx"] > 0.9  # the published model: 96.6% on MNIST
    # exact accumulators keep its output (the last rescale's, once an inferred 66 bits) within one stream word
    steps = json.loads((build_dir / "summary.json").read_text())["steps"]
    assert "output_narrowed" not in steps["hls4ml"]
    assert int(re.match(r"u?fixed<(\d+),", report["output_precision"]).group(1)) <= 64
    assert steps["hls4ml"]["stream_top"] == "firmware/flow_axis_top.cpp"
    # the board driver's whole path on the csim target, over the 200 MNIST test images compile verified on
    infer = run_flow("infer", "--bundle", str(build_dir), "--target", "csim")
    assert infer.returncode == 0, infer.stderr[-2000:]
    assert "200 inputs on csim" in infer.stdout and "bit for bit: True" in infer.stdout
    # the same third-party MLP on flow's sparse kernel, its top a dataflow region (hls4ml's default pipelined
    # top would unroll the entries walk): csim identical bit for bit
    sparse = run_flow("compile", "--model", str(shared_dir / TFC), "--data-dir", str(shared_dir / "data" / "mnist"),
                      "--n-samples", "200", "--sparse", "all", "--out", str(tmp_path / "sparse"), "--no-progress")
    assert sparse.returncode == 0, sparse.stderr[-3000:]
    assert set(json.loads((tmp_path / "sparse" / "csim.json").read_text())["kernels"].values()) == {"sparse"}
    for folder in (build_dir, tmp_path / "sparse"):
        top = (folder / "hls4ml_prj" / "firmware" / "myproject.cpp").read_text()
        any_sparse = "sparse" in json.loads((folder / "csim.json").read_text())["kernels"].values()
        assert ("#pragma HLS DATAFLOW" in top, "#pragma HLS PIPELINE" in top) == (any_sparse, not any_sparse)
    assert np.array_equal(np.load(tmp_path / "sparse" / "csim_outputs.npy"), np.load(build_dir / "csim_outputs.npy"))
