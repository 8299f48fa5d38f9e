"""Which kernel each weight layer gets: with `--sparse auto` (the default) the design chooser's pick per layer
(flow/cost/chooser.py), for `--target-fps` or else the highest rate that fits; otherwise `--sparse` resolved to
hls4ml layer names, the other layers dense as configured.

The choice is made on a conversion with every layer dense, where each layer's shape, nonzeros and
precisions are final, then written into the hls4ml config: sparse layers as an explicit list of
names (with the chooser's PE count and index width each) for `UseSparseKernels`, dense layers'
Strategy and ReuseFactor in their own entries.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..boards import Board
from ..cost.candidates import Candidate, layer_candidates
from ..cost.chooser import Design, choose, sample_cycles
from ..cost.design import RESOURCES, line_buffer_left_out, other_node_totals
from ..cost.kernels import UNROLLED
from ..cost.pareto import spread
from ..errors import FlowError
from .layer_settings import dense_weight_names, pinned_menus, resolve_names
from .nodes import (DENSE_WEIGHT_LAYERS, config_entry, exact_weights, is_xnor, layer_shape, weight_layers,
                    weight_matrix)
from .sparse_layers import SPARSE_KEY

# candidate kernel -> hls4ml's Strategy
STRATEGIES = {"latency": "Latency", "resource": "Resource", UNROLLED: "distributed_arithmetic"}


def parse_selection(spec: str) -> str | list[str]:
    """auto, all, none, or the comma-separated layer names of a --sparse value."""
    return spec if spec in {"auto", "all", "none"} else [name.strip() for name in spec.split(",") if name.strip()]


def sparse_layers(spec: str, dense_model, source_layers: list[str]) -> list[str]:
    """hls4ml names of the layers `--sparse` pins to the sparse kernel (all, none or names; auto is the chooser's);
    `all` leaves binary xnor layers out, and naming one is refused.

    `dense_model` is the model converted with no sparse layer. Names may be hls4ml's or, when the
    source lists as many weight layers as hls4ml has (a flow checkpoint: conv1, fc1), the source's
    own, which map in graph order.
    """
    selection = parse_selection(spec)
    if selection == "none":
        return []
    binary = {node.name for node in weight_layers(dense_model) if is_xnor(node)}
    if selection == "all":
        return [name for name in dense_weight_names(dense_model) if name not in binary]
    names = list(resolve_names(selection, dense_model, source_layers, weight_only=True, what="--sparse").values())
    for name in names:
        if name in binary:
            raise FlowError(f"--sparse names {name}, a binary layer of xnor products, which only hls4ml's dense "
                            "kernel computes (none of its weights is pruned); leave it out of --sparse")
    return names


def target_interval(board: Board, target_fps: float) -> int:
    """Cycles per inference at the board's clock that sustain target_fps."""
    return max(1, math.floor(board.clock_hz / target_fps))


def stream_words(dense_model, io_type: str) -> tuple[int, bool]:
    """The stream top's cycles per sample around the model (hls/flow_axis_top.h) before any layer, and whether the
    model's layers run in series with them. io_stream: read and write move one value per cycle and overlap the
    model's layers. io_parallel: the model process reads a whole sample into the model's array, runs myproject
    to its end and writes the outputs, one sample after another, so the layers' latencies add."""
    n_in, n_out = (math.prod(v.shape) for v in (dense_model.get_input_variables()[0],
                                                dense_model.get_output_variables()[0]))
    return (max(n_in, n_out), False) if io_type == "io_stream" else (n_in + n_out, True)


def layer_menus(dense_model, io_type: str) -> dict:
    """Every candidate kernel per dense-convertible weight layer (flow/cost/candidates.py), an io_stream
    convolution's line buffer with the kernels whose estimate leaves it out."""
    menus = {}
    for node in weight_layers(dense_model):
        if node.class_name not in DENSE_WEIGHT_LAYERS:
            continue
        menu = layer_candidates(layer_shape(node), weight_matrix(node), io_type, exact_weights=exact_weights(node),
                                sparse=not is_xnor(node))
        if io_type == "io_stream":
            menu = [with_line_buffer(c, line_buffer_left_out(node, c.kernel)) for c in menu]
        menus[node.name] = menu
    return menus


def with_line_buffer(candidate: Candidate, buffer) -> Candidate:
    """The candidate with the line buffer its estimate leaves out (None: nothing left out)."""
    if buffer is None:
        return candidate
    return replace(candidate, line_buffer={resource: getattr(buffer, resource) for resource in RESOURCES})


def bounded_designs(menus: dict, board: Board, max_utilization: float, fixed: dict) -> list[Design]:
    """The chooser's least-area design within each per-layer interval bound the candidates offer (spread)."""
    bounds = spread(sorted({c.interval for menu in menus.values() for c in menu}))
    return [design for design in (choose(menus, board, bound, max_utilization, fixed) for bound in bounds) if design]


def choose_design(dense_model, board: Board, target_fps: float | None, max_utilization: float,
                  io_type: str, pins: dict[str, dict] | None = None) -> Design | None:
    """The chooser's design on the all-dense model: the least area that sustains target_fps (FlowError, naming the
    fastest design that fits, where none does within max_utilization), or without one the highest rate within
    max_utilization of every resource (none that small: the smallest design). None where no layer has a menu
    (no Dense or Conv2D layer). `pins` (hls4ml name -> Strategy, ReuseFactor, PEs: the user's) cut a layer's menu
    to what they allow."""
    words, in_series = stream_words(dense_model, io_type)
    menus, fixed = pinned_menus(layer_menus(dense_model, io_type), pins or {}), other_node_totals(dense_model)
    if not menus:
        return None
    clock = f"{board.clock_hz / 1e6:g} MHz on {board.name}"
    interval = None if target_fps is None else target_interval(board, target_fps)
    if interval is not None and words > interval:
        raise FlowError(f"--target-fps {target_fps:g} needs {interval:,} cycles per inference at {clock}, and the "
                        f"stream top moves one value per cycle: {words:,} values per sample cap it at "
                        f"{board.clock_hz / words:,.0f}/s; lower --target-fps")

    if in_series:
        # io_parallel: the layers run one after another inside each sample, so their latencies set the rate,
        # not the slowest layer's interval; every per-layer bound's design is weighed on its cycles per sample
        fitting = [design for design in bounded_designs(menus, board, max_utilization, fixed) if design.fits]
        meeting = [design for design in fitting if interval is None or design.cycles(words, in_series) <= interval]
        if meeting:
            best = min(meeting, key=lambda d: (d.share, d.cycles(words, in_series)) if interval
                       else (d.cycles(words, in_series), d.share))
            return replace(best, target_interval=interval)
        fastest = min(fitting, key=lambda d: d.cycles(words, in_series), default=None)
        reason = ("no design's cycles per sample (inputs in, the layers' latencies in series, outputs out) are "
                  "that few")
    else:
        design = choose(menus, board, interval, max_utilization, fixed)
        if design is not None and design.fits:
            return design
        fastest = choose(menus, board, None, max_utilization, fixed)
        reason = ("a layer has no kernel that fast" if design is None else
                  f"its smallest design takes {100 * design.share:.0f}% of {design.scarcest.upper()}")
    if interval is None:
        # the cap steers the choice; where even the smallest design exceeds it (the nodes around the weight
        # layers can), that one is built and the fit step judges it against the whole board
        slowest = max(c.interval for menu in menus.values() for c in menu)
        return replace(choose(menus, board, slowest, max_utilization, fixed), target_interval=None)
    best = ("no design fits" if fastest is None else
            f"the fastest that fits is {board.clock_hz / fastest.cycles(words, in_series):,.0f}/s "
            f"({fastest.cycles(words, in_series):,} cycles)")
    unpin = f", or unpin {', '.join(pins)} in the build config's layers" if pins else ""
    raise FlowError(f"--target-fps {target_fps:g} needs {interval:,} cycles per inference at {clock}, and "
                    f"{reason} (within --max-utilization {max_utilization:g}); {best}: lower --target-fps or raise "
                    f"--max-utilization{unpin}")


def apply_design(design: Design, hls_config: dict) -> list[str]:
    """Write the chosen kernels into hls_config; returns the sparse layers' names."""
    sparse = hls_config["Model"][SPARSE_KEY]
    sparse["select"], sparse["layers"] = [], {}
    for name, candidate in design.chosen.items():
        if candidate.kernel == "sparse":
            sparse["select"].append(name)
            sparse["layers"][name] = {"pes": candidate.pes, "index_bits": candidate.index_bits}
        else:
            entry = config_entry(hls_config, name)
            entry["Strategy"], entry["ReuseFactor"] = STRATEGIES[candidate.kernel], candidate.reuse_factor
    return sparse["select"]


def design_record(design: Design, board: Board, target_fps: float | None, max_utilization: float,
                  words: int, in_series: bool, pins: dict[str, dict] | None = None) -> dict:
    """design.json: the target, the clock, what the chosen design achieves, and per layer every candidate (a layer
    the user pinned: the candidates its pins allow)."""
    pins = pins or {}
    # the free-running stream top (hls/flow_axis_top.h): its slowest process sets the rate, a weight layer or
    # the top's own (a lower bound: each process also fills its pipeline once per sample)
    stream_top_cycles = sample_cycles(design.chosen, words, in_series)
    interval = design.cycles(words, in_series)
    return {
        "board": board.name, "clock_mhz": board.clock_hz / 1e6, "target_fps": target_fps,
        "target_interval": design.target_interval, "max_utilization": max_utilization,
        "interval": interval, "throughput_fps": round(board.clock_hz / interval, 1),
        "layers_interval": design.interval, "stream_top_cycles": stream_top_cycles,
        "latency_sum": sum(candidate.estimate.latency for candidate in design.chosen.values()),
        "level": "estimator (flow/cost/kernels.py), HLS level per layer; shares at the implementation level "
                 "(flow/cost/design.py), the weight layers plus the other nodes, before FIFOs and the stream top",
        "utilization": design.utilization, "scarcest": design.scarcest, "fits": design.fits,
        "layers": [{"name": name, "chosen": candidate.to_json(), "label": candidate.label,
                    "pinned_by_user": name in pins,
                    "reason": (f"pinned by the build config ({', '.join(f'{k} {v}' for k, v in pins[name].items())})"
                               f"; {design.reasons[name]}" if name in pins else design.reasons[name]),
                    "candidates": [c.to_json() for c in design.menus[name]]}
                   for name, candidate in design.chosen.items()],
    }
