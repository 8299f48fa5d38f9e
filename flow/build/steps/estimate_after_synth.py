"""Step `estimate_after_synth`: estimates.json again, now with the C-synthesis reports the synth step wrote.

Each synthesized layer then gets its reported figures, and the break-even decision re-runs on
the reports' proportions (flow/cost/build_estimates.py). Without reports there is nothing new.
"""
from __future__ import annotations

from pathlib import Path

from ...cost.build_estimates import has_synthesis_reports, write_estimates
from ..artifacts import ESTIMATES
from ..step import Step, StepContext


def outputs(build_dir: Path) -> list[str]:
    return [ESTIMATES] if has_synthesis_reports(build_dir) else []


def run(ctx: StepContext) -> dict:
    if not has_synthesis_reports(ctx.build_dir):
        return {"status": "skipped: no C-synthesis reports (synth ran no HLS tool)"}
    return write_estimates(ctx.build_dir, ctx.hls_model(), ctx.board, ctx.config)


STEP = Step(name="estimate_after_synth", run=run, reads=("board", "clock_period_ns", "strategy", "reuse_factor"),
            outputs=outputs)
