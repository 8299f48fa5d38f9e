"""Step `fit`: stop the build when the estimated design does not fit the board, before csim and everything after.

The judgement is estimates.json's `design` at the implementation level (flow/cost/design.py): any
resource above 100% of the board's budget refuses the build with one error line naming the
resource, the estimate, the budget and what to change. `--allow-overfull` builds anyway, and this
step's record (shown in the summary) says so.
"""
from __future__ import annotations

from ...errors import FlowError
from ..artifacts import ESTIMATES, read_json
from ..step import Step, StepContext

# what lowers each resource, most direct first
REMEDIES = {
    "lut": "a larger reuse factor, --sparse for the pruned layers, fewer bits or a smaller model",
    "ff": "a larger reuse factor, fewer bits or a smaller model",
    "dsp": "a larger reuse factor, fewer bits (products under 20 bits stay in LUTs) or a smaller model",
    "bram18": "--sparse for the pruned layers, fewer weight bits or a smaller model",
}


def _shares(over: list[dict]) -> str:
    return ", ".join(f"{entry['resource'].upper()} {entry['estimate']:,} of {entry['budget']:,} "
                     f"({100 * entry['share']:.0f}%)" for entry in over)


def run(ctx: StepContext) -> dict:
    design = read_json(ctx.build_dir, ESTIMATES)["design"]
    over = design["over_budget"]
    if not over:
        return {"fits": True, "level": design["fit_level"]}
    if ctx.config.allow_overfull:
        return {"fits": False, "level": design["fit_level"],
                "note": f"built anyway (--allow-overfull): over {ctx.board.name} by {_shares(over)}"}
    worst = over[0]["resource"]
    raise FlowError(f"the design does not fit {ctx.board.name} (estimated at the {design['fit_level']} level): "
                    f"{_shares(over)}; use {REMEDIES[worst]}, or a larger board (--board), or --allow-overfull "
                    f"to build anyway (flow report {ctx.build_dir} lists every node)")


STEP = Step(name="fit", run=run, reads=("board", "clock_period_ns", "allow_overfull"), outputs=())
