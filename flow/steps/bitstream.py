"""Step `bitstream`: block design, implementation and bitstream; needs Vivado."""
from __future__ import annotations

from ..config import StepContext
from ..tools import missing_tool_status

NAME = "bitstream"
OUTPUTS: list[str] = []


def run(ctx: StepContext) -> dict:
    skipped = missing_tool_status(ctx.board.implementation_tool)
    if skipped:
        return skipped
    # The board block-design Tcl is not written yet (issue E), so even with Vivado there is nothing to run.
    return {"status": f"skipped: no block design for {ctx.board.name} yet (issue E)"}
