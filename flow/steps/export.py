"""Step `export`: the source model (Brevitas checkpoint or QONNX file) as model.onnx in QONNX form."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..config import StepContext
from ..errors import FlowError
from ..paths import atomic_write_json
from ..quiet import stdout_to
from ..zoo import DEFAULT_CHECKPOINT, check_weights, compressible_layers, load_checkpoint

NAME = "export"
OUTPUTS = ["model.onnx", "source.json"]
CHECKPOINT_SUFFIXES = {".pt", ".pth"}


def _export_brevitas(ctx: StepContext, model, blob: dict) -> dict:
    import logging

    import torch
    from brevitas.export import export_qonnx

    # torch.onnx warns about torchvision ops this flow never uses
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    example = torch.zeros(1, *model.input_shape)
    target = ctx.path("model.onnx")
    with warnings.catch_warnings(), stdout_to(ctx.path("export.log")):
        warnings.simplefilter("ignore")
        export_qonnx(model, example, export_path=str(target.with_suffix(".tmp.onnx")))
    target.with_suffix(".tmp.onnx").replace(target)
    return {"kind": "brevitas", "path": str(ctx.config.model or DEFAULT_CHECKPOINT), "arch": blob["arch"],
            "input_shape": list(model.input_shape), "weight_layers": list(compressible_layers(model)),
            "train_metrics": blob.get("metrics", {})}


def _load_qonnx(path: Path) -> None:
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
    if path is not None and not path.is_file():
        raise FlowError(f"model file not found: {path}; pass an existing .onnx model or .pt checkpoint")
    if path is None or path.suffix in CHECKPOINT_SUFFIXES:
        return load_checkpoint(path or DEFAULT_CHECKPOINT)
    if path.suffix == ".onnx":
        return _load_qonnx(path)
    raise FlowError(f"unsupported model format '{path.suffix}' ({path}); pass a QONNX .onnx file or a flow .pt checkpoint")


def run(ctx: StepContext) -> dict:
    checkpoint = check_source(ctx.config.model)
    if checkpoint is not None:
        source = _export_brevitas(ctx, *checkpoint)
    else:
        shutil.copyfile(ctx.config.model, ctx.path("model.tmp.onnx"))
        ctx.path("model.tmp.onnx").replace(ctx.path("model.onnx"))
        source = {"kind": "qonnx", "path": str(ctx.config.model)}
    atomic_write_json(ctx.path("source.json"), source)
    return {"source": source["kind"], "model": source["path"]}
