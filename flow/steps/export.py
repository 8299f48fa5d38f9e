"""Step `export`: the source model (Brevitas checkpoint or QONNX file) as model.onnx in QONNX form."""
from __future__ import annotations

import shutil
import warnings

import onnx

from ..config import StepContext
from ..errors import FlowError
from ..paths import atomic_write_json
from ..quiet import stdout_to
from ..zoo import DEFAULT_CHECKPOINT, compressible_layers, load_checkpoint

NAME = "export"
OUTPUTS = ["model.onnx", "source.json"]
CHECKPOINT_SUFFIXES = {".pt", ".pth"}


def _export_brevitas(ctx: StepContext) -> dict:
    import logging

    import torch
    from brevitas.export import export_qonnx

    # torch.onnx warns about torchvision ops this flow never uses
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    path = ctx.config.model or DEFAULT_CHECKPOINT
    model, blob = load_checkpoint(path)
    example = torch.zeros(1, *model.input_shape)
    target = ctx.path("model.onnx")
    with warnings.catch_warnings(), stdout_to(ctx.path("export.log")):
        warnings.simplefilter("ignore")
        export_qonnx(model, example, export_path=str(target.with_suffix(".tmp.onnx")))
    target.with_suffix(".tmp.onnx").replace(target)
    return {"kind": "brevitas", "path": str(path), "arch": blob["arch"], "input_shape": list(model.input_shape),
            "weight_layers": list(compressible_layers(model)), "train_metrics": blob.get("metrics", {})}


def _copy_qonnx(ctx: StepContext) -> dict:
    path = ctx.config.model
    try:
        # onnx.checker rejects QONNX's custom-op domains, so parse and check the structure ourselves
        model = onnx.load(str(path))
        if not model.graph.node or not model.graph.input or not model.graph.output:
            raise ValueError("graph has no nodes, inputs or outputs")
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise FlowError(f"{path} is not a valid ONNX model ({reason}); re-export it with brevitas.export.export_qonnx") from None
    tmp = ctx.path("model.tmp.onnx")
    shutil.copyfile(path, tmp)
    tmp.replace(ctx.path("model.onnx"))
    return {"kind": "qonnx", "path": str(path)}


def run(ctx: StepContext) -> dict:
    path = ctx.config.model
    if path is not None and not path.is_file():
        raise FlowError(f"model file not found: {path}; pass an existing .onnx model or .pt checkpoint")
    if path is None or path.suffix in CHECKPOINT_SUFFIXES:
        source = _export_brevitas(ctx)
    elif path.suffix == ".onnx":
        source = _copy_qonnx(ctx)
    else:
        raise FlowError(f"unsupported model format '{path.suffix}' ({path}); pass a QONNX .onnx file or a flow .pt checkpoint")
    atomic_write_json(ctx.path("source.json"), source)
    return {"source": source["kind"], "model": source["path"]}
