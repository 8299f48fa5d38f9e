"""Bad input: one line naming the problem and the fix, exit code 2, no traceback."""
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO, run_flow, run_flow_in_process


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
    # the one case run through the installed console script itself; the rest call its main() in-process
    result = run_flow("compile", "--board", "pynq-z9", "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "unknown board 'pynq-z9'", "pynq-z2")


def test_missing_model(tmp_path):
    result = run_flow_in_process("compile", "--model", str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "model file not found")


def test_corrupt_onnx(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    result = run_flow_in_process("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "not a valid ONNX model")


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes((REPO / "models" / "lenet-digits.pt").read_bytes()[:1000])
    result = run_flow_in_process("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "not a flow checkpoint", "flow train")


def test_unsupported_layer_names_node_and_op(tmp_path):
    path = tmp_path / "erf.onnx"
    erf_model(path)
    result = run_flow_in_process("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "node 'mystery_erf'", "op 'Erf'")


def test_an_attribute_qonnx_needs_and_onnx_defaults_is_named(tmp_path):
    """A MaxPool without `pads` is valid ONNX (it defaults to 0), but qonnx's channels-last conversion needs it."""
    path = tmp_path / "maxpool.onnx"
    graph = helper.make_graph(
        [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)
    result = run_flow_in_process("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "channels-last", "attribute pads unspecified", "MaxPool")


def test_dynamic_input_shape(tmp_path):
    path = tmp_path / "dynamic.onnx"
    dynamic_model(path)
    result = run_flow_in_process("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "no static shape", "fixed shape")


@pytest.mark.parametrize("suffix", [".tflite", ".txt"])
def test_unsupported_format(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_text("not a model")
    result = run_flow_in_process("compile", "--model", str(path), "--out", str(tmp_path / "b"))
    assert_one_line_exit_2(result, "unsupported model format")


def test_train_with_missing_recipe(tmp_path):
    result = run_flow_in_process("train", "--recipe", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r"))
    assert_one_line_exit_2(result, "recipe not found", "lenet5-admm-joint.yaml")


def test_train_with_malformed_override(tmp_path):
    result = run_flow_in_process("train", "--set", "stages.0.epochs", "--out", str(tmp_path / "r"))
    assert_one_line_exit_2(result, "is not key=value", "--set stages.1.epochs=20")


def test_train_mnist_recipe_without_data_dir(tmp_path):
    result = run_flow_in_process("train", "--recipe", MNIST_RECIPE, "--out", str(tmp_path / "r"))
    assert_one_line_exit_2(result, "trains on MNIST", "--data-dir")


def test_model_too_big_for_the_board_names_the_layer(tmp_path):
    from flow.zoo import build_model, save_checkpoint

    # an unpruned float LeNet-5: fc1 alone stores 400,000 x 32 bits, 782 BRAM18 against the 280 of a PYNQ-Z2
    save_checkpoint(build_model("lenet5"), "lenet5", {}, tmp_path / "dense.pt")
    result = run_flow_in_process("compile", "--model", str(tmp_path / "dense.pt"), "--out", str(tmp_path / "b"), "--no-progress")
    assert_one_line_exit_2(result, "does not fit pynq-z2", "Dense_MatMul_0", "--sparse Dense_MatMul_0")
    assert not (tmp_path / "b" / "csim.json").exists()


def test_sparse_names_an_unknown_layer(tmp_path):
    result = run_flow_in_process("compile", "--out", str(tmp_path / "b"), "--sparse", "fc9", "--no-progress")
    assert_one_line_exit_2(result, "unknown layer 'fc9'", "Dense_MatMul_0")


def test_sparse_cycle_target_out_of_reach_names_the_layer(tmp_path):
    # conv1 of the digits model has 68 nonzeros in 8 rows: no PE count reaches 2 cycles
    result = run_flow_in_process("compile", "--out", str(tmp_path / "b"), "--sparse", "all", "--sparse-cycles", "2",
                      "--no-progress")
    assert_one_line_exit_2(result, "layer Conv2D_Conv_0 cannot use the sparse kernel", "--sparse-cycles")
    result = run_flow_in_process("compile", "--out", str(tmp_path / "c"), "--sparse-cycles", "0", "--no-progress")
    assert_one_line_exit_2(result, "--sparse-cycles must be at least 1")


def test_a_target_rate_out_of_reach_names_the_fastest_design_that_fits(tmp_path):
    result = run_flow_in_process("compile", "--out", str(tmp_path / "a"), "--target-fps", "1e9", "--no-progress")
    assert_one_line_exit_2(result, "--target-fps 1e+09 needs 1 cycles per inference at 100 MHz on pynq-z2",
                           "the stream top moves one value per cycle: 64 values per sample cap it at 1,562,500/s",
                           "lower --target-fps")
    result = run_flow_in_process("compile", "--out", str(tmp_path / "b"), "--target-fps", "1e6", "--max-utilization",
                                 "0.05", "--no-progress")
    assert_one_line_exit_2(result, "--target-fps 1e+06 needs 100 cycles per inference at 100 MHz on pynq-z2",
                           "the fastest that fits is", "lower --target-fps")
    result = run_flow_in_process("compile", "--out", str(tmp_path / "c"), "--target-fps", "1000",
                                 "--max-utilization", "1.5", "--no-progress")
    assert_one_line_exit_2(result, "--max-utilization must be above 0 and at most 1")


def test_plan_bad_input(tmp_path):
    result = run_flow_in_process("plan", "--init", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "plan"))
    assert_one_line_exit_2(result, "model file not found", "missing.pt")
    result = run_flow_in_process("plan", "--init", str(Path(__file__).resolve().parents[1] / "models" / "lenet5-admm-joint.pt"),
                      "--board", "pynq-z9", "--out", str(tmp_path / "plan"))
    assert_one_line_exit_2(result, "unknown board 'pynq-z9'")
    result = run_flow_in_process("plan", "--init", str(Path(__file__).resolve().parents[1] / "models" / "lenet5-admm-joint.pt"),
                      "--out", str(tmp_path / "plan"))
    assert_one_line_exit_2(result, "already pruned or quantized")


# --- the adversarial matrix: each case writes its inputs under tmp_path and returns the flow arguments ---
# Every case also finds OUT already holding a previous result (SENTINEL): a refused run must leave it as it was.

SENTINEL = "previous-result.txt"


def digits_recipe(path: Path, *stages: dict, **extra) -> str:
    tree = {"arch": "lenet-digits", "dataset": "digits", "seed": 0, "train_subset": 128, "test_subset": 64,
            "stages": [{"kind": "pretrain", "epochs": 1}, *stages], **extra}
    path.write_text(json.dumps(tree))  # JSON is YAML
    return str(path)


def train_with_stage(stage: dict):
    """The arguments of a digits run whose recipe adds `stage` after one pretrain epoch."""
    return lambda t, out: ["train", "--recipe", digits_recipe(t / "r.yaml", stage), "--out", out]


def damaged_checkpoint(tmp_path: Path, damage) -> str:
    blob = torch.load(REPO / "models" / "lenet-digits.pt", weights_only=True)
    damage(blob["state_dict"])
    torch.save(blob, tmp_path / "damaged.pt")
    return str(tmp_path / "damaged.pt")


def damaged_onnx(tmp_path: Path, default_build, damage) -> str:
    model = onnx.load(str(default_build[0] / "model.onnx"))
    tensor = next(t for t in model.graph.initializer if numpy_helper.to_array(t).ndim >= 2)
    array = numpy_helper.to_array(tensor).copy()
    damage(array)
    tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    onnx.save(model, tmp_path / "damaged.onnx")
    return str(tmp_path / "damaged.onnx")


def copied_bundle(tmp_path: Path, default_build) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(default_build[0] / "bundle", bundle)
    return bundle


def traversal_archive(tmp_path: Path) -> str:
    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as tar:
        payload = b"written outside the destination"
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    return str(tmp_path / "evil.tar.gz")


def manifest_escape(tmp_path: Path, default_build) -> str:
    bundle = copied_bundle(tmp_path, default_build)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["../../etc/hostname"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return str(bundle)


def written(path: Path, content) -> str:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def npy(tmp_path: Path, array) -> str:
    np.save(tmp_path / "inputs.npy", array)
    return str(tmp_path / "inputs.npy")


def mnist_copy(tmp_path: Path, shared_dir: Path, damage) -> str:
    folder = tmp_path / "mnist"
    shutil.copytree(shared_dir / "data" / "mnist", folder)
    damage(folder)
    return str(folder)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5000])


MNIST_RECIPE = str(REPO / "models" / "recipes" / "lenet5-pretrain.yaml")
# the shipped model's own activation bits, so its quantized init passes the activation check
SHIPPED_LENET5_ACTIVATION_BITS = torch.load(REPO / "models" / "lenet5-admm-joint.pt", weights_only=True)["activation_bits"]

# id: (what the case needs, build the arguments, needles in the one error line)
CASES = {
    "nan-weights-checkpoint": (
        (), lambda t, out: ["compile", "--model", damaged_checkpoint(t, lambda sd: sd["features.1.weight"].fill_(float("nan"))),
                            "--out", out], ["'features.1.weight' holds NaN or Inf"]),
    "inf-weights-onnx": (
        ("default_build",), lambda t, out, b: ["compile", "--model", damaged_onnx(t, b, lambda a: a.fill(np.inf)), "--out", out],
        ["holds NaN or Inf", "re-export"]),
    "layer-pruned-to-100-percent": (
        (), lambda t, out: ["compile", "--model", damaged_checkpoint(t, lambda sd: sd["classifier.0.weight"].zero_()),
                            "--out", out], ["'classifier.0.weight' is zero (pruned to 100%)", "keep >= 1"]),
    "onnx-layer-pruned-to-100-percent": (
        ("default_build",), lambda t, out, b: ["compile", "--model", damaged_onnx(t, b, lambda a: a.fill(0)), "--out", out],
        ["is zero (pruned to 100%)"]),
    "keep-larger-than-the-layer": (
        (), train_with_stage({"kind": "admm_prune", "epochs": 1, "keep": {"features.1": 5000}}),
        ["stages.1: keep for features.1 is 5000", "1..72"]),
    "keep-names-a-missing-layer": (
        (), train_with_stage({"kind": "admm_prune", "epochs": 1, "keep": {"fc9": 10}}),
        ["unknown layer(s) ['fc9']", "features.1"]),
    "bit-width-0": (
        (), train_with_stage({"kind": "admm_quantize", "epochs": 1, "bits": 0}),
        ["stages.1.bits must be a whole number of bits from 1 to 16, got 0"]),
    "bit-width-33": (
        (), train_with_stage({"kind": "admm_quantize", "epochs": 1, "bits": {"classifier.0": 33}}),
        ["stages.1.bits.classifier.0", "got 33"]),
    "recipe-unknown-key": (
        (), train_with_stage({"kind": "retrain", "epochs": 1, "learnig_rate": 1}), ["unknown key(s) ['learnig_rate']", "allowed: bits"]),
    "recipe-wrong-type": (
        (), train_with_stage({"kind": "retrain", "epochs": 1, "lr": "fast"}), ["stages.1.lr must be a number, got 'fast'"]),
    "recipe-setting-for-another-stage-kind": (
        (), train_with_stage({"kind": "retrain", "epochs": 1, "bits": 2}), ["'bits' does nothing in a retrain stage"]),
    "recipe-not-yaml": (
        (), lambda t, out: ["train", "--recipe", written(t / "r.yaml", "stages: [\n"),
                            "--out", out], ["is not valid YAML"]),
    "teacher-is-missing": (
        (), lambda t, out: ["train", "--recipe", digits_recipe(t / "r.yaml", teacher=str(t / "dense.pt")), "--out", out],
        ["model file not found", "dense.pt"]),
    "teacher-of-another-architecture": (
        (), lambda t, out: ["train", "--recipe", digits_recipe(t / "r.yaml", teacher=str(REPO / "models" / "lenet5-admm-joint.pt")),
                            "--out", out], ["is a 'lenet5' model, this recipe trains 'lenet-digits'"]),
    "learn-step-outside-a-retrain-stage": (
        (), train_with_stage({"kind": "admm_quantize", "epochs": 1, "bits": 2, "learn_step": True}),
        ["stages.1: learn_step trains quantization steps in a retrain stage"]),
    "learn-step-without-quantized-layers": (
        (), train_with_stage({"kind": "retrain", "epochs": 1, "learn_step": True}),
        ["stages.1: learn_step needs quantized layers", "admm_quantize"]),
    "freeze-levels-without-quantized-layers": (
        (), train_with_stage({"kind": "retrain", "epochs": 1, "freeze_levels": True}),
        ["stages.1: freeze_levels needs quantized layers", "admm_quantize"]),
    "freeze-levels-with-learned-steps": (
        (), train_with_stage({"kind": "retrain", "epochs": 1, "freeze_levels": True, "learn_step": True}),
        ["stages.1: freeze_levels keeps a retrain stage's quantized weights", "without learn_step"]),
    "equalize-outside-a-quantize-stage": (
        (), train_with_stage({"kind": "retrain", "epochs": 1, "equalize": True}),
        ["stages.1: equalize rescales channels before quantization", "remove it from retrain"]),
    "reachable-on-an-architecture-without-channel-links": (
        (), train_with_stage({"kind": "admm_prune", "epochs": 1, "keep": 0.5, "reachable": True}),
        ["stages.1: architecture 'lenet-digits' declares no channel links", "'reachable' needs"]),
    "pruning-a-quantized-init": (
        (), lambda t, out: ["train", "--out", out, "--recipe", written(t / "r.yaml", json.dumps(
            {"arch": "lenet5", "dataset": "mnist", "init": str(REPO / "models" / "lenet5-admm-joint.pt"),
             "activation_bits": SHIPPED_LENET5_ACTIVATION_BITS,
             "stages": [{"kind": "admm_prune", "epochs": 1, "keep": 0.5}]}))],
        ["stages.0 prunes, but init", "is already quantized (conv1, conv2, fc1, fc2)", "before its admm_quantize stage"]),
    "requantizing-a-quantized-init": (
        (), lambda t, out: ["train", "--out", out, "--recipe", written(t / "r.yaml", json.dumps(
            {"arch": "lenet5", "dataset": "mnist", "init": str(REPO / "models" / "lenet5-admm-joint.pt"),
             "activation_bits": SHIPPED_LENET5_ACTIVATION_BITS,
             "stages": [{"kind": "admm_quantize", "epochs": 1, "bits": {"fc1": 1}}]}))],
        ["stages.0 quantizes fc1 again", "already has their levels"]),
    "resume-without-a-checkpoint": (
        (), lambda t, out: ["train", "--recipe", digits_recipe(t / "r.yaml"), "--resume", "--out", out],
        ["nothing to resume", "without --resume"]),
    "unwritable-output-dir-compile": (
        (), lambda t, out: ["compile", "--out", str(Path(out) / SENTINEL / "build")], ["cannot write to output dir", "--out"]),
    "unwritable-output-dir-train": (
        (), lambda t, out: ["train", "--recipe", digits_recipe(t / "r.yaml"), "--out", str(Path(out) / SENTINEL / "run")],
        ["cannot write to output dir"]),
    "sparse-cycles-without-sparse-layers": (
        (), lambda t, out: ["compile", "--sparse", "none", "--sparse-cycles", "4", "--out", out],
        ["--sparse-cycles", "--sparse none", "drop one"]),
    "sparse-cycles-with-the-chooser": (
        (), lambda t, out: ["compile", "--sparse-cycles", "4", "--out", out],
        ["--sparse-cycles", "--sparse auto", "add --sparse all"]),
    "target-fps-with-sparse": (
        (), lambda t, out: ["compile", "--target-fps", "1000", "--sparse", "all", "--out", out],
        ["--target-fps chooses every layer's kernel", "drop --sparse"]),
    "from-step-past-a-changed-setting": (
        ("default_build",), lambda t, out, b: ["compile", "--out", str(b[0]), "--from-step", "csim", "--sparse", "all"],
        ["--from-step csim would keep what step 'hls4ml' built with sparse='auto'", "--from-step hls4ml"]),
    "archive-with-path-traversal": (
        (), lambda t, out: ["infer", "--bundle", traversal_archive(t), "--target", "pynq"],
        ["not a bundle archive flow can trust", "outside the destination"]),
    "archive-not-a-tarball": (
        (), lambda t, out: ["infer", "--bundle", written(t / "b.tar.gz", b"\x1f\x8b junk")],
        ["not a readable tar archive", "flow deploy"]),
    "manifest-names-a-file-outside-the-bundle": (
        ("default_build",), lambda t, out, b: ["infer", "--bundle", manifest_escape(t, b)],
        ["lists '../../etc/hostname', which is not a file of the bundle folder"]),
    "driver-input-complex-dtype": (
        ("default_build",), lambda t, out, b: ["infer", "--bundle", str(b[0]), "--input",
                                               npy(t, np.zeros((2, 1, 8, 8), dtype=np.complex64))],
        ["dtype complex64", "real numbers"]),
    "driver-input-nan": (
        ("default_build",), lambda t, out, b: ["infer", "--bundle", str(b[0]), "--input",
                                               npy(t, np.full((2, 1, 8, 8), np.nan, dtype=np.float32))],
        ["input holds NaN or Inf"]),
    "driver-input-not-npy": (
        ("default_build",), lambda t, out, b: ["infer", "--bundle", str(b[0]), "--input",
                                               written(t / "x.npy", "1,2,3")],
        ["cannot read inputs", "numeric .npy"]),
    "deploy-archive-name": (
        ("default_build",), lambda t, out, b: ["deploy", "--bundle", str(b[0]), "--out", str(t / "bundle.zip")],
        ["must end in .tar.gz"]),
    "mnist-file-missing": (
        ("shared_dir",), lambda t, out, s: ["train", "--recipe", MNIST_RECIPE, "--out", out, "--data-dir",
                                            mnist_copy(t, s, lambda d: (d / "t10k-labels-idx1-ubyte.gz").unlink())],
        ["t10k-labels-idx1-ubyte"]),
    "mnist-file-truncated": (
        ("shared_dir",), lambda t, out, s: ["train", "--recipe", MNIST_RECIPE, "--out", out, "--data-dir",
                                            mnist_copy(t, s, lambda d: truncate(d / "train-images-idx3-ubyte.gz"))],
        ["train-images-idx3-ubyte"]),
    "training-diverges": (
        ("shared_dir",), lambda t, out, s: ["train", "--out", str(Path(out) / "run"), "--data-dir", str(s / "data" / "mnist"),
                                            "--recipe", written(t / "r.yaml", json.dumps(
                                                {"arch": "lenet5", "dataset": "mnist", "train_subset": 640, "test_subset": 100,
                                                 "stages": [{"kind": "pretrain", "epochs": 1, "lr": 1.0e+8}]}))],
        ["training diverged in the pretrain stage (loss nan)", "lower that stage's lr"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_adversarial_input(case, tmp_path, request):
    needs, arguments, needles = CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    (out / SENTINEL).write_text("an earlier run's result")
    result = run_flow_in_process(*arguments(tmp_path, str(out), *(request.getfixturevalue(n) for n in needs)))
    assert_one_line_exit_2(result, *needles)
    assert (out / SENTINEL).read_text() == "an earlier run's result"
    assert not {"summary.json", "config.json", "recipe.json", "checkpoint.pt"} & {p.name for p in out.iterdir()}
    assert not (tmp_path.parent / "escaped.txt").exists()
