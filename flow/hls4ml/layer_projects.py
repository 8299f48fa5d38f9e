"""One hls4ml project per weight layer and kernel, for C synthesis layer by layer.

A whole-model project reports only the kernel each layer was built with; the break-even decision
needs both. Each weight layer (Conv or MatMul, with the bias Add that follows it) is cut out of the
build's cleaned QONNX graph with its weight Quant nodes, given the input precision it has in the
whole model, and converted twice: dense (hls4ml's kernel) and sparse (flow's), the latter only
where the layer's levels fit the sparse encoding. The synth step writes them into
layer_projects/<layer>-<kernel>/ (listed in layer_projects.json) and C-synthesizes them where the
HLS tool is installed; elsewhere they can be synthesized on another machine, and
`flow compile --from-step estimate` then reads their reports.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

from onnx import helper

from ..build.artifacts import HLS4ML_LOG, HLS_CONFIG, LAYER_PROJECTS, LAYER_PROJECTS_DIR, MODEL_CLEAN, read_json
from ..errors import FlowError
from ..paths import atomic_write_json
from ..quiet import stdout_to
from . import register
from .nodes import is_xnor, weight_layers
from .sparse_layers import SPARSE_KEY

WEIGHT_OPS = ("Conv", "MatMul", "Gemm")
LAYOUT_OPS = ("Flatten", "Reshape")
KERNELS = ("dense", "sparse")
MAX_INPUT_BITS = 100  # hls4ml's FixInputPrecision rewrites wider model inputs


def layer_boundaries(model) -> list[tuple[str, str]]:
    """(input tensor, output tensor) of each weight node in graph order, the bias Add included, and a Flatten or
    Reshape in front of it too: the project then reads its input in the packets of the layer that feeds it in
    the whole model (an io_stream flatten keeps its producer's packets), not as one wide word."""
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    boundaries = []
    for node in graph.node:
        if node.op_type not in WEIGHT_OPS:
            continue
        first = node.input[0]
        layout = producers.get(first)
        if layout is not None and layout.op_type in LAYOUT_OPS and len(consumers.get(first, [])) == 1:
            first = layout.input[0]
        output = node.output[0]
        following = consumers.get(output, [])
        if len(following) == 1 and following[0].op_type == "Add" and any(i in initializers for i in following[0].input):
            output = following[0].output[0]
        boundaries.append((first, output))
    return boundaries


def subgraph(model, first: str, last: str):
    """The nodes that compute tensor `last` from tensor `first` (plus initializers and Quant nodes), as a model."""
    from qonnx.core.modelwrapper import ModelWrapper

    graph = model.graph
    producer = {output: index for index, node in enumerate(graph.node) for output in node.output}
    initializers = {init.name for init in graph.initializer}
    kept, pending = set(), [last]  # indices of the nodes needed, walking back from `last`
    while pending:
        tensor = pending.pop()
        if tensor == first or tensor in initializers or tensor not in producer or producer[tensor] in kept:
            continue
        kept.add(producer[tensor])
        pending.extend(graph.node[producer[tensor]].input)
    nodes = [graph.node[index] for index in sorted(kept)]
    used = {name for node in nodes for name in node.input}
    produced = {name for node in nodes for name in node.output}
    infos = {info.name: info for info in [*graph.value_info, *graph.input, *graph.output]}
    cut = helper.make_graph(
        nodes, f"{first}_to_{last}", [infos[first]], [infos[last]],
        initializer=[init for init in graph.initializer if init.name in used],
        value_info=[info for name, info in infos.items() if name in produced and name not in (first, last)])
    # QONNX keeps datatypes in quantization annotations; onnx.utils.extract_model refuses graphs that have them
    cut.quantization_annotation.extend(a for a in graph.quantization_annotation if a.tensor_name in used | produced | {first})
    return ModelWrapper(helper.make_model(cut, opset_imports=model.model.opset_import))


def weight_layer_cuts(build_dir: Path, hls_model) -> list[tuple[object, str, str]]:
    """(hls4ml node, input tensor, output tensor) per weight layer, matched in graph order."""
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(Path(build_dir) / MODEL_CLEAN))
    layers = weight_layers(hls_model)
    boundaries = layer_boundaries(model)
    if len(boundaries) != len(layers):
        raise FlowError(f"cannot cut per-layer projects: {len(boundaries)} weight nodes in the graph, "
                        f"{len(layers)} weight layers in hls4ml; synthesize the whole project instead")
    return [(node, first, last) for node, (first, last) in zip(layers, boundaries)]


def convert_layer(build_dir: Path, node, first: str, last: str, kernel: str):
    """The layer's own hls4ml ModelGraph with the given kernel, or a 'skipped: ...' reason."""
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper

    if is_xnor(node):  # cut out, its input is no threshold: hls4ml would not build the xnor product there
        return "skipped: a binary layer of xnor products, which only the whole model builds"
    precision = node.get_input_variable().type.precision
    if precision.width > MAX_INPUT_BITS:
        return (f"skipped: input {precision} is wider than the {MAX_INPUT_BITS} bits hls4ml takes at a model input; "
                "quantize the activations")
    build_dir = Path(build_dir)
    settings = read_json(build_dir, HLS_CONFIG)
    config = copy.deepcopy(settings["hls_config"])
    config["Model"][SPARSE_KEY]["select"] = [node.name] if kernel == "sparse" else []
    # the layer sees the precision it has in the whole model, not the default
    config.setdefault("LayerName", {}).setdefault(first, {})["Precision"] = {"result": str(precision)}
    cut = subgraph(ModelWrapper(str(build_dir / MODEL_CLEAN)), first, last)
    register(settings["backend"])
    try:
        with warnings.catch_warnings(), stdout_to(build_dir / HLS4ML_LOG):
            warnings.simplefilter("ignore")
            return hls4ml.converters.convert_from_onnx_model(
                cut, output_dir=str(build_dir / LAYER_PROJECTS_DIR / f"{node.name}-{kernel}"), backend=settings["backend"],
                part=settings["part"], clock_period=settings["clock_period"], io_type=settings["io_type"],
                hls_config=config)
    except FlowError as exc:  # e.g. a float layer has too many distinct values for level codes
        return f"skipped: {exc}"


def write_layer_projects(build_dir: Path, hls_model, synthesize: bool) -> list[dict]:
    """Write every weight layer's dense and sparse project, C-synthesize each if asked; one record per project."""
    records = []
    build_dir = Path(build_dir)
    for node, first, last in weight_layer_cuts(build_dir, hls_model):
        for kernel in KERNELS:
            record = {"layer": node.name, "kernel": kernel, "project": f"{LAYER_PROJECTS_DIR}/{node.name}-{kernel}",
                      "input": first, "output": last}  # relative to the build dir, which may move
            project = convert_layer(build_dir, node, first, last, kernel)
            if isinstance(project, str):
                records.append({**record, "status": project})
                continue
            with stdout_to(build_dir / HLS4ML_LOG):
                project.write()
                if synthesize:
                    project.build(csim=False, synth=True, export=False)
            records.append({**record, "status": "written"})
    atomic_write_json(build_dir / LAYER_PROJECTS, {"synthesized": synthesize, "projects": records})
    return records
