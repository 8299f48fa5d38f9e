"""Step `hls4ml`: the cleaned QONNX graph, or the Keras model, as an hls4ml project for the board's part."""
from __future__ import annotations

import json
import warnings

from ..config import StepContext
from .. import keras_frontend
from ..errors import FlowError
from ..hls4ml_fixes import register as register_hls4ml_fixes
from ..paths import atomic_write_json
from ..quiet import stdout_to
from ..deploy.axis_top import write_axis_top
from ..deploy.pynq_driver import CONTAINERS, BundleError
from ..sparse.hls4ml_ext import SPARSE_KEY
from ..sparse.hls4ml_ext import register as register_sparse_kernels
from ..sparse.plan import WEIGHT_LAYERS, check_fits, memory_report, model_memory
from .export import source_kind

NAME = "hls4ml"
OUTPUTS = ["hls_config.json", "memory.json", "hls4ml_prj/firmware/myproject.cpp"]
PROJECT_DIR = "hls4ml_prj"
MAX_STREAM_BITS = max(CONTAINERS)


def _io_type(ops: list[str]) -> str:
    # io_stream keeps CNN feature maps in FIFOs instead of fully partitioned arrays
    streamed = {"Conv", "MaxPool", "AveragePool"} | keras_frontend.STREAMED_LAYERS
    return "io_stream" if any(op in streamed for op in ops) else "io_parallel"


def sparse_selection(spec: str):
    return spec if spec in {"auto", "all", "none"} else [name.strip() for name in spec.split(",") if name.strip()]


def _hls4ml_names(selection, hls_model, source_layers: list[str]):
    """--sparse may name hls4ml layers or, for a flow checkpoint, its own layers (conv1, fc1): those map in graph order."""
    if not isinstance(selection, list):
        return selection
    weight_layers = [layer.name for layer in hls_model.get_layers() if layer.class_name in WEIGHT_LAYERS]
    if len(source_layers) == len(weight_layers):
        by_source_name = dict(zip(source_layers, weight_layers))
        selection = [by_source_name.get(name, name) for name in selection]
    unknown = [name for name in selection if name not in weight_layers]
    if unknown:
        known = ", ".join(weight_layers + [f"{s} (= {h})" for s, h in zip(source_layers, weight_layers)])
        raise FlowError(f"--sparse names unknown layer {unknown[0]!r}; layers with weights: {known}")
    return selection


def _narrow_output(hls_model, settings: dict, onnx_path) -> str | None:
    """Round an inferred model output wider than the widest stream word down to 64 bits, keeping its integer bits.

    Float activations make hls4ml infer outputs of 70+ bits (LeNet-5: fixed<78,46>) that no DMA word
    carries; dropping fraction bits below 2**-(64 - I) changes no argmax and lets the board stream
    them. Returns what was done, or None when the output already fits or cannot be narrowed.
    """
    precision = hls_model.get_output_variables()[0].type.precision
    if precision.width <= MAX_STREAM_BITS or precision.integer >= MAX_STREAM_BITS:
        return None
    from qonnx.core.modelwrapper import ModelWrapper

    onnx_model = ModelWrapper(str(onnx_path))
    producer = onnx_model.find_producer(onnx_model.graph.output[0].name)
    layer = settings["hls_config"].get("LayerName", {}).get(producer.name if producer else None)
    if layer is None:
        return None
    kind = "fixed" if precision.signed else "ufixed"
    layer.setdefault("Precision", {})["result"] = f"{kind}<{MAX_STREAM_BITS},{precision.integer},TRN,WRAP>"
    return (f"{precision} -> {layer['Precision']['result']}: the stream word is at most {MAX_STREAM_BITS} bits, "
            f"so {precision.width - MAX_STREAM_BITS} fraction bits are dropped")


def keras_model_path(ctx: StepContext):
    return ctx.path(next(name for name in json.loads(ctx.path("source.json").read_text())["files"]
                         if name.startswith("model.")))


def load_hls_model(ctx: StepContext):
    """Rebuild the hls4ml ModelGraph from the build dir's files (model_clean.onnx or the Keras copy, + hls_config.json)."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper

    settings = json.loads(ctx.path("hls_config.json").read_text())
    register_hls4ml_fixes(settings["backend"])
    register_sparse_kernels(settings["backend"])
    conversion = {"output_dir": str(ctx.path(PROJECT_DIR)), "backend": settings["backend"], "part": settings["part"],
                  "clock_period": settings["clock_period"], "io_type": settings["io_type"],
                  "hls_config": settings["hls_config"]}
    with warnings.catch_warnings(), stdout_to(ctx.path("hls4ml.log")):
        warnings.simplefilter("ignore")
        if source_kind(ctx.build_dir) == "keras":
            return keras_frontend.convert(keras_model_path(ctx), **conversion)
        return hls4ml.converters.convert_from_onnx_model(ModelWrapper(str(ctx.path("model_clean.onnx"))), **conversion)


def _hls_config(ctx: StepContext) -> dict:
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper

    with warnings.catch_warnings(), stdout_to(ctx.path("hls4ml.log")):
        warnings.simplefilter("ignore")
        if source_kind(ctx.build_dir) == "keras":
            return keras_frontend.hls4ml_config(keras_model_path(ctx), ctx.board.hls4ml_backend,
                                                ctx.config.default_precision, ctx.config.reuse_factor)
        return hls4ml.utils.config.config_from_onnx_model(
            ModelWrapper(str(ctx.path("model_clean.onnx"))),
            granularity="name",
            backend=ctx.board.hls4ml_backend,
            default_precision=ctx.config.default_precision,
            default_reuse_factor=ctx.config.reuse_factor,
        )


def run(ctx: StepContext) -> dict:
    graph = json.loads(ctx.path("graph.json").read_text())
    hls_config = _hls_config(ctx)
    hls_config["Model"]["Strategy"] = ctx.config.strategy
    hls_config["Model"][SPARSE_KEY] = {"select": sparse_selection(ctx.config.sparse), "max_cycles": ctx.config.sparse_cycles,
                                       "board": ctx.board.name}
    settings = {
        "backend": ctx.board.hls4ml_backend,
        "part": ctx.board.part,
        "clock_period": ctx.board.clock_period_ns,
        "io_type": _io_type(graph["ops"]),
        "hls_config": hls_config,
    }
    atomic_write_json(ctx.path("hls_config.json"), settings)
    try:
        hls_model = load_hls_model(ctx)
        source_layers = json.loads(ctx.path("source.json").read_text()).get("weight_layers", [])
        selection = hls_config["Model"][SPARSE_KEY]["select"]
        resolved = _hls4ml_names(selection, hls_model, source_layers)
        if resolved != selection:  # the kernels are chosen at conversion, so convert again with hls4ml's names
            hls_config["Model"][SPARSE_KEY]["select"] = resolved
            atomic_write_json(ctx.path("hls_config.json"), settings)
            hls_model = load_hls_model(ctx)
        # a Keras model's output type comes from its own quantizers, or the default precision
        narrowed = (None if source_kind(ctx.build_dir) == "keras"
                    else _narrow_output(hls_model, settings, ctx.path("model_clean.onnx")))
        if narrowed:
            atomic_write_json(ctx.path("hls_config.json"), settings)
            hls_model = load_hls_model(ctx)
        layers = model_memory(hls_model)
        atomic_write_json(ctx.path("memory.json"), memory_report(layers, ctx.board))
        check_fits(layers, ctx.board)
        with stdout_to(ctx.path("hls4ml.log")):
            hls_model.write()
        try:
            stream_top = f"firmware/{write_axis_top(hls_model, settings['io_type']).name}"
        except BundleError as exc:  # csim still runs; only the board's stream format is impossible
            stream_top = f"not written: {exc}"
    except FlowError:
        raise
    except Exception as exc:
        raise FlowError(
            f"hls4ml cannot convert this model ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}); "
            f"see {ctx.path('hls4ml.log')}"
        ) from None
    return {"backend": settings["backend"], "part": settings["part"], "io_type": settings["io_type"],
            **({"output_narrowed": narrowed} if narrowed else {}),
            "layers": len(hls_model.get_layers()),
            "sparse_layers": [layer.name for layer in layers if layer.kernel == "sparse"], "stream_top": stream_top,
            "weight_bram18": sum(layer.chosen.bram18 for layer in layers)}
