"""A build's estimates.json: per-layer latency and resources, dense vs sparse, and each layer's break-even pruning.

Without synthesis reports every figure is the pre-synthesis estimator's (flow/cost/kernels.py) and
estimates.json says so. With C-synthesis reports in the project (the synth step, or a rerun of this
step after one), each synthesized layer gets its reported numbers, and reported / estimated
factors per kernel correct the estimates before the break-even comparison; where `--sparse` pinned
the kernels, the break-even rule is re-run on the reports' proportions and layers whose kernel it
would change are listed.
The whole design (flow/cost/design.py: every node, FIFO and the stream top, at the HLS and the
implementation level) goes under `design`; `fits` is its implementation-level fit to the board.
Writes estimates.json and breakeven.png (per layer, the break-even pruned portion against the target rate;
paper Fig. 4 read along the rate axis).
"""
from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path

from ..boards import Board
from ..build.artifacts import (BREAKEVEN_PLOT, DESIGN, ESTIMATES, HLS_CONFIG, LAYER_PROJECTS, LAYER_PROJECTS_DIR,
                               MEMORY, PROJECT_DIR, read_json)
from ..build.config import BuildConfig
from ..hls4ml.nodes import exact_weights, is_sparse, layer_shape, weight_layers
from ..paths import atomic_write_json
from ..reports.hls import ModuleEstimate, SynthesisReport, read_hls_reports
from ..sparse.encoding import MAX_CODE_BITS
from .breakeven import SCALED, Corrections, KernelCosts, plot_break_evens, rate_break_even
from .candidates import da4ml_installed
from .design import design_report, node_costs
from .kernels import UNROLLED, DenseKernel, Estimate, SparseKernel, estimate_dense, estimate_sparse

BASIS = "estimator (flow/cost/kernels.py): pre-synthesis, no HLS reports"


def reported(module: ModuleEstimate | SynthesisReport) -> dict:
    figures = {"latency": module.latency[1], "interval": module.interval[1]}
    if module.resources:
        figures.update(asdict(module.resources))
    return {name: value for name, value in figures.items() if name in SCALED and value is not None}


def correction_key(kernel: str, strategy: str) -> str:
    """Whose reports correct a layer's estimate: the sparse kernel's, distributed_arithmetic's (its own), or the
    other dense kernels' (`kernel` dense or sparse, `strategy` the dense kernel's)."""
    return kernel if kernel == "sparse" else UNROLLED if strategy == UNROLLED else "dense"


def corrections_from(synthesized: list[tuple[str, Estimate, dict]]) -> Corrections:
    """Per kernel, the median reported / estimated ratio of each figure over the synthesized layers."""
    factors = {}
    for kernel in ("dense", UNROLLED, "sparse"):
        pairs = [(estimate, figures) for kind, estimate, figures in synthesized if kind == kernel]
        ratios = {name: [figures[name] / getattr(estimate, name) for estimate, figures in pairs
                         if figures.get(name) and getattr(estimate, name)] for name in SCALED}
        factors[kernel] = {name: round(statistics.median(values), 4) for name, values in ratios.items() if values}
    return Corrections({kernel: values for kernel, values in factors.items() if values})


def has_synthesis_reports(build_dir: Path) -> bool:
    """Whether the project or a per-layer project holds a C-synthesis report."""
    return any(any((Path(build_dir) / folder).rglob("*_csynth.rpt")) for folder in (PROJECT_DIR, LAYER_PROJECTS_DIR))


def synthesized_modules(build_dir: Path, hls_model) -> tuple[str | None, dict[int, ModuleEstimate]]:
    """The project's C-synthesis report, if any: its tool and its modules by hls4ml layer index."""
    project = Path(build_dir) / PROJECT_DIR
    if not any(project.rglob("*_csynth.rpt")):
        return None, {}
    report = read_hls_reports(project, top=hls_model.config.get_project_name())
    return f"{report.tool} {report.version}", report.layers()


def layer_project_figures(build_dir: Path) -> tuple[str | None, dict[tuple[str, str], dict]]:
    """Reported figures of the synthesized per-layer projects (flow/hls4ml/layer_projects.py), by (layer, kernel)."""
    path = Path(build_dir) / LAYER_PROJECTS
    if not path.is_file():
        return None, {}
    tool, figures = None, {}
    for record in json.loads(path.read_text())["projects"]:
        project = Path(build_dir) / record["project"]
        if record["status"] == "written" and any(project.rglob("*_csynth.rpt")):
            report = read_hls_reports(project)
            tool, figures[(record["layer"], record["kernel"])] = f"{report.tool} {report.version}", reported(report)
    return tool, figures


def _sum(estimates: list[Estimate]) -> dict:
    return {"latency_sum": sum(e.latency for e in estimates), "interval_max": max((e.interval for e in estimates), default=0),
            "dsp": sum(e.dsp for e in estimates), "bram18": sum(e.bram18 for e in estimates),
            "lut": sum(e.lut for e in estimates), "ff": sum(e.ff for e in estimates)}


def write_estimates(build_dir: Path, hls_model, board: Board, config: BuildConfig) -> dict:
    """estimates.json (and breakeven.png) of the build; returns the summary's record of it."""
    build_dir = Path(build_dir)
    settings = read_json(build_dir, HLS_CONFIG)
    memory = {layer["name"]: layer for layer in read_json(build_dir, MEMORY)["layers"]}
    tool, modules = synthesized_modules(build_dir, hls_model)
    layer_tool, per_layer = layer_project_figures(build_dir)
    tool = tool or layer_tool
    layers, synthesized, unrolled = [], [], {}
    for node in weight_layers(hls_model):
        shape = layer_shape(node)
        unrolled[node.name] = da4ml_installed() and exact_weights(node)  # as the chooser's menu offers it
        # the layer's own Strategy and ReuseFactor (the design chooser sets them per layer); a sparse node keeps
        # its dense source's reuse factor at the Latency strategy
        dense_kernel = DenseKernel(reuse_factor=int(node.get_attr("reuse_factor", config.reuse_factor)),
                                   strategy=str(node.get_attr("strategy", config.strategy)).lower(),
                                   io_type=settings["io_type"])
        plan = memory[node.name]
        sparse_kernel = SparseKernel(pes=plan["pes"], entries=plan["cycles"], rows=plan["rows_per_pe"],
                                     index_bits=plan["index_bits"], code_bits=plan["code_bits"])
        dense, sparse = estimate_dense(shape, dense_kernel), estimate_sparse(shape, sparse_kernel)
        kernel = "sparse" if is_sparse(node) else "dense"
        layer = {
            "name": node.name, "kernel": kernel, "shape": asdict(shape),
            "pruned_portion": round(1 - shape.kept / shape.weights, 5),
            # per hls4ml node, at its compiled weight width: qonnx's inference_cost needs an NCHW ONNX graph, and
            # model_clean.onnx is channels-last (its Conv cost asserts) while Keras sources have no ONNX at all
            "macs": shape.kept * shape.positions, "mac_bits": shape.kept * shape.positions * shape.weight_bits,
            "dense": {"kernel": asdict(dense_kernel), "estimate": dense.to_json()},
            "sparse": {"kernel": asdict(sparse_kernel), "estimate": sparse.to_json()},
        }
        if node.index in modules:
            layer["reported"] = reported(modules[node.index])
            synthesized.append((correction_key(kernel, dense_kernel.strategy), sparse if kernel == "sparse" else dense,
                                layer["reported"]))
        for project_kernel, estimate in (("dense", dense), ("sparse", sparse)):
            if (node.name, project_kernel) in per_layer:  # its own project: both kernels can have real figures
                figures = per_layer[(node.name, project_kernel)]
                layer.setdefault("reported_own_project", {})[project_kernel] = figures
                synthesized.append((correction_key(project_kernel, dense_kernel.strategy), estimate, figures))
        layers.append((layer, shape))
    corrections = corrections_from(synthesized)
    # the build's own rate: the chooser's design (stream top included), or with pinned kernels the slowest layer
    design_file = build_dir / DESIGN
    built_interval = (json.loads(design_file.read_text())["interval"] if design_file.is_file() else
                      max((layer[layer["kernel"]]["estimate"]["interval"] for layer, _ in layers), default=1))
    found, chosen, switch = [], [], []
    for layer, shape in layers:
        code_bits = layer["sparse"]["kernel"]["code_bits"]
        break_even = rate_break_even(shape, board, code_bits=code_bits, corrections=corrections,
                                     intervals=(built_interval,), unrolled=unrolled[layer["name"]])
        found.append(break_even)
        layer["break_even"] = {**break_even.to_json(), "at_build_rate": break_even.at(built_interval)}
        # judged at the layer's own pruning: the sparse kernel's lead need not grow with the portion everywhere
        costs = KernelCosts(shape, board, code_bits, shape.weight_bits, corrections, unrolled[layer["name"]])
        layer["beyond_break_even"] = code_bits <= MAX_CODE_BITS and costs.sparse_wins(layer["pruned_portion"],
                                                                                       built_interval)
        # the break-even rule advises on kernels the user pinned; the chooser's (design.json) weigh every candidate
        if config.sparse != "auto" and layer["beyond_break_even"] != (layer["kernel"] == "sparse"):
            switch.append(layer["name"])
        kernel_estimate = Estimate(**layer[layer["kernel"]]["estimate"])
        key = correction_key(layer["kernel"], layer["dense"]["kernel"]["strategy"])
        chosen.append(corrections.apply(key, kernel_estimate))
    layers = [layer for layer, _ in layers]
    total = _sum(chosen)
    resources = board.resources
    design = design_report(node_costs(hls_model, {layer["name"]: estimate for layer, estimate in zip(layers, chosen)},
                                      config.strategy.lower()), resources)
    report = {
        "basis": BASIS if not synthesized else (
            f"{tool} C-synthesis reports: {len(synthesized)} layer(s) and kernel(s) ('reported' from the whole "
            "project, 'reported_own_project' from per-layer projects); estimator scaled by reported / estimated "
            "per kernel elsewhere ('corrections')"),
        "corrections": corrections.factors, "layers_to_switch": switch,
        # the --sparse selection that applies this decision, for a rebuild from the hls4ml step
        "rebuild_sparse": ",".join(layer["name"] for layer in layers
                                   if (layer["kernel"] == "sparse") != (layer["name"] in switch)) or "none",
        "board": board.name, "budget": resources,
        "layers": layers, "total": total,  # total: the weight layers' chosen kernels only
        "design": design, "fits": design["fits"], "utilization": max(design["utilization"].values()),
    }
    if found:
        plot_break_evens(found, build_dir / BREAKEVEN_PLOT, {layer["name"]: layer["pruned_portion"] for layer in layers})
        report["plot"] = BREAKEVEN_PLOT
    atomic_write_json(build_dir / ESTIMATES, report)
    return {"basis": "reports" if synthesized else "estimator", "fits": report["fits"],
            "utilization": report["utilization"], "layers_to_switch": switch,
            "over_budget": ", ".join(f"{e['resource']} {100 * e['share']:.0f}%" for e in design["over_budget"]) or "none",
            "break_even_ratios": {b.layer: None if b.break_even_ratio is None else round(b.break_even_ratio, 2)
                                  for b in found}}
