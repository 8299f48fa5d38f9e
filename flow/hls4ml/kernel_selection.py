"""Which weight layers get flow's sparse kernel: `--sparse` resolved to hls4ml layer names.

The choice is made on a conversion with every layer dense, where each layer's shape, nonzeros and
precisions are final, then handed to `UseSparseKernels` as an explicit list of names.
"""
from __future__ import annotations

from ..boards import Board
from ..cost.breakeven import break_even_portion
from ..errors import FlowError
from .nodes import DENSE_WEIGHT_LAYERS, code_bits_of, layer_shape, weight_layers


def parse_selection(spec: str) -> str | list[str]:
    """auto, all, none, or the comma-separated layer names of a --sparse value."""
    return spec if spec in {"auto", "all", "none"} else [name.strip() for name in spec.split(",") if name.strip()]


def beyond_break_even(node, board: Board) -> bool:
    shape = layer_shape(node)
    if shape.nonzeros == 0:
        return False  # nothing to multiply: a pruned-away layer needs no kernel decision
    portion = break_even_portion(shape, board, code_bits_of(node))
    return portion is not None and 1 - shape.nonzeros / shape.weights >= portion


def sparse_layers(spec: str, dense_model, board: Board, source_layers: list[str]) -> list[str]:
    """hls4ml names of the layers to build sparse.

    `dense_model` is the model converted with no sparse layer. Names may be hls4ml's or, when the
    source lists as many weight layers as hls4ml has (a flow checkpoint: conv1, fc1), the source's
    own, which map in graph order.
    """
    selection = parse_selection(spec)
    candidates = [node for node in weight_layers(dense_model) if node.class_name in DENSE_WEIGHT_LAYERS]
    names = [node.name for node in candidates]
    if selection == "none":
        return []
    if selection == "all":
        return names
    if selection == "auto":
        return [node.name for node in candidates if beyond_break_even(node, board)]
    by_source_name = dict(zip(source_layers, names)) if len(source_layers) == len(names) else {}
    resolved = [by_source_name.get(name, name) for name in selection]
    unknown = [name for name in resolved if name not in names]
    if unknown:
        known = ", ".join(names + [f"{s} (= {h})" for s, h in by_source_name.items()])
        raise FlowError(f"--sparse names unknown layer {unknown[0]!r}; layers with weights: {known}")
    return resolved
