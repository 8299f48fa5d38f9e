"""Step `qonnx`: cleanup, channels-last, Gemm->MatMul; then check hls4ml can take every node.

Keras models skip it: hls4ml's Keras frontend reads them directly.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ...errors import FlowError
from ...frontends.qonnx_transforms import (AddZeroBiasToGemm, QuantOpsToQonnxDomain, RemoveNoOpNodes,
                                            RemoveOutputSoftmax, RemoveReluBeforeUnsignedQuant)
from ...paths import atomic_write_bytes, atomic_write_json
from ..artifacts import GRAPH, MODEL_CLEAN, MODEL_ONNX, MODEL_REFERENCE, source_kind
from ..step import Step, StepContext

KERAS_SKIP = "skipped: a Keras model goes to hls4ml's Keras frontend, not through QONNX"


def outputs(build_dir: Path) -> list[str]:
    return [] if source_kind(build_dir) == "keras" else [MODEL_REFERENCE, MODEL_CLEAN, GRAPH]


def _check_single_input(model) -> None:
    initializers = {t.name for t in model.graph.initializer}
    inputs = [t.name for t in model.graph.input if t.name not in initializers]
    if len(inputs) != 1:
        raise FlowError(f"the model has inputs {inputs}; flow compiles models with exactly one input")


def _static_input_shape(model) -> list[int]:
    tensor = model.graph.input[0]
    dims = tensor.type.tensor_type.shape.dim
    shape = [d.dim_value for d in dims]
    if not shape or any(d <= 0 for d in shape):
        symbolic = [d.dim_param or d.dim_value for d in dims]
        raise FlowError(
            f"model input '{tensor.name}' has no static shape {symbolic}; export it with a fixed shape such as [1, C, H, W]"
        )
    if shape[0] != 1:
        raise FlowError(f"model input '{tensor.name}' has batch size {shape[0]}; export it with batch size 1")
    return shape


# ops this step rewrites into ones hls4ml takes
REWRITTEN_OPS = {"Gemm"}


def _check_supported(model, original, also_accepted: set[str] = frozenset()) -> None:
    from hls4ml.converters.onnx_to_hls import get_supported_onnx_layers

    supported = set(get_supported_onnx_layers()) | also_accepted
    for node in model.graph.node:
        if node.op_type not in supported:
            # cleanup renames nodes; name the user's own node of that op where there is one
            named = next((n.name for n in original.graph.node if n.op_type == node.op_type and n.name), node.name)
            raise FlowError(
                f"unsupported layer: node '{named}' has op '{node.op_type}', which hls4ml cannot map; "
                "replace it with a supported op (see hls4ml's ONNX layer list) before export"
            )


def run(ctx: StepContext) -> dict:
    if not outputs(ctx.build_dir):
        return {"status": KERAS_SKIP}
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        original = ModelWrapper(str(ctx.path(MODEL_ONNX)))
        no_ops, softmax = RemoveNoOpNodes(), RemoveOutputSoftmax()
        try:
            # transforms deep-copy by default, so `original` keeps the user's node names; hls4ml's frontend has
            # no Identity or Dropout, and no bit-exact softmax
            model = cleanup_model(original.transform(QuantOpsToQonnxDomain()).transform(no_ops).transform(softmax))
        except Exception as exc:
            raise FlowError(f"qonnx cannot clean up the model ({str(exc).splitlines()[0][:160]}); "
                            "check that it is plain QONNX (Quant/BipolarQuant nodes), not a FINN-internal graph") from None
        _check_single_input(model)
        input_shape = _static_input_shape(model)
        _check_supported(model, original, also_accepted=REWRITTEN_OPS)
        reference = model
        # where a Transpose is left on the NCHW input (a layer works per channel), the input too: hls4ml would
        # keep that Transpose as a whole-frame buffer; a model that only flattens its input has it folded away
        try:
            converted = model.transform(ConvertToChannelsLastAndClean())
            if any(node.op_type == "Transpose" for node in converted.find_consumers(converted.graph.input[0].name)):
                converted = model.transform(ConvertToChannelsLastAndClean(make_input_channels_last=True))
        except Exception as exc:
            raise FlowError(f"qonnx cannot convert the model to channels-last ({' '.join(str(exc).split())[:160]}); "
                            "set what it names in the model (qonnx does not fill in ONNX's default attributes)") from None
        # after `reference`: verify compares csim with the model that still has these Relus
        relus = RemoveReluBeforeUnsignedQuant()
        model = converted.transform(relus)
        model = model.transform(AddZeroBiasToGemm())
        model = model.transform(GemmToMatMul())
        model = cleanup_model(model)
    _check_supported(model, original)
    for kept, name in ((reference, MODEL_REFERENCE), (model, MODEL_CLEAN)):
        atomic_write_bytes(ctx.path(name), kept.model.SerializeToString())
    ops = [n.op_type for n in model.graph.node]
    output_producer = model.find_producer(model.graph.output[0].name)
    graph = {
        "input_name": model.graph.input[0].name,
        "input_shape": input_shape,
        "input_perm": _input_permutation(reference, model),
        "output_name": model.graph.output[0].name,
        "output_shape": model.get_tensor_shape(model.graph.output[0].name),
        "output_quantized": output_producer is not None and output_producer.op_type in {"Quant", "BipolarQuant"},
        "ops": ops,
        "input_quant": _input_quant(reference),
        "rescaled_quantizers": _rescaled_quantizers(model),
    }
    atomic_write_json(ctx.path(GRAPH), graph)
    removed = {**({"no_ops_removed": no_ops.removed} if no_ops.removed else {}),
               **({"output_softmax_removed": softmax.removed} if softmax.removed else {}),
               **({"relus_before_unsigned_quant_removed": len(relus.removed)} if relus.removed else {})}
    return {"nodes": len(ops), "input_shape": input_shape, **removed}


def _rescaled_quantizers(model) -> list[str]:
    """The activation Quants that round after a scale hls4ml cannot apply exactly: their own scale, or a batch
    norm, Mul or Div just before them, not a power of two. hls4ml computes that product in fixed point, qonnx in
    float32, and the two can round a value on either side of a half step (verify's --float32-rescales hint)."""
    def powers_of_two(name: str) -> bool:
        value = model.get_initializer(name)
        return value is not None and bool(np.all(np.log2(np.abs(value[value != 0])) % 1 == 0))

    found = []
    for node in model.graph.node:
        if node.op_type != "Quant" or model.get_initializer(node.input[0]) is not None:
            continue
        producer = model.find_producer(node.input[0])
        rescaled = producer is not None and (producer.op_type == "BatchNormalization" or (
            producer.op_type in ("Mul", "Div") and not powers_of_two(producer.input[1])))
        if rescaled or not powers_of_two(node.input[1]):
            found.append(node.name)
    return found


def _input_quant(model) -> dict | None:
    """The Quant or BipolarQuant the model's input goes straight into, with the grid of values it passes on
    (low, high, step), where its parameters are constants: the inputs a quantized model really takes. None
    otherwise."""
    consumers = model.find_consumers(model.graph.input[0].name)
    if len(consumers) != 1 or consumers[0].op_type not in ("Quant", "BipolarQuant"):
        return None
    node = consumers[0]
    params = [model.get_initializer(name) for name in node.input[1:]]
    if any(value is None or value.size != 1 for value in params):
        return None
    if node.op_type == "BipolarQuant":
        scale = float(params[0])
        return {"node": node.name, "grid": [-scale, scale, 2 * scale]}
    from qonnx.custom_op.general.intquant import max_int, min_int

    scale, zero_point, bits = (float(value) for value in params)
    attributes = {a.name: a.i for a in node.attribute if a.name in ("signed", "narrow")}
    signed, narrow = bool(attributes.get("signed", 1)), bool(attributes.get("narrow", 0))
    low, high = min_int(signed, narrow, int(bits)), max_int(signed, narrow, int(bits))
    return {"node": node.name, "grid": [scale * (low - zero_point), scale * (high - zero_point), scale]}


def _input_permutation(reference, clean) -> list[int] | None:
    """The permutation from the exported model's input layout to the cleaned model's (the one hls4ml's project
    takes): channels moved last when the conversion made the input channels-last (qonnx marks it so; its
    shape alone may not change, as in [1, 4, 4, 4]), else None."""
    from qonnx.core import data_layout

    name = clean.graph.input[0].name
    ndim = len(clean.get_tensor_shape(name))
    channels_last = data_layout.get_channels_last_layout_for_ndims(ndim) if ndim in (3, 4) else None
    if channels_last is None or clean.get_tensor_layout(name) != channels_last or \
            reference.get_tensor_layout(reference.graph.input[0].name) == channels_last:
        return None
    perm = [0, *range(2, ndim), 1]
    source_shape = reference.get_tensor_shape(reference.graph.input[0].name)
    if [source_shape[axis] for axis in perm] != list(clean.get_tensor_shape(name)):
        raise FlowError(f"the cleaned model's input has shape {clean.get_tensor_shape(name)}, not the channels-last "
                        f"form of {source_shape}; report this model to flow's maintainers")
    return perm


STEP = Step(name="qonnx", run=run, outputs=outputs)
