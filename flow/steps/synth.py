"""Step `synth`: C synthesis of the hls4ml project with the board's HLS tool, when it is installed.

After synthesis the `estimate` step runs again, now with the reports: estimates.json then holds the
reported per-layer figures and the break-even decision re-run on them.
"""
from __future__ import annotations

from ..config import StepContext
from ..tools import missing_tool_status
from ..paths import atomic_write_json
from ..quiet import stdout_to
from . import estimate
from .hls4ml_project import load_hls_model

NAME = "synth"
OUTPUTS: list[str] = []


def run(ctx: StepContext) -> dict:
    skipped = missing_tool_status(ctx.board.hls_tool)
    if skipped:
        return skipped
    hls_model = load_hls_model(ctx)
    with stdout_to(ctx.path("hls4ml.log")):
        report = hls_model.build(csim=False, synth=True, export=False)
    atomic_write_json(ctx.path("synth.json"), report or {})
    return {"status": "done", "report": "synth.json", "estimate": estimate.run(ctx)}
