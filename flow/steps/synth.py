"""Step `synth`: C synthesis with the board's HLS tool, of the whole project and of each layer on its own.

With the tool, the stream top (firmware/flow_axis_top.cpp) is also synthesized and exported as
Vivado IP by hls/export_ip.tcl, for the bitstream step; ip/export_ip.tcl is written either way.
Every weight layer also gets its own dense and sparse project (flow/layer_projects.py), written
whether or not the tool is here, so they can be synthesized elsewhere. After synthesis the
`estimate` step runs again, now with the reports: estimates.json then holds the reported per-layer
figures of both kernels and the break-even decision re-run on them.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from ..config import StepContext
from ..deploy.axis_top import EXPORT_SCRIPT, IP_REPO, TOP, write_export_script
from ..errors import FlowError
from ..layer_projects import LAYER_PROJECTS_RECORD, write_layer_projects
from ..paths import atomic_write_json
from ..quiet import stdout_to
from ..tools import missing_tool_status
from . import estimate
from .export import source_kind
from .hls4ml_project import load_hls_model

NAME = "synth"
OUTPUTS: list[str] = []


def run(ctx: StepContext) -> dict:
    skipped = missing_tool_status(ctx.board.hls_tool)
    hls_model = load_hls_model(ctx)
    if source_kind(ctx.build_dir) == "keras":
        layer_projects = "not written: per-layer projects are cut from the QONNX graph, and a Keras model has none"
    else:
        projects = write_layer_projects(ctx, hls_model, synthesize=skipped is None)
        written = sum(record["status"] == "written" for record in projects)
        layer_projects = f"{LAYER_PROJECTS_RECORD}: {written} of {len(projects)} per-layer projects written"
    has_stream_top = (Path(hls_model.config.get_output_dir()) / "firmware" / f"{TOP}.cpp").is_file()
    if has_stream_top:
        write_export_script(ctx.build_dir, hls_model, ctx.board.part, ctx.board.clock_period_ns)
    if skipped:
        return {**skipped, "layer_projects": layer_projects + ", not synthesized",
                "ip_export": f"{EXPORT_SCRIPT} written, not run" if has_stream_top else "no stream top"}
    with stdout_to(ctx.path("hls4ml.log")):
        report = hls_model.build(csim=False, synth=True, export=False)
    atomic_write_json(ctx.path("synth.json"), report or {})
    if has_stream_top:
        with open(ctx.path("ip/vitis.log"), "w") as log:
            exported = subprocess.run([ctx.board.hls_tool, "--mode", "hls", "--tcl", EXPORT_SCRIPT], cwd=ctx.build_dir,
                                      stdout=log, stderr=subprocess.STDOUT)
        if exported.returncode:
            raise FlowError(f"exporting {TOP} as IP failed (exit {exported.returncode}); see {ctx.path('ip/vitis.log')}")
    return {"status": "done", "report": "synth.json", "layer_projects": layer_projects + " and synthesized",
            "ip_export": IP_REPO if has_stream_top else "no stream top", "estimate": estimate.run(ctx)}
