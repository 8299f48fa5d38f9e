"""External FPGA tools: whether one is installed, and the summary wording when it is not."""
from __future__ import annotations

import shutil


def missing_tool_status(tool: str) -> dict | None:
    """The step record for a step that cannot run because `tool` is absent, or None when it is installed."""
    if shutil.which(tool) is None:
        return {"status": f"skipped: {tool} not on PATH"}
    return None


def tcl_assignments(variables: dict) -> str:
    """`set name {value}` lines: how flow hands its settings to the Vivado and Vitis HLS Tcl scripts."""
    return "".join(f"set {name} {{{value}}}\n" for name, value in variables.items())
