"""Step `synth`: C synthesis of the hls4ml project with the board's HLS tool, when it is installed."""
from __future__ import annotations

import shutil

from ..config import StepContext
from ..paths import atomic_write_json
from ..quiet import stdout_to
from .hls4ml_project import load_hls_model

NAME = "synth"
OUTPUTS: list[str] = []


def run(ctx: StepContext) -> dict:
    tool = ctx.board.hls_tool
    if shutil.which(tool) is None:
        return {"status": f"skipped: {tool} not on PATH"}
    hls_model = load_hls_model(ctx)
    with stdout_to(ctx.path("hls4ml.log")):
        report = hls_model.build(csim=False, synth=True, export=False)
    atomic_write_json(ctx.path("synth.json"), report or {})
    return {"status": "done", "report": "synth.json"}
