"""Fit enforced: a design over the board's budget stops after the estimate, unless --allow-overfull."""
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conftest import run_flow_in_process
from test_bad_input import assert_one_line_exit_2


def float_dense_model(path, n_in=16, n_out=64):
    """A float MatMul: hls4ml gives it the default fixed<32,16>, so each of its 1,024 products takes 4 DSPs
    (32 x 32 bits), about 17x the PYNQ-Z2's 220, while its weights (32 Kbit) fit the block RAM."""
    weights = numpy_helper.from_array(np.random.default_rng(0).uniform(-1, 1, (n_in, n_out)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])], [weights])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_an_overfull_design_is_refused_before_csim_and_built_with_allow_overfull(tmp_path):
    model, out = tmp_path / "wide.onnx", tmp_path / "b"
    float_dense_model(model)
    # kernels pinned (Latency at RF 1 everywhere): the chooser would fold the layers into the board
    compile_args = ["compile", "--model", str(model), "--out", str(out), "--n-samples", "4", "--sparse", "none",
                    "--no-progress"]
    refused = run_flow_in_process(*compile_args)
    assert_one_line_exit_2(refused, "does not fit pynq-z2", "DSP", "of 220", "reuse factor", "--allow-overfull")
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["steps"])[-2:] == ["estimate", "fit"] and summary["steps"]["fit"]["status"] == "failed"
    estimates = json.loads((out / "estimates.json").read_text())
    assert not estimates["fits"] and estimates["design"]["over_budget"][0]["resource"] == "dsp"
    assert not (out / "csim_outputs.npy").exists() and not (out / "bundle").exists()

    # the flag is read first by the fit step, so --from-step fit may change it; the build then runs to the bundle
    built = run_flow_in_process(*compile_args, "--from-step", "fit", "--allow-overfull")
    assert built.returncode == 0, built.stderr[-2000:]
    assert "does NOT fit" in built.stdout and "--allow-overfull" in built.stdout
    record = json.loads((out / "summary.json").read_text())["steps"]["fit"]
    assert record["fits"] is False and record["note"].startswith("built anyway (--allow-overfull)")
    assert (out / "bundle" / "manifest.json").is_file()

    # refused again without the flag: the earlier run's csim and bundle no longer stand for this build
    again = run_flow_in_process(*compile_args)
    assert_one_line_exit_2(again, "does not fit pynq-z2")
    assert not (out / "csim_outputs.npy").exists() and not (out / "bundle").exists()
