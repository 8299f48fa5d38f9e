"""Step `synth`: C synthesis with the board's HLS tool, of the whole project and of each layer on its own.

With the tool, the stream top (firmware/flow_axis_top.cpp) is also synthesized and exported as
Vivado IP by hls/export_ip.tcl, for the bitstream step; ip/export_ip.tcl is written either way.
Every weight layer also gets its own dense and sparse project (flow/hls4ml/layer_projects.py),
written whether or not the tool is here, so they can be synthesized elsewhere. The next step,
`estimate_after_synth`, reads the reports.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from ...errors import FlowError
from ...paths import atomic_write_json
from ...quiet import stdout_to
from ...tools import missing_tool_status
from ..artifacts import HLS4ML_LOG, LAYER_PROJECTS, SYNTH_REPORT, source_kind
from ..step import Step, StepContext


def run(ctx: StepContext) -> dict:
    from ...hls4ml.layer_projects import write_layer_projects
    from ...hls4ml.stream_top import EXPORT_SCRIPT, IP_REPO, TOP, write_export_script

    skipped = missing_tool_status(ctx.board.hls_tool)
    hls_model = ctx.hls_model()
    if source_kind(ctx.build_dir) == "keras":
        layer_projects = "not written: per-layer projects are cut from the QONNX graph, and a Keras model has none"
    else:
        projects = write_layer_projects(ctx.build_dir, hls_model, synthesize=skipped is None)
        written = sum(record["status"] == "written" for record in projects)
        layer_projects = f"{LAYER_PROJECTS}: {written} of {len(projects)} per-layer projects written"
    has_stream_top = (Path(hls_model.config.get_output_dir()) / "firmware" / f"{TOP}.cpp").is_file()
    if has_stream_top:
        write_export_script(ctx.build_dir, hls_model, ctx.board.part, ctx.board.clock_period_ns)
    if skipped:
        return {**skipped, "layer_projects": layer_projects + ", not synthesized",
                "ip_export": f"{EXPORT_SCRIPT} written, not run" if has_stream_top else "no stream top"}
    with stdout_to(ctx.path(HLS4ML_LOG)):
        report = hls_model.build(csim=False, synth=True, export=False)
    atomic_write_json(ctx.path(SYNTH_REPORT), report or {})
    if has_stream_top:
        with open(ctx.path("ip/vitis.log"), "w") as log:
            exported = subprocess.run([ctx.board.hls_tool, "--mode", "hls", "--tcl", EXPORT_SCRIPT], cwd=ctx.build_dir,
                                      stdout=log, stderr=subprocess.STDOUT)
        if exported.returncode:
            raise FlowError(f"exporting {TOP} as IP failed (exit {exported.returncode}); see {ctx.path('ip/vitis.log')}")
    return {"status": "done", "report": SYNTH_REPORT, "layer_projects": layer_projects + " and synthesized",
            "ip_export": IP_REPO if has_stream_top else "no stream top"}


STEP = Step(name="synth", run=run, reads=("board", "clock_period_ns"))
