"""Step `synth`: C synthesis with the board's HLS tool, of the whole project and of each layer on its own.

Every weight layer also gets its own dense and sparse project (flow/layer_projects.py), written
whether or not the tool is here, so they can be synthesized elsewhere. After synthesis the
`estimate` step runs again, now with the reports: estimates.json then holds the reported per-layer
figures of both kernels and the break-even decision re-run on them.
"""
from __future__ import annotations

from ..config import StepContext
from ..layer_projects import LAYER_PROJECTS_RECORD, write_layer_projects
from ..paths import atomic_write_json
from ..quiet import stdout_to
from ..tools import missing_tool_status
from . import estimate
from .hls4ml_project import load_hls_model

NAME = "synth"
OUTPUTS: list[str] = []


def run(ctx: StepContext) -> dict:
    skipped = missing_tool_status(ctx.board.hls_tool)
    hls_model = load_hls_model(ctx)
    projects = write_layer_projects(ctx, hls_model, synthesize=skipped is None)
    written = sum(record["status"] == "written" for record in projects)
    layer_projects = f"{LAYER_PROJECTS_RECORD}: {written} of {len(projects)} per-layer projects written"
    if skipped:
        return {**skipped, "layer_projects": layer_projects + ", not synthesized"}
    with stdout_to(ctx.path("hls4ml.log")):
        report = hls_model.build(csim=False, synth=True, export=False)
    atomic_write_json(ctx.path("synth.json"), report or {})
    return {"status": "done", "report": "synth.json", "layer_projects": layer_projects + " and synthesized",
            "estimate": estimate.run(ctx)}
