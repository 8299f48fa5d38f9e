"""Step `hls4ml`: the cleaned QONNX graph, or the Keras model, as an hls4ml project for the board's part.

The model is converted with every layer dense first: that conversion fixes each layer's shape and
input precision, from which each weight layer's accumulator gets its exact type (and a quantized
input its quantizer's); converted again on those types, `--sparse` is resolved to hls4ml layer names (break-even on the board for
`auto`) and an output too wide for a stream word is narrowed. An io_parallel model with sparse
layers gets hls4ml's dataflow pipeline style. Kernels and types are set at
conversion, so when either changes the config, the chosen config is converted once more; that
model is the one written, and the later steps of this build use it.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from ...deploy.pynq_driver import CONTAINERS, BundleError
from ...errors import FlowError
from ...frontends import keras as keras_frontend
from ...paths import atomic_write_json
from ...quiet import stdout_to
from .. import artifacts
from ..artifacts import (CONFIG, DESIGN, HLS4ML_LOG, HLS_CONFIG, MEMORY, MODEL_CLEAN, PARETO_PLOT, PROJECT_DIR,
                         source_kind)
from ..step import Step, StepContext

MAX_STREAM_BITS = max(CONTAINERS)


def io_type(ops: list[str]) -> str:
    # io_stream keeps CNN feature maps in FIFOs instead of fully partitioned arrays
    streamed = {"Conv", "MaxPool", "AveragePool"} | keras_frontend.STREAMED_LAYERS
    return "io_stream" if any(op in streamed for op in ops) else "io_parallel"


def narrow_output(hls_model, hls_config: dict) -> str | None:
    """Round an inferred model output wider than the widest stream word down to 64 bits, keeping its integer bits.

    Float activations make hls4ml infer outputs of 70+ bits (the float LeNet-5: fixed<71,39>) that no DMA word
    carries; dropping fraction bits below 2**-(64 - I) changes no argmax and lets the board stream
    them. Sets the type of the layer that writes the output in the model's ExactResults (applied after
    hls4ml's fusions, flow/hls4ml/exact_results.py); returns what was done, or None when the output
    already fits or cannot be narrowed.
    """
    from ...hls4ml.exact_results import EXACT_RESULTS_KEY

    precision = hls_model.get_output_variables()[0].type.precision
    if precision.width <= MAX_STREAM_BITS or precision.integer >= MAX_STREAM_BITS:
        return None
    writer = next(node for node in hls_model.get_layers() if hls_model.outputs[0] in node.outputs)
    kind = "fixed" if precision.signed else "ufixed"
    narrowed = f"{kind}<{MAX_STREAM_BITS},{precision.integer},TRN,WRAP>"
    hls_config["Model"].setdefault(EXACT_RESULTS_KEY, {})[writer.name] = narrowed
    return (f"{precision} -> {narrowed}: the stream word is at most {MAX_STREAM_BITS} bits, "
            f"so {precision.width - MAX_STREAM_BITS} fraction bits are dropped")


def set_exact_types(hls_model, hls_config: dict, user_types: dict | None = None) -> dict[str, dict[str, str]]:
    """Pin each weight layer's accumulator and result, and a quantized model's input, to their exact types
    (flow/hls4ml/accumulators.py) in `hls_config`, except where the build config's `layers:` gives one
    (`user_types`: layer -> variable -> type); returns what changed (layer name -> precisions).

    Accumulators and the input go in the layers' own config. Results go in the model's ExactResults, which
    flow's pass applies after hls4ml's fusions (flow/hls4ml/exact_results.py): a result in the layer's
    config would keep hls4ml from fusing the bias add or rescale that follows."""
    from ...hls4ml.accumulators import exact_layer_precisions, quantized_input_precision
    from ...hls4ml.exact_results import EXACT_RESULTS_KEY
    from ...hls4ml.nodes import layer_precisions

    results = hls_config["Model"].setdefault(EXACT_RESULTS_KEY, {})
    user_types = user_types or {}
    exact = exact_layer_precisions(hls_model)
    in_config = {name: {"accum": precisions["accum"]} for name, precisions in exact.items()
                 if "accum" not in user_types.get(name, {})}
    in_pass = {name: precisions["result"] for name, precisions in exact.items()
               if "result" in precisions and "result" not in user_types.get(name, {})}
    input_precision = quantized_input_precision(hls_model)
    first = next(iter(hls_model.get_layers())).name
    if input_precision and "result" not in user_types.get(first, {}):
        in_config[first] = {"result": input_precision}
    changed = {}
    for name, precisions in in_config.items():
        pinned = layer_precisions(hls_config, name)
        if any(pinned.get(var) != precision for var, precision in precisions.items()):
            pinned.update(precisions)
            changed[name] = dict(precisions)
    for name, precision in in_pass.items():
        if results.get(name) != precision:
            results[name] = precision
            changed.setdefault(name, {})["result"] = precision
    return changed


def convert_on_exact_types(ctx: StepContext, settings: dict, source_layers: list[str]):
    """The all-dense model converted on exact types (the build config's own where its `layers:` give one), and
    the layers given them.

    A pinned result type changes the input types of the layers after it (through rescales whose types
    hls4ml infers), so the types are recomputed on each conversion until they hold for the model they are
    converted into: at most one round per weight layer, each settling the next, and one to confirm."""
    from ...hls4ml.layer_settings import apply_precisions, precision_pins
    from ...hls4ml.nodes import weight_layers

    model, exact = artifacts.convert(ctx.build_dir, settings), {}
    user_types = precision_pins(ctx.config.layers, model, source_layers)
    if user_types:
        apply_precisions(user_types, settings["hls_config"])
        model = artifacts.convert(ctx.build_dir, settings)
    rounds = len(weight_layers(model)) + 1
    for _ in range(rounds):
        changed = set_exact_types(model, settings["hls_config"], user_types)
        if not changed:
            return model, exact
        exact.update(changed)
        model = artifacts.convert(ctx.build_dir, settings)
    raise FlowError(f"the exact accumulator types did not settle in {rounds} conversions "
                    f"(still changing: {', '.join(changed)}); report this model to flow's maintainers")


def check_result_types(hls_model) -> None:
    from ...hls4ml.exact_results import unapplied

    missing = unapplied(hls_model)
    if missing:
        raise FlowError(f"hls4ml did not keep flow's result types for {', '.join(missing)} (a fusion it refused "
                        "late, or a node a later hls4ml pass made); report this model to flow's maintainers")


def base_hls_config(ctx: StepContext) -> dict:
    """hls4ml's own per-layer config of the model, from its frontend, with the build's defaults."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper

    with warnings.catch_warnings(), stdout_to(ctx.path(HLS4ML_LOG)):
        warnings.simplefilter("ignore")
        if source_kind(ctx.build_dir) == "keras":
            return keras_frontend.hls4ml_config(artifacts.keras_model_path(ctx.build_dir), ctx.board.hls4ml_backend,
                                                ctx.config.default_precision, ctx.config.reuse_factor)
        return hls4ml.utils.config.config_from_onnx_model(
            ModelWrapper(str(ctx.path(MODEL_CLEAN))),
            granularity="name",
            backend=ctx.board.hls4ml_backend,
            default_precision=ctx.config.default_precision,
            default_reuse_factor=ctx.config.reuse_factor,
        )


def run(ctx: StepContext) -> dict:
    from ...cost.design import other_node_totals
    from ...cost.pareto import fixed_part
    from ...hls4ml.kernel_selection import (apply_design, choose_design, design_record, layer_menus, sparse_layers,
                                            stream_words)
    from ...hls4ml.layer_settings import kernel_pins
    from ...hls4ml.rescale_types import MODE_KEY as RESCALE_MODE_KEY
    from ...hls4ml.sparse_layers import SPARSE_KEY
    from ...hls4ml.stream_top import write_axis_top
    from ...hls4ml.weight_memory import check_fits, memory_report, model_memory

    graph = artifacts.read_json(ctx.build_dir, artifacts.GRAPH)
    for name in (HLS_CONFIG, DESIGN, PARETO_PLOT):  # written once the kernels are chosen; none is left from before
        ctx.path(name).unlink(missing_ok=True)
    hls_config = base_hls_config(ctx)
    hls_config["Model"]["Strategy"] = ctx.config.strategy
    if ctx.config.float32_rescales:
        hls_config["Model"][RESCALE_MODE_KEY] = "float32"
    hls_config["Model"][SPARSE_KEY] = {"select": [], "max_cycles": ctx.config.sparse_cycles}
    settings = {
        "backend": ctx.board.hls4ml_backend,
        "part": ctx.board.part,
        "clock_period": ctx.board.clock_period_ns,
        "io_type": io_type(graph["ops"]),
        "hls_config": hls_config,
    }
    source_layers = artifacts.read_json(ctx.build_dir, artifacts.SOURCE).get("weight_layers", [])
    try:
        # the kernel choice sees the real widths
        all_dense, exact_types = convert_on_exact_types(ctx, settings, source_layers)
        design, pins = None, kernel_pins(ctx.config.layers, all_dense, source_layers)
        words, in_series = stream_words(all_dense, settings["io_type"])
        if ctx.config.sparse == "auto":
            design = choose_design(all_dense, ctx.board, ctx.config.target_fps, ctx.config.max_utilization,
                                   settings["io_type"], pins)
            selected = [] if design is None else apply_design(design, hls_config)
        else:
            selected = sparse_layers(ctx.config.sparse, all_dense, source_layers)
            hls_config["Model"][SPARSE_KEY]["select"] = selected
        if selected and settings["io_type"] == "io_parallel":
            # hls4ml pipelines an io_parallel top, which would unroll the sparse entries walk; as a dataflow
            # region (what hls4ml picks itself for Resource-strategy layers) each layer is a process
            # whose own loops are pipelined, as estimated
            hls_config["Model"]["PipelineStyle"] = "dataflow"
        # a Keras model's output type comes from its own quantizers, or the default precision
        narrowed = (None if source_kind(ctx.build_dir) == "keras"
                    else narrow_output(all_dense, hls_config))
        atomic_write_json(ctx.path(HLS_CONFIG), settings)
        record = None if design is None else design_record(design, ctx.board, ctx.config.target_fps,
                                                           ctx.config.max_utilization, words, in_series, pins)
        if record is not None:
            # every family's designs, also where the user's pins cut the menus the chooser saw
            menus = layer_menus(all_dense, settings["io_type"]) if pins else design.menus
            record["pareto"] = write_pareto(ctx, menus, fixed_part(design), words, in_series,
                                            frozenset({design.target_interval or design.interval}),
                                            chosen_point(record, design))
            atomic_write_json(ctx.path(DESIGN), record)
        elif ctx.config.sparse != "auto":  # the design space the pinned kernels were taken from
            menus = layer_menus(all_dense, settings["io_type"])
            if menus:
                write_pareto(ctx, menus, other_node_totals(all_dense), words, in_series, frozenset())
        if selected or narrowed or design is not None:
            hls_model = ctx.hls_model()  # kernels or the output type changed: the chosen config converted
        else:
            ctx.keep_hls_model(all_dense)
            hls_model = all_dense
        check_result_types(hls_model)
        layers = model_memory(hls_model)
        atomic_write_json(ctx.path(MEMORY), memory_report(layers, ctx.board))
        check_fits(layers, ctx.board)
        with stdout_to(ctx.path(HLS4ML_LOG)):
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
            f"see {ctx.path(HLS4ML_LOG)}"
        ) from None
    chosen = {} if record is None else {"design": (
        f"{record['throughput_fps']:,.0f}/s at {record['interval']:,} cycles; {record['scarcest'].upper()} "
        f"{100 * record['utilization'][record['scarcest']]:.0f}%; see {DESIGN}")}
    return {"backend": settings["backend"], "part": settings["part"], "io_type": settings["io_type"], **chosen,
            **({"output_narrowed": narrowed} if narrowed else {}), "exact_types": len(exact_types),
            "layers": len(hls_model.get_layers()),
            "sparse_layers": [layer.name for layer in layers if layer.kernel == "sparse"], "stream_top": stream_top,
            "weight_bram18": sum(layer.chosen.bram18 for layer in layers)}


def write_pareto(ctx: StepContext, menus: dict, fixed: dict, words: int, in_series: bool, also: frozenset[int],
                 chosen=None) -> dict:
    """pareto.png, and the frontiers it draws: each kernel family's designs and the mixed ones, `chosen` (the
    chooser's design, a cost.pareto.Point) marked; a build whose kernels are pinned has none to mark."""
    from ...cost.pareto import frontiers, plot_frontiers

    fronts = frontiers(menus, ctx.board, fixed, words, also=also, in_series=in_series)
    plot_frontiers(fronts, chosen, ctx.board, ctx.path(PARETO_PLOT), ctx.config.max_utilization)
    return {"plot": PARETO_PLOT, "frontiers": {family: [p.to_json() for p in points] for family, points in fronts.items()}}


def chosen_point(record: dict, design):
    from ...cost.pareto import Point

    return Point(interval=record["interval"], fps=record["throughput_fps"],
                 utilization=max(record["utilization"].values()),
                 kernels=tuple(c.label for c in design.chosen.values()))


def outputs(build_dir) -> list[str]:
    # a model with no Dense or Conv2D layer has no menu, so no design.json and no pareto.png
    chosen = artifacts.read_json(build_dir, CONFIG).get("sparse") == "auto" and (Path(build_dir) / DESIGN).is_file()
    drawn = chosen or (Path(build_dir) / PARETO_PLOT).is_file()
    return [HLS_CONFIG, MEMORY, f"{PROJECT_DIR}/firmware/myproject.cpp", *([DESIGN] if chosen else []),
            *([PARETO_PLOT] if drawn else [])]


STEP = Step(name="hls4ml", run=run,
            reads=("board", "clock_period_ns", "default_precision", "float32_rescales", "strategy", "reuse_factor",
                   "sparse", "sparse_cycles", "target_fps", "max_utilization", "layers"),
            outputs=outputs)
