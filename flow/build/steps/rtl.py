"""Step `rtl` (flow compile --rtl): every weight layer as Verilog in two forms, bit-exact in verilator,
counted by yosys.

Per weight layer, two forms, each verilated with a testbench and run on the distinct input vectors
QONNX computed for that layer from the verify inputs (flow/rtl/layers.py); their outputs must equal
QONNX's bit for bit:
- rtl/<layer>/dense_constant/: the fully unrolled constant-weight form (flow/rtl/adder_graph.py:
  da4ml's adder graph of the exported weights, at the layer's input and result types);
- rtl/<layer>/sparse/: flow's sparse kernel (flow/rtl/sparse_kernel.py) for the layer's encoding at
  the PE count and index width the build chose (estimates.json), entries in memory.json's storage.
yosys `synth_xilinx` for the board's family gives each form's cells. rtl/summary.json holds per
layer and form the cells, the estimator's figure for the same kernel (hls4ml's Latency kernel at
RF 1 for the unrolled form) and its gate-level estimate (coefficients fitted to yosys), the
verilator verdict and the cycles per vector, with the tool versions and the yosys command.
yosys counts cells before placement and routing, of a reference implementation written here,
not of what Vitis HLS makes of the project.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil

from ...errors import VerificationError
from ...paths import atomic_write_json
from ...tools import missing_tool_status
from ..artifacts import ESTIMATES, MEMORY, RTL_DIR, read_json, source_kind
from ..step import Step, StepContext

MAX_VECTORS = 2000  # distinct input vectors per layer the testbench runs
SUMMARY_NAME = "summary.json"
HONEST_NOTE = ("yosys counts cells before placement and routing; the Verilog is flow's reference implementation "
               "of each layer, not what Vitis HLS makes of the hls4ml project")


def skip_reason(ctx: StepContext) -> str | None:
    """Why the step cannot run here, or None."""
    from ...rtl.yosys import FAMILIES

    if not ctx.config.rtl:
        return "skipped: not requested (flow compile --rtl)"
    for tool in ("yosys", "verilator"):
        missing = missing_tool_status(tool)
        if missing:
            return missing["status"]
    if importlib.util.find_spec("da4ml") is None:
        return "skipped: da4ml not installed (pip install 'flow-fpga[rtl]')"
    if source_kind(ctx.build_dir) == "keras":
        return "skipped: the RTL forms are cut from the QONNX graph, and a Keras model has none"
    if ctx.board.family not in FAMILIES:
        return f"skipped: yosys synth_xilinx has no family for {ctx.board.family}"
    return None


def run(ctx: StepContext) -> dict:
    reason = skip_reason(ctx)
    rtl_dir = ctx.path(RTL_DIR)
    shutil.rmtree(rtl_dir, ignore_errors=True)  # an earlier build's; summary.json comes last, so a folder without
    if reason:                                  # it is unfinished
        return {"status": reason}
    from ...cost import gate_level
    from ...cost.kernels import SparseKernel, sparse_call_cycles
    from ...hls4ml.nodes import is_xnor, weight_layers
    from ...rtl import verilator, yosys
    from ...rtl.checks import check_constant_layer, check_sparse_layer, layer_fields
    from ...rtl.layers import FormNotBuilt, layer_vectors

    family = yosys.FAMILIES[ctx.board.family]
    hls_model = ctx.hls_model()
    layers = layer_vectors(ctx.build_dir, hls_model, MAX_VECTORS)
    # an xnor product of 0/1 bits that stand for -1/+1: hls4ml's own kernel, which flow's RTL forms do not model
    binary = {node.name for node in weight_layers(hls_model) if is_xnor(node)}
    build_estimates = {layer["name"]: layer for layer in read_json(ctx.build_dir, ESTIMATES)["layers"]}
    storage = {layer["name"]: layer["entries_storage"] for layer in read_json(ctx.build_dir, MEMORY)["layers"]}
    task = ctx.progress.add_task("  rtl layers", total=2 * len(layers)) if ctx.progress else None
    rows = []
    for layer in layers:
        common = layer_fields(layer)
        estimate = build_estimates[layer.name]
        sparse = estimate["sparse"]["kernel"]  # the P and k the build's encoder chose (or would choose)
        forms = [("dense_constant", lambda folder: check_constant_layer(layer, folder, family),
                  {"kernel": "hls4ml Latency RF 1 (flow's estimator, HLS level)", **estimate["dense"]["estimate"]}),
                 ("sparse", lambda folder: check_sparse_layer(layer, sparse["pes"], sparse["index_bits"],
                                                              storage[layer.name], folder, family),
                  {"kernel": "flow's sparse kernel (flow's estimator, HLS level)", **estimate["sparse"]["estimate"],
                   "cycles_per_vector": sparse_call_cycles(SparseKernel(**sparse))})]
        pair = []
        for kernel, check, estimated in forms:
            try:
                if layer.name in binary:
                    raise FormNotBuilt("a binary layer of xnor products, hls4ml's own kernel")
                record = check(rtl_dir / layer.name / kernel)
            except FormNotBuilt as reason:
                record = {"kernel": kernel, "status": f"not built: {reason}", "verilator_bit_exact": None}
            pair.append({**common, **record, "estimate": estimated})
            if task is not None:
                ctx.progress.advance(task)
        if all("yosys" in row for row in pair):  # both forms counted: the gate-level estimate beside each
            gate = gate_level.estimates(gate_level.point_from_records(*pair, ctx.board.name))
            pair = [{**row, "estimate_gate_level": gate[row["kernel"]]} for row in pair]
        rows += pair
    if task is not None:
        ctx.progress.remove_task(task)
    summary = {"note": HONEST_NOTE, "board": ctx.board.name, "yosys_family": family,
               "tools": {"yosys": yosys.version(), "verilator": verilator.version(),
                         "da4ml": importlib.metadata.version("da4ml")},
               "yosys_command": yosys.SCRIPT, "layers": rows}
    atomic_write_json(rtl_dir / SUMMARY_NAME, summary)
    wrong = [f"{row['name']} ({row['kernel']})" for row in rows if row["verilator_bit_exact"] is False]
    if wrong:
        raise VerificationError(f"RTL disagrees with QONNX in {', '.join(wrong)}; see {rtl_dir / SUMMARY_NAME}")
    built = sum(row["verilator_bit_exact"] is True for row in rows)
    return {"layers": len(layers), "bit_exact": f"{built} of {len(rows)} forms",
            **({"not_built": len(rows) - built} if built < len(rows) else {}), "summary": f"{RTL_DIR}/{SUMMARY_NAME}"}


STEP = Step(name="rtl", run=run, reads=("rtl", "board", "clock_period_ns"), outputs=(RTL_DIR,))
