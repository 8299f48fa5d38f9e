"""QKeras models through `flow compile` (hls4ml's Keras frontend), and ADMM on Keras with the PyTorch path's projections.

Needs the keras extra (pip install -e '.[test,keras]', as .ci/run does); skips without it.
"""
import json

import numpy as np
import pytest
import torch

from conftest import run_flow, run_flow_in_process
from flow.compress.admm import ADMM, LevelSet, SparsitySet
from flow.errors import FlowError
from flow.frontends.keras import tf_keras
from flow.build.steps.qonnx import KERAS_SKIP

try:
    keras2 = tf_keras()
except FlowError as exc:
    pytest.skip(str(exc), allow_module_level=True)

REPORTS = "reference/hls_reports"
JET_QKERAS = f"{REPORTS}/jet_mlp_16-64-32-32-5_z7020_pynq_ap_fixed_vhls2019/model/keras_model.h5"
MNIST_DEFS = f"{REPORTS}/mnist_qkeras_cnn_z7020_pynq_vhls2020_gabriele/model_hls4ml_example_defs"
MNIST_QKERAS_H5 = f"{REPORTS}/mnist_qkeras_cnn_z7020_pynq_vhls2020_gabriele/model/keras_model.h5"


def _compile(model, out, *extra):
    return run_flow_in_process("compile", "--model", str(model), "--board", "pynq-z2", "--out", str(out),
                               "--no-progress", *extra)


def test_qkeras_jet_mlp_compiles_with_sparse_kernels_and_matches_keras(shared_dir, tmp_path):
    """hls4ml-pynq's pruned 6-bit QKeras jet tagger on sparse kernels: csim agrees with Keras."""
    build = tmp_path / "jet"
    result = _compile(shared_dir / JET_QKERAS, build, "--n-samples", "300", "--sparse", "fc1,fc2")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((build / "summary.json").read_text())
    assert summary["steps"]["export"]["source"] == "keras"
    assert summary["steps"]["qonnx"]["status"] == KERAS_SKIP
    report = json.loads((build / "csim.json").read_text())
    assert report["passed"] and report["csim_vs_keras"]["argmax_agreement"] == 1.0
    assert report["fifo_check"]["passed"]  # its io_parallel stream top, the model a dataflow region
    assert report["n_samples"] == 300 and "softmax" in report["softmax_skipped"]
    # 75-76% pruned, just short of break-even on this board (the rule itself: tests/test_breakeven.py);
    # the sparse kernel on a QKeras MLP is chosen by name
    assert [report["kernels"][name] for name in ("fc1", "fc2", "output")] == ["sparse", "sparse", "dense"]
    estimates = json.loads((build / "estimates.json").read_text())
    assert "#pragma HLS DATAFLOW" in (build / "hls4ml_prj" / "firmware" / "myproject.cpp").read_text()
    assert estimates["fits"]
    metadata = json.loads((build / "bundle" / "metadata.json").read_text())
    assert metadata["input"]["shape"] == [1, 16] and metadata["input"]["perm"] is None
    # the board driver's path around this build's C simulation reproduces compile-time csim
    infer = run_flow_in_process("infer", "--bundle", str(build), "--target", "csim")
    assert infer.returncode == 0, infer.stderr[-2000:]
    assert "300 inputs on csim" in infer.stdout and "bit for bit: True" in infer.stdout


def test_qkeras_mnist_cnn_definitions_compile_and_match_keras_on_mnist(shared_dir, tmp_path):
    """The MNIST QKeras CNN from its JSON + weights definitions (QConv2D, QActivation, pooling, flatten, QDense)."""
    from flow.frontends.keras import custom_objects

    defs = shared_dir / MNIST_DEFS
    model = keras2.models.model_from_json((defs / "qkeras_mnist_cnn.json").read_text(), custom_objects=custom_objects())
    model.load_weights(str(defs / "qkeras_mnist_cnn_weights.h5"))
    model.save(str(tmp_path / "qkeras_mnist_cnn.h5"))
    build = tmp_path / "cnn"
    result = _compile(tmp_path / "qkeras_mnist_cnn.h5", build, "--data-dir", str(shared_dir / "data" / "mnist"),
                      "--n-samples", "200")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((build / "csim.json").read_text())
    assert report["dataset"] == "mnist-test" and report["n_samples"] == 200
    assert report["csim_vs_keras"]["argmax_agreement"] == 1.0
    assert report["accuracy"]["keras"] > 0.97 and report["accuracy"]["csim"] == report["accuracy"]["keras"]
    assert json.loads((build / "hls_config.json").read_text())["io_type"] == "io_stream"


def test_layer_names_that_are_not_cpp_identifiers_are_renamed(shared_dir, tmp_path):
    """PYNQ_IA's saved MNIST CNN has a layer '1_relu_1', which hls4ml would write into C++ as is (g++ then fails)."""
    from flow.frontends.keras import copy_with_c_names, load_model

    source = shared_dir / MNIST_QKERAS_H5
    renamed = copy_with_c_names(source, tmp_path / "model.h5")
    assert renamed == {"1_relu_1": "layer_1_relu_1"}
    original, copy = load_model(source), load_model(tmp_path / "model.h5")
    assert [layer.name for layer in copy.layers] == [renamed.get(layer.name, layer.name) for layer in original.layers]
    inputs = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    assert np.array_equal(copy.predict(inputs, verbose=0), original.predict(inputs, verbose=0))


def test_keras_and_torch_adapters_share_the_projections():
    """Same weights, same constraint: the Keras adapter's Z and U equal the PyTorch ADMM's (kernels are transposed)."""
    from flow.compress.keras_admm import KerasADMM

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(6, 10)).astype(np.float32)  # torch (out, in)
    inputs = keras2.Input((10,))
    model = keras2.Model(inputs, keras2.layers.Dense(6, name="fc")(inputs))
    model.get_layer("fc").set_weights([weight.T, np.zeros(6, np.float32)])
    linear = torch.nn.Linear(10, 6)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
    for keras_set, torch_set in [(SparsitySet(12, np.ones((10, 6), bool)), SparsitySet(12, np.ones((6, 10), bool))),
                                 (LevelSet(2, weight.T != 0), LevelSet(2, weight != 0))]:
        keras_admm = KerasADMM(model, {"fc": keras_set}, rho=0.01, rho_growth=2.0, rho_max=1.0)
        torch_admm = ADMM({"fc": linear}, {"fc": torch_set}, rho=0.01, rho_growth=2.0, rho_max=1.0)
        for _ in range(2):
            with torch.no_grad():
                linear.weight.add_(0.1)
            model.get_layer("fc").kernel.assign_add(np.full((10, 6), 0.1, np.float32))
            keras_residual, torch_residual = keras_admm.update()["fc"], torch_admm.update()["fc"]
            np.testing.assert_allclose(keras_admm.Z["fc"].numpy(), torch_admm.Z["fc"].numpy().T, rtol=1e-6)
            np.testing.assert_allclose(keras_admm.U["fc"].numpy(), torch_admm.U["fc"].numpy().T, rtol=1e-5, atol=1e-7)
            assert keras_residual == pytest.approx(torch_residual, rel=1e-5)
        assert float(keras_admm.rho.numpy()) == pytest.approx(torch_admm.rho) == pytest.approx(0.04)


def test_admm_prunes_a_qkeras_model_which_then_compiles_sparse(shared_dir, tmp_path):
    """ADMM prune (callback), hard projection, masked retraining on the QKeras jet tagger, then flow compile."""
    from flow.compress.keras_admm import KeepMasked, KerasADMM
    from flow.frontends.keras import load_model

    model = load_model(shared_dir / JET_QKERAS)
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(4096, 16)).astype(np.float32)
    labels = model.predict(inputs, verbose=0).argmax(1)  # the model's own decisions: pruning must keep them
    keep = {"fc1": 179, "fc2": 358, "fc3": 179}  # 70% of the weights its earlier pruning left
    constraints = {name: SparsitySet(count, np.ones(tuple(model.get_layer(name).kernel.shape), bool))
                   for name, count in keep.items()}
    keras2.utils.set_random_seed(0)
    admm = KerasADMM(model, constraints, rho=3e-3, rho_growth=3.0, rho_max=1.0)
    model.compile(optimizer=keras2.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(inputs, labels, epochs=10, batch_size=128, verbose=0, callbacks=[admm])
    assert admm.residuals[-1]["fc1"] < admm.residuals[0]["fc1"]
    masks = admm.hard_project()
    model.fit(inputs, labels, epochs=6, batch_size=128, verbose=0, callbacks=[KeepMasked(model, masks)])
    for name, count in keep.items():
        kernel = model.get_layer(name).kernel.numpy()
        assert np.count_nonzero(kernel) == count and np.array_equal(kernel != 0, masks[name] != 0)
    agreement = float((model.predict(inputs, verbose=0).argmax(1) == labels).mean())
    assert agreement > 0.88, agreement  # 0.917 when written; on noise inputs, 6-bit weights
    model.save(str(tmp_path / "jet_admm.h5"))
    build = tmp_path / "build"
    result = _compile(tmp_path / "jet_admm.h5", build, "--n-samples", "200", "--sparse", "fc1,fc2,fc3")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((build / "csim.json").read_text())
    assert report["csim_vs_keras"]["argmax_agreement"] == 1.0
    assert [report["kernels"][name] for name in keep] == ["sparse"] * 3


@pytest.mark.parametrize("case", ["corrupt", "weights_only"])
def test_unreadable_keras_files_are_refused_in_one_line(shared_dir, tmp_path, case):
    if case == "corrupt":
        model = tmp_path / "model.h5"
        model.write_bytes((shared_dir / JET_QKERAS).read_bytes()[:3000])
    else:
        model = shared_dir / f"{REPORTS}/dnd_qkeras4bit_zu9eg_vhls2020/0316_soft_4bit_alpha1_sigmoid.h5"
    # the corrupt case runs the console script, so TensorFlow's own start-up lines would show up here
    runner = run_flow if case == "corrupt" else run_flow_in_process
    result = runner("compile", "--model", str(model), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a Keras model flow can read" in lines[0]
    assert not (tmp_path / "out").exists()
