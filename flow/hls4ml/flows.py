"""Placing flow's optimizer passes at a given point of one of hls4ml's flows."""
from __future__ import annotations

from hls4ml.model.flow import get_flow, update_flow
from hls4ml.model.optimizer import register_pass

from ..errors import FlowError


def insert_pass(flow: str, name: str, optimizer, before: str) -> None:
    """Register `optimizer` as `name` and run it in `flow` just before the pass `before`, the flow's other passes in
    their order; once (a later call for the same name does nothing)."""
    optimizers = get_flow(flow).optimizers
    if name in optimizers:
        return
    if before not in optimizers:
        raise FlowError(f"hls4ml's '{flow}' flow has no '{before}' pass to run flow's {name} before; "
                        "flow needs hls4ml 1.3 (pip install 'hls4ml==1.3.*')")
    register_pass(name, optimizer)
    later = optimizers[optimizers.index(before):]
    update_flow(flow, remove_optimizers=later)
    update_flow(flow, add_optimizers=[name, *later])


def replace_pass(flow: str, replaced: str, name: str, optimizer) -> None:
    """Run `optimizer`, registered as `name`, in `flow` where the pass `replaced` ran, which no longer runs there;
    once."""
    insert_pass(flow, name, optimizer, before=replaced)
    if replaced in get_flow(flow).optimizers:
        update_flow(flow, remove_optimizers=[replaced])
