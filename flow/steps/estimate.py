"""Step `estimate`: per-layer latency and resources, dense vs sparse, and each layer's break-even pruning.

Without synthesis reports every figure is the pre-synthesis estimator's (flow/estimate.py) and
estimates.json says so. Writes estimates.json and breakeven.png (speedup against pruned portion
per layer, paper Fig. 4).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict

from ..breakeven import break_even_curve, plot_curves, utilization
from ..config import StepContext
from ..estimate import DenseKernel, Estimate, SparseKernel, dsp_per_product, estimate_dense, estimate_sparse
from ..paths import atomic_write_json
from ..sparse.hls4ml_ext import layer_shape
from ..sparse.plan import WEIGHT_LAYERS
from .hls4ml_project import load_hls_model

NAME = "estimate"
OUTPUTS = ["estimates.json"]
BASIS = "estimator (flow/estimate.py): pre-synthesis, no HLS reports"


def _sum(estimates: list[Estimate]) -> dict:
    return {"latency_sum": sum(e.latency for e in estimates), "interval_max": max((e.interval for e in estimates), default=0),
            "dsp": sum(e.dsp for e in estimates), "bram18": sum(e.bram18 for e in estimates),
            "lut": sum(e.lut for e in estimates), "ff": sum(e.ff for e in estimates)}


def equal_dsp_comparison(shape, sparse_kernel: SparseKernel, sparse: Estimate) -> dict:
    """hls4ml's Resource-strategy dense layer given the sparse layer's multipliers: the paper's Table 9 comparison."""
    multipliers = max(1, sparse_kernel.pes)
    dense_kernel = DenseKernel(reuse_factor=math.ceil(shape.weights / multipliers), strategy="resource")
    dense = estimate_dense(shape, dense_kernel)
    return {"multipliers": multipliers, "dsp_per_product": dsp_per_product(shape.weight_bits, shape.input_bits),
            "dense_reuse_factor": dense_kernel.reuse_factor, "dense_latency": dense.latency,
            "sparse_latency": sparse.latency, "speedup": round(dense.latency / sparse.latency, 3)}


def run(ctx: StepContext) -> dict:
    settings = json.loads(ctx.path("hls_config.json").read_text())
    memory = {layer["name"]: layer for layer in json.loads(ctx.path("memory.json").read_text())["layers"]}
    hls_model = load_hls_model(ctx)
    dense_kernel = DenseKernel(reuse_factor=ctx.config.reuse_factor, strategy=ctx.config.strategy.lower(),
                               io_type=settings["io_type"])
    layers, curves, chosen = [], [], []
    for node in hls_model.get_layers():
        if node.class_name not in WEIGHT_LAYERS:
            continue
        shape = layer_shape(node)
        plan = memory[node.name]
        sparse_kernel = SparseKernel(pes=plan["pes"], entries=plan["cycles"], index_bits=plan["index_bits"],
                                     code_bits=plan["code_bits"], io_type=settings["io_type"])
        dense = estimate_dense(shape, dense_kernel)
        sparse = estimate_sparse(shape, sparse_kernel)
        curve = break_even_curve(shape, ctx.board, code_bits=plan["code_bits"])
        curves.append(curve)
        pruned = 1 - shape.kept / shape.weights
        kernel = "sparse" if node.class_name.startswith("Sparse") else "dense"
        chosen.append(sparse if kernel == "sparse" else dense)
        layers.append({
            "name": node.name, "kernel": kernel, "shape": asdict(shape), "pruned_portion": round(pruned, 5),
            "macs": shape.kept * shape.positions, "mac_bits": shape.kept * shape.positions * shape.weight_bits,
            "dense": {"kernel": asdict(dense_kernel), "estimate": dense.to_json()},
            "sparse": {"kernel": asdict(sparse_kernel), "estimate": sparse.to_json()},
            "break_even": curve.to_json(),
            "beyond_break_even": curve.break_even_portion is not None and pruned >= curve.break_even_portion,
            "equal_dsp": equal_dsp_comparison(shape, sparse_kernel, sparse),
        })
    total = _sum(chosen)
    resources = ctx.board.resources
    report = {
        "basis": BASIS, "board": ctx.board.name, "budget": resources,
        "layers": layers, "total": total,
        "fits": all(total[key] <= resources[key] for key in ("dsp", "bram18", "lut", "ff")),
        "utilization": round(utilization(Estimate(0, 0, total["dsp"], total["bram18"], total["lut"], total["ff"]),
                                         ctx.board), 4),
    }
    if curves:
        plot_curves(curves, ctx.path("breakeven.png"))
        report["plot"] = "breakeven.png"
    atomic_write_json(ctx.path("estimates.json"), report)
    return {"basis": "estimator", "fits": report["fits"], "utilization": report["utilization"],
            "break_even_ratios": {c.layer: None if c.break_even_ratio is None else round(c.break_even_ratio, 2)
                                  for c in curves}}
