"""The build dir's files: every artifact name in one place, and the loaders steps share.

Steps exchange these files (plus the small dataclasses of `flow.build.step`); a step reads what an
earlier one wrote through the names and loaders here, never by importing that step.
"""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

CONFIG = "config.json"  # the resolved BuildConfig
SUMMARY = "summary.json"  # each step's record and the verification
TIME_PER_STEP = "time_per_step.json"
SOURCE = "source.json"  # what the export step found: kind, path, files, weight layers
MODEL_ONNX = "model.onnx"  # the source model in QONNX form
MODEL_CLEAN = "model_clean.onnx"  # after the qonnx step's transforms: what hls4ml converts
MODEL_REFERENCE = "model_reference.onnx"  # cleaned up only, in the source's layout: what verify executes
GRAPH = "graph.json"  # input/output names, shapes and layout of the model
HLS_CONFIG = "hls_config.json"  # backend, part, clock, io_type and the hls4ml config
MEMORY = "memory.json"  # per weight layer: dense and sparse on-chip memory, and the kernel built
PROJECT_DIR = "hls4ml_prj"  # the hls4ml project
ESTIMATES = "estimates.json"
DESIGN = "design.json"  # with --target-fps: the chooser's kernel per layer, every candidate, the rate achieved
BREAKEVEN_PLOT = "breakeven.png"
PARETO_PLOT = "pareto.png"  # with --target-fps: rate against area per kernel family, flow's choice marked
LAYER_PROJECTS = "layer_projects.json"  # per-layer dense/sparse projects of the synth step
LAYER_PROJECTS_DIR = "layer_projects"  # where they are written, one folder per layer and kernel
VERIFY_INPUTS, VERIFY_LABELS = "verify_inputs.npy", "verify_labels.npy"
CSIM_OUTPUTS = "csim_outputs.npy"
CSIM_META = "csim_meta.json"  # dataset, sample count, input/output precision and LSB
CSIM_REPORT = "csim.json"  # the verify step's comparisons
SYNTH_REPORT = "synth.json"
BITSTREAM_OUTPUT, BITSTREAM_STEM = "vivado/output", "flow_nn"  # where boards/block_design.tcl leaves .bit and .hwh
BUNDLE = "bundle"
RTL_DIR = "rtl"  # the rtl step: per weight layer its Verilog, testbench and yosys log, and summary.json
REPORT = "report.md"  # written by `flow report`
HLS4ML_LOG = "hls4ml.log"  # hls4ml's prints and g++ output
EXPORT_LOG = "export.log"
BUILD_LOG = "build.log"  # every other library line (onnxruntime, TensorFlow, warnings); --verbose shows them instead


def to_hls_layout(inputs, input_perm: list[int] | None):
    """Inputs in the model's own layout, permuted as the hls4ml project reads them (graph.json's input_perm)."""
    import numpy as np

    if input_perm is None:
        return np.ascontiguousarray(inputs)
    return np.ascontiguousarray(inputs.transpose(input_perm))


def read_json(build_dir: Path, name: str):
    return json.loads((Path(build_dir) / name).read_text())


def source_kind(build_dir: Path) -> str | None:
    """brevitas, qonnx or keras; None before the export step ran."""
    path = Path(build_dir) / SOURCE
    return json.loads(path.read_text())["kind"] if path.is_file() else None


def keras_model_path(build_dir: Path) -> Path:
    """The build dir's copy of a Keras source model."""
    return Path(build_dir) / next(name for name in read_json(build_dir, SOURCE)["files"] if name.startswith("model."))


def convert(build_dir: Path, settings: dict):
    """An hls4ml ModelGraph of the build's model (model_clean.onnx or the Keras copy) under `settings`
    (the form of hls_config.json), with flow's hls4ml extensions registered. Writes nothing but the log.

    hls4ml adds its own entries to the config it is given, so it gets a copy: `settings` stays as written."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper

    from ..frontends import keras as keras_frontend
    from ..hls4ml import register
    from ..quiet import stdout_to

    build_dir = Path(build_dir)
    register(settings["backend"])
    conversion = {"output_dir": str(build_dir / PROJECT_DIR), "backend": settings["backend"], "part": settings["part"],
                  "clock_period": settings["clock_period"], "io_type": settings["io_type"],
                  "hls_config": copy.deepcopy(settings["hls_config"])}
    with warnings.catch_warnings(), stdout_to(build_dir / HLS4ML_LOG):
        warnings.simplefilter("ignore")
        if source_kind(build_dir) == "keras":
            return keras_frontend.convert(keras_model_path(build_dir), **conversion)
        return hls4ml.converters.convert_from_onnx_model(ModelWrapper(str(build_dir / MODEL_CLEAN)), **conversion)


def load_hls_model(build_dir: Path):
    """The hls4ml ModelGraph the hls4ml step built, converted again from the build dir's files."""
    from ..errors import FlowError

    settings = read_json(build_dir, HLS_CONFIG)
    if not isinstance(settings["hls_config"]["Model"].get("SparseKernels", {}).get("select", []), list):
        raise FlowError(f"{Path(build_dir) / HLS_CONFIG} names its sparse layers in an older form; rebuild it with "
                        f"'flow compile --out {build_dir} --from-step hls4ml'")
    return convert(build_dir, settings)
