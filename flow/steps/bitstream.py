"""Step `bitstream`: block design, implementation and bitstream; needs Vivado."""
from __future__ import annotations

import shutil

from ..config import StepContext

NAME = "bitstream"
OUTPUTS: list[str] = []


def run(ctx: StepContext) -> dict:
    tool = ctx.board.implementation_tool
    if shutil.which(tool) is None:
        return {"status": f"skipped: {tool} not on PATH"}
    # The board block-design Tcl is not written yet (issue E), so even with Vivado there is nothing to run.
    return {"status": f"skipped: no block design for {ctx.board.name} yet (issue E)"}
