"""Step `export`: the source model in the build dir: a Brevitas checkpoint or QONNX file as model.onnx in
QONNX form, a Keras model as a copy plus graph.json (hls4ml's Keras frontend reads it directly)."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ...errors import FlowError
from ...frontends import keras as keras_frontend
from ...paths import atomic_write_json
from ...quiet import stdout_to
from ...paths import DEFAULT_CHECKPOINT
from ..artifacts import EXPORT_LOG, GRAPH, MODEL_ONNX, SOURCE
from ..step import Step, StepContext

CHECKPOINT_SUFFIXES = {".pt", ".pth"}


def outputs(build_dir: Path) -> list[str]:
    """source.json and the files it lists: model.onnx, or a Keras model's copy and graph.json."""
    try:
        return [SOURCE, *json.loads((build_dir / SOURCE).read_text())["files"]]
    except (OSError, ValueError, KeyError):
        return [SOURCE]  # not exported yet: nothing here can be reused


def _export_brevitas(ctx: StepContext, model, blob: dict) -> dict:
    import logging

    import torch
    from brevitas.export import export_qonnx

    from ...zoo import compressible_layers

    # torch.onnx warns about torchvision ops this flow never uses
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    example = torch.zeros(1, *model.input_shape)
    target = ctx.path(MODEL_ONNX)
    with warnings.catch_warnings(), stdout_to(ctx.path(EXPORT_LOG)):
        warnings.simplefilter("ignore")
        export_qonnx(model, example, export_path=str(target.with_suffix(".tmp.onnx")))
    target.with_suffix(".tmp.onnx").replace(target)
    return {"kind": "brevitas", "path": str(ctx.config.model or DEFAULT_CHECKPOINT), "arch": blob["arch"],
            "input_shape": list(model.input_shape), "weight_layers": list(compressible_layers(model)),
            "train_metrics": blob.get("metrics", {}), "files": [MODEL_ONNX]}


def _load_qonnx(path: Path) -> None:
    from ...zoo import check_weights

    try:
        # onnx.checker rejects QONNX's custom-op domains, so parse and check the structure ourselves
        model = onnx.load(str(path))
        if not model.graph.node or not model.graph.input or not model.graph.output:
            raise ValueError("graph has no nodes, inputs or outputs")
        initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise FlowError(f"{path} is not a valid ONNX model ({reason}); re-export it with brevitas.export.export_qonnx") from None
    # biases and quantizer scales are vectors or scalars; weight matrices and kernels have two or more axes
    check_weights(initializers, {name for name, array in initializers.items()
                                 if array.ndim >= 2 and np.issubdtype(array.dtype, np.floating)}, path)


def check_source(path: Path | None):
    """Read and check the model file before the build dir is touched: (model, blob) for a checkpoint, None for QONNX."""
    from ...zoo import load_checkpoint  # torch and Brevitas load when a build starts, not with the CLI

    if path is not None and not path.is_file():
        raise FlowError(f"model file not found: {path}; pass an existing .onnx model or .pt checkpoint")
    if path is None or path.suffix in CHECKPOINT_SUFFIXES:
        return load_checkpoint(path or DEFAULT_CHECKPOINT)
    if path.suffix == ".onnx":
        return _load_qonnx(path)
    if path.suffix in keras_frontend.KERAS_SUFFIXES:
        keras_frontend.check_source(path)
        return None
    raise FlowError(f"unsupported model format '{path.suffix}' ({path}); pass a QONNX .onnx file, a flow .pt "
                    "checkpoint or a (Q)Keras .h5/.keras model")


def _copy_keras(ctx: StepContext) -> dict:
    path = Path(ctx.config.model)
    target = ctx.path(f"model{path.suffix}")
    renamed = keras_frontend.copy_with_c_names(path, target)
    model = keras_frontend.load_model(target)
    atomic_write_json(ctx.path(GRAPH), keras_frontend.describe(model))
    return {"kind": "keras", "path": str(path), "files": [target.name, GRAPH], "renamed_layers": renamed,
            "input_shape": list(model.inputs[0].shape[1:]),
            "weight_layers": [layer.name for layer in keras_frontend.weight_layers(model)]}


def run(ctx: StepContext) -> dict:
    checkpoint = check_source(ctx.config.model)
    if checkpoint is not None:
        source = _export_brevitas(ctx, *checkpoint)
    elif ctx.config.model.suffix in keras_frontend.KERAS_SUFFIXES:
        source = _copy_keras(ctx)
    else:
        shutil.copyfile(ctx.config.model, ctx.path("model.tmp.onnx"))
        ctx.path("model.tmp.onnx").replace(ctx.path(MODEL_ONNX))
        source = {"kind": "qonnx", "path": str(ctx.config.model), "files": [MODEL_ONNX]}
    atomic_write_json(ctx.path(SOURCE), source)
    return {"source": source["kind"], "model": source["path"]}


STEP = Step(name="export", run=run, reads=("model",), outputs=outputs)
