"""Step `estimate`: per-layer latency and resources, dense vs sparse, and each layer's break-even pruning
(flow/cost/build_estimates.py), from the estimator and whatever C-synthesis reports the build dir holds."""
from __future__ import annotations

from ...cost.build_estimates import write_estimates
from ..artifacts import ESTIMATES
from ..step import Step, StepContext


def run(ctx: StepContext) -> dict:
    return write_estimates(ctx.build_dir, ctx.hls_model(), ctx.board, ctx.config)


STEP = Step(name="estimate", run=run, reads=("board", "clock_period_ns", "strategy", "reuse_factor"),
            outputs=(ESTIMATES,))
