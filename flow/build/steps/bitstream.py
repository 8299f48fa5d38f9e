"""Step `bitstream`: Vivado block design (boards/block_design.tcl), implementation and bitstream.

The step always writes vivado/params.tcl, the block design's inputs from the board file and the
bundle's stream formats, so the Tcl can be inspected and run elsewhere. Vivado runs where it is
installed, `--bitstream` asks for it and the synth step has exported the stream top as IP; then the
routed utilization and timing are read back.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ...boards import Board
from ...deploy import DMA_NAME, IP_CELL
from ...deploy.pynq_driver import BundleError, FixedPoint
from ...errors import FlowError
from ...hls4ml.stream_top import IP_REPO, TOP
from ...paths import BOARDS_DIR, atomic_write_text
from ...reports.vivado import parse_timing_summary, read_utilization
from ...tools import missing_tool_status, tcl_assignments
from ..artifacts import BITSTREAM_OUTPUT, BITSTREAM_STEM, CSIM_META, read_json
from ..step import Step, StepContext

BLOCK_DESIGN = BOARDS_DIR / "block_design.tcl"
PARAMS = "vivado/params.tcl"
UTILIZATION_REPORT, TIMING_REPORT = "utilization_routed.rpt", "timing_summary.rpt"  # beside the bitstream
# the HLS IP the block design instantiates: the free-running AXI-Stream top around the hls4ml model
IP = {"vlnv": f"xilinx.com:hls:{TOP}:1.0", "cell": IP_CELL, "in": "in_stream", "out": "out_stream"}


def block_design_params(build_dir: Path, board: Board, input_precision: str, output_precision: str) -> dict:
    """The flow_* variables boards/block_design.tcl reads; stream widths are the driver's containers."""
    build = Path(build_dir).resolve()
    return {
        "flow_project_dir": str(build / "vivado" / "project"),
        "flow_part": board.part,
        "flow_family": board.family,
        "flow_board_part_pattern": board.board_part_pattern,
        "flow_ip_repo": str(build / IP_REPO),
        "flow_ip_vlnv": IP["vlnv"], "flow_ip_cell": IP["cell"], "flow_ip_in": IP["in"], "flow_ip_out": IP["out"],
        "flow_dma_name": DMA_NAME,
        "flow_in_width": FixedPoint(input_precision).bits,
        "flow_out_width": FixedPoint(output_precision).bits,
        "flow_mm_width": board.dma_data_width,
        "flow_clock_mhz": round(board.clock_hz / 1e6, 3),
        "flow_jobs": 2,
        "flow_output_dir": str(build / BITSTREAM_OUTPUT),
        "flow_output_stem": BITSTREAM_STEM,
    }


def run(ctx: StepContext) -> dict:
    shutil.rmtree(ctx.path(BITSTREAM_OUTPUT), ignore_errors=True)  # the bundle takes whatever this run leaves here
    meta = read_json(ctx.build_dir, CSIM_META)
    try:
        params = block_design_params(ctx.build_dir, ctx.board, meta["input_precision"], meta["output_precision"])
    except BundleError as exc:
        return {"status": f"skipped: no stream format for this model ({exc})"}
    ctx.path("vivado").mkdir(exist_ok=True)
    atomic_write_text(ctx.path(PARAMS), tcl_assignments(params))
    if not ctx.config.bitstream:
        return {"status": "skipped: not requested (flow compile --bitstream runs Vivado)", "params": PARAMS}
    skipped = missing_tool_status(ctx.board.implementation_tool)
    if skipped:
        return {**skipped, "params": PARAMS}
    if not ctx.path(IP_REPO).is_dir():
        return {"status": f"skipped: no exported IP at {IP_REPO} (the synth step exports it with {ctx.board.hls_tool})",
                "params": PARAMS}
    with open(ctx.path("vivado/vivado.log"), "w") as log:
        built = subprocess.run([ctx.board.implementation_tool, "-mode", "batch", "-source", str(BLOCK_DESIGN),
                                "-tclargs", str(ctx.path(PARAMS).resolve())], cwd=ctx.path("vivado"),
                               stdout=log, stderr=subprocess.STDOUT)
    if built.returncode:
        raise FlowError(f"Vivado block design / bitstream failed (exit {built.returncode}); see {ctx.path('vivado/vivado.log')}")
    return {"status": "done", "params": PARAMS, "bitstream": f"{BITSTREAM_OUTPUT}/{BITSTREAM_STEM}.bit",
            **implementation_results(ctx.path(BITSTREAM_OUTPUT))}


def implementation_results(output_dir: Path) -> dict:
    """Routed utilization and timing from the reports boards/block_design.tcl writes next to the bitstream."""
    utilization = read_utilization(output_dir / UTILIZATION_REPORT)
    timing_path = output_dir / TIMING_REPORT
    if not timing_path.is_file():
        raise FlowError(f"no timing report at {timing_path}; boards/block_design.tcl writes it after implementation")
    timing = parse_timing_summary(timing_path.read_text(errors="replace"), str(timing_path))
    return {"timing_met": timing.met, "wns_ns": timing.wns_ns, "whs_ns": timing.whs_ns,
            "lut": utilization.lut, "ff": utilization.ff, "bram18": utilization.bram18, "dsp": utilization.dsp}


STEP = Step(name="bitstream", run=run, reads=("board", "clock_period_ns", "bitstream"))
