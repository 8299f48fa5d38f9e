"""Model size and compute after compression, in ADMM-NN's Table 8 terms, per layer and in total.

Index format: the relative gaps with filler entries of flow/sparse/encoding.py (the format the HLS
kernel reads), with one PE over the weights in PyTorch's row-major order. Fillers cost b index bits
and no weight bits, because the level codes have no zero. Each layer uses the b in 1..16 that
makes its total smallest.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..sparse.encoding import max_index_bits, relative_index_cost
from .channels import wasted_weights

FLOAT_BITS = 32


@dataclass(frozen=True)
class LayerAccount:
    name: str
    params: int
    kept: int
    pruning_ratio: float
    bits: int  # bits per kept weight: n for ADMM levels, a fixed quantizer's width, or 32 for float
    weight_bits: int
    index_width: int
    index_entries: int  # kept weights plus escape entries
    index_bits: int
    macs_dense: int
    macs: int  # multiply-accumulates that touch a kept weight
    mac_bits: int  # macs x bits, the paper's compute-cost proxy
    wasted: int | None  # kept weights that change the output by at most a constant (None: no channel links known)


def best_index_width(mask: np.ndarray, bits: int) -> tuple[int, int, int]:
    """(width, entries, total index bits) for the width that minimises weight plus index bits.

    `mask` is [out, in, ...] (PyTorch's order); widths stop where the kernel's would, one row of inputs.
    """
    positions = np.flatnonzero(mask.reshape(-1))
    best = None
    for width in range(1, max_index_bits(int(np.prod(mask.shape[1:]))) + 1):
        entries, escapes = relative_index_cost(positions, width)
        total = entries * width + (entries - escapes) * bits
        if best is None or total < best[0]:
            best = (total, width, entries)
    _, width, entries = best
    return width, entries, entries * width


def _container_bits(layer: torch.nn.Module) -> int:
    """A fixed Brevitas weight quantizer's bit width, or 32 for a float layer."""
    quant = getattr(layer, "weight_quant", None)
    if quant is not None and quant.is_quant_enabled:
        return int(layer.quant_weight().bit_width)
    return FLOAT_BITS


def output_positions(model: torch.nn.Module, layers: dict[str, torch.nn.Module], input_shape) -> dict[str, int]:
    """Output pixels per conv layer (1 for fully connected): how often each weight is used per image."""
    positions, hooks = {}, []
    for name, layer in layers.items():
        def record(module, inputs, output, name=name):
            shape = output.shape if isinstance(output, torch.Tensor) else output.value.shape
            positions[name] = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        hooks.append(layer.register_forward_hook(record))
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return positions


def account(model: torch.nn.Module, layers: dict[str, torch.nn.Module], weight_levels: dict[str, dict],
            input_shape) -> dict:
    positions = output_positions(model, layers, input_shape)
    links = getattr(model, "channel_links", None)
    wasted = wasted_weights({name: layer.weight.detach().cpu().numpy() != 0 for name, layer in layers.items()},
                            links) if links else {}
    rows = []
    for name, layer in layers.items():
        weight = layer.weight.detach().cpu().numpy()
        mask = weight != 0
        kept = int(mask.sum())
        bits = weight_levels[name]["bits"] if name in weight_levels else _container_bits(layer)
        width, entries, index_bits = best_index_width(mask, bits) if kept < weight.size else (0, kept, 0)
        # qonnx's inference_cost counts the same MACs for ADMM layers (tests/test_library_equivalents.py) but needs an
        # exported graph, and its bit-ops are input bits x the weight Quant's n+1 bits, not Table 8's n-bit level code
        macs_dense = weight.size * positions[name]
        rows.append(LayerAccount(
            name=name, params=weight.size, kept=kept, pruning_ratio=round(weight.size / max(kept, 1), 3),
            bits=bits, weight_bits=kept * bits, index_width=width, index_entries=entries, index_bits=index_bits,
            macs_dense=macs_dense, macs=kept * positions[name], mac_bits=kept * positions[name] * bits,
            wasted=wasted.get(name),
        ))
    params = sum(r.params for r in rows)
    kept = sum(r.kept for r in rows)
    weight_bytes = sum(r.weight_bits for r in rows) / 8
    index_bytes = sum(r.index_bits for r in rows) / 8
    dense_bytes = params * FLOAT_BITS / 8
    biases = sum(layer.bias.numel() for layer in layers.values() if layer.bias is not None)
    return {
        "index_format": "relative gaps with filler entries, one PE, per-layer best width (flow/sparse/encoding.py)",
        "layers": [asdict(r) for r in rows],
        "total": {
            "params": params,
            "kept": kept,
            "pruning_ratio": round(params / max(kept, 1), 2),
            "weight_data_bytes": weight_bytes,
            "index_bytes": index_bytes,
            "size_with_index_bytes": weight_bytes + index_bytes,
            "dense_float_bytes": dense_bytes,
            "weight_data_compression": round(dense_bytes / weight_bytes, 1),
            "compression_with_index": round(dense_bytes / (weight_bytes + index_bytes), 1),
            "macs_dense": sum(r.macs_dense for r in rows),
            "macs": sum(r.macs for r in rows),
            "mac_bits": sum(r.mac_bits for r in rows),
            "wasted": sum(wasted.values()) if links else None,
            "bias_params_float_not_counted": biases,
        },
    }
