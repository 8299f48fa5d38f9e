"""Bad input: one line naming the problem and the fix, exit code 2, no traceback."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import run_flow


def erf_model(path):
    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["y"], name="mystery_erf")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def dynamic_model(path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def assert_one_line_exit_2(result, *needles):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    for needle in needles:
        assert needle in error_lines[0], error_lines[0]


def test_unknown_board(tmp_path):
    result = run_flow("compile", "--board", "pynq-z9", "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "unknown board 'pynq-z9'", "pynq-z2")


def test_missing_model(tmp_path):
    result = run_flow("compile", "--model", str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "model file not found")


def test_corrupt_onnx(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    result = run_flow("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "not a valid ONNX model")


def test_truncated_checkpoint(tmp_path):
    from conftest import REPO

    path = tmp_path / "truncated.pt"
    path.write_bytes((REPO / "models" / "lenet-digits.pt").read_bytes()[:1000])
    result = run_flow("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "not a flow checkpoint", "flow train")


def test_unsupported_layer_names_node_and_op(tmp_path):
    path = tmp_path / "erf.onnx"
    erf_model(path)
    result = run_flow("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "node 'mystery_erf'", "op 'Erf'")


def test_dynamic_input_shape(tmp_path):
    path = tmp_path / "dynamic.onnx"
    dynamic_model(path)
    result = run_flow("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "no static shape", "fixed shape")


@pytest.mark.parametrize("suffix", [".tflite", ".txt"])
def test_unsupported_format(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_text("not a model")
    result = run_flow("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "unsupported model format")


def test_train_with_missing_recipe(tmp_path):
    result = run_flow("train", "--recipe", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r"))
    assert_one_line_exit_2(result, "recipe not found", "lenet5-admm-joint.yaml")


def test_train_with_malformed_override(tmp_path):
    result = run_flow("train", "--set", "stages.0.epochs", "--out", str(tmp_path / "r"))
    assert_one_line_exit_2(result, "is not key=value", "--set stages.1.epochs=20")


def test_train_mnist_recipe_without_data_dir(tmp_path):
    result = run_flow("train", "--recipe", "models/recipes/lenet5-pretrain.yaml", "--out", str(tmp_path / "r"),
                      cwd=Path(__file__).resolve().parent.parent)
    assert_one_line_exit_2(result, "trains on MNIST", "--data-dir")


def test_model_too_big_for_the_board_names_the_layer(tmp_path):
    from flow.zoo import build_model, save_checkpoint

    # an unpruned float LeNet-5: fc1 alone stores 400,000 x 32 bits, 782 BRAM18 against the 280 of a PYNQ-Z2
    save_checkpoint(build_model("lenet5"), "lenet5", {}, tmp_path / "dense.pt")
    result = run_flow("compile", "--model", str(tmp_path / "dense.pt"), "--out", str(tmp_path / "b"), "--no-progress")
    assert_one_line_exit_2(result, "does not fit pynq-z2", "Dense_MatMul_0", "--sparse Dense_MatMul_0")
    assert not (tmp_path / "b" / "csim.json").exists()


def test_sparse_names_an_unknown_layer(tmp_path):
    result = run_flow("compile", "--out", str(tmp_path / "b"), "--sparse", "fc9", "--no-progress")
    assert_one_line_exit_2(result, "unknown layer 'fc9'", "Dense_MatMul_0")


def test_sparse_cycle_target_out_of_reach_names_the_layer(tmp_path):
    # conv1 of the digits model has 68 nonzeros in 8 rows: no PE count reaches 2 cycles
    result = run_flow("compile", "--out", str(tmp_path / "b"), "--sparse", "all", "--sparse-cycles", "2",
                      "--no-progress")
    assert_one_line_exit_2(result, "layer Conv2D_Conv_0 cannot use the sparse kernel", "--sparse-cycles")
    result = run_flow("compile", "--out", str(tmp_path / "c"), "--sparse-cycles", "0", "--no-progress")
    assert_one_line_exit_2(result, "--sparse-cycles must be at least 1")


def test_plan_bad_input(tmp_path):
    result = run_flow("plan", "--init", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "plan"))
    assert_one_line_exit_2(result, "model file not found", "missing.pt")
    result = run_flow("plan", "--init", str(Path(__file__).resolve().parents[1] / "models" / "lenet5-admm-joint.pt"),
                      "--board", "pynq-z9", "--out", str(tmp_path / "plan"))
    assert_one_line_exit_2(result, "unknown board 'pynq-z9'")
    result = run_flow("plan", "--init", str(Path(__file__).resolve().parents[1] / "models" / "lenet5-admm-joint.pt"),
                      "--out", str(tmp_path / "plan"))
    assert_one_line_exit_2(result, "already pruned or quantized")
