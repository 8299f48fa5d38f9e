"""Per-layer projects: each weight layer cut out of the build, dense and sparse, csim-checked,
and their synthesis reports feeding the break-even decision (driven with real reference reports)."""
import json
import shutil

import numpy as np
import pytest

from flow.boards import load_board
from flow.build.artifacts import LAYER_PROJECTS, load_hls_model
from flow.build.config import BuildConfig
from flow.build.step import StepContext
from flow.build.steps import estimate_after_synth
from flow.build.steps.csim import to_hls_layout
from flow.errors import FlowError
from flow.hls4ml.layer_projects import convert_layer, subgraph, weight_layer_cuts
from flow.reports.hls import read_hls_reports


def context(build_dir):
    return StepContext(config=BuildConfig(out=build_dir), board=load_board("pynq-z2"), build_dir=build_dir)


def test_synth_step_writes_a_dense_and_a_sparse_project_per_layer(default_build):
    build_dir, _ = default_build
    summary = json.loads((build_dir / "summary.json").read_text())
    assert summary["steps"]["synth"]["status"] == "skipped: vitis-run not on PATH"
    projects = json.loads((build_dir / LAYER_PROJECTS).read_text())
    assert projects["synthesized"] is False
    layers = [layer["name"] for layer in json.loads((build_dir / "estimates.json").read_text())["layers"]]
    assert [(p["layer"], p["kernel"]) for p in projects["projects"]] == [
        (layer, kernel) for layer in layers for kernel in ("dense", "sparse")]
    for project in projects["projects"]:
        assert project["status"] == "written"
        assert any((build_dir / "layer_projects" / f"{project['layer']}-{project['kernel']}").rglob("build_prj.tcl"))


def test_a_cut_layer_computes_what_it_computes_in_the_whole_model(default_build):
    """Dense and sparse projects of the last layer, on the activations the whole graph feeds it: bit-identical to each
    other, and equal to QONNX's execution of that layer to within its output LSB."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    build_dir, _ = default_build
    node, first, last = weight_layer_cuts(build_dir, load_hls_model(build_dir))[-1]
    whole = ModelWrapper(str(build_dir / "model_clean.onnx"))
    perm = json.loads((build_dir / "graph.json").read_text())["input_perm"]
    images = to_hls_layout(np.load(build_dir / "verify_inputs.npy")[:16].astype(np.float32), perm)
    context_of = [execute_onnx(whole, {whole.graph.input[0].name: image[None]}, return_full_exec_context=True)
                  for image in images]
    inputs = np.concatenate([c[first] for c in context_of]).reshape(len(images), -1)
    expected = np.concatenate([execute_onnx(subgraph(whole, first, last), {first: c[first]})[last] for c in context_of])
    outputs = {}
    for kernel in ("dense", "sparse"):
        project = convert_layer(build_dir, node, first, last, kernel)
        assert not isinstance(project, str), project
        project.compile()
        outputs[kernel] = project.predict(np.ascontiguousarray(inputs)).reshape(len(images), -1)
    assert np.array_equal(outputs["dense"], outputs["sparse"])
    lsb = 2.0 ** -(node.get_output_variable().type.precision.fractional)
    assert np.abs(outputs["dense"] - expected.reshape(len(images), -1)).max() <= lsb


def test_a_cut_layer_reads_its_input_in_the_packets_of_the_whole_model(default_build):
    """fc1 follows a Flatten: its own project starts before it, so it reads the pooling layer's packets (as the
    whole model does) rather than one word of every input; its synthesized interface is the model's."""
    build_dir, _ = default_build
    hls_model = load_hls_model(build_dir)
    cuts = {node.name: (node, first, last) for node, first, last in weight_layer_cuts(build_dir, hls_model)}
    node, first, last = cuts["Dense_MatMul_0"]
    project = convert_layer(build_dir, node, first, last, "dense")
    assert not isinstance(project, str), project
    [inside] = [layer for layer in project.get_layers() if layer.class_name == "Dense"]
    packet = node.get_input_variable().type.n_elem
    assert inside.get_input_variable().type.n_elem == packet < node.get_attr("n_in")


def test_reports_of_per_layer_projects_drive_the_decision(default_build, shared_dir, tmp_path):
    """Real Vivado HLS 2020.1 reports placed where a layer's dense and sparse projects keep theirs: the step after
    synthesis takes them as that layer's figures for both kernels and corrects the estimator with them."""
    build_dir = tmp_path / "build"
    shutil.copytree(default_build[0], build_dir)
    summary = json.loads((build_dir / "summary.json").read_text())
    assert summary["steps"]["estimate_after_synth"]["status"].startswith("skipped: no C-synthesis reports")
    assert estimate_after_synth.STEP.outputs_in(build_dir) == []
    reports = shared_dir / "reference" / "hls_reports" / "jet_mlp_16-64-32-32-5_keras_z7020_pynq_vhls2020_gabriele" / "syn_report"
    layer = json.loads((build_dir / "estimates.json").read_text())["layers"][-1]["name"]
    for kernel in ("dense", "sparse"):
        shutil.copytree(reports, build_dir / "layer_projects" / f"{layer}-{kernel}" / "myproject_prj" / "solution1" / "syn" / "report")
    assert estimate_after_synth.STEP.outputs_in(build_dir) == ["estimates.json"]
    record = estimate_after_synth.STEP.run(context(build_dir))
    assert record["basis"] == "reports"
    estimates = json.loads((build_dir / "estimates.json").read_text())
    assert estimates["basis"].startswith("Vivado HLS 2020.1 C-synthesis reports: 2 layer(s) and kernel(s)")
    top = read_hls_reports(reports)
    by_name = {entry["name"]: entry for entry in estimates["layers"]}
    for kernel in ("dense", "sparse"):
        figures = by_name[layer]["reported_own_project"][kernel]
        assert figures["latency"] == top.latency[1] and figures["dsp"] == top.resources.dsp
        assert estimates["corrections"][kernel]["latency"] == round(
            top.latency[1] / by_name[layer][kernel]["estimate"]["latency"], 4)


def test_a_build_dir_from_an_older_flow_is_refused_not_read_as_all_dense(default_build, tmp_path):
    build_dir = tmp_path / "build"
    shutil.copytree(default_build[0], build_dir, ignore=shutil.ignore_patterns("hls4ml_prj", "layer_projects"))
    settings = json.loads((build_dir / "hls_config.json").read_text())
    assert isinstance(settings["hls_config"]["Model"]["SparseKernels"]["select"], list)
    settings["hls_config"]["Model"]["SparseKernels"]["select"] = "auto"
    (build_dir / "hls_config.json").write_text(json.dumps(settings))
    with pytest.raises(FlowError, match="older form.*--from-step hls4ml"):
        load_hls_model(build_dir)
