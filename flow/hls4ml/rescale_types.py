"""Types for the constants of rescale nodes (BatchNormalization, ApplyAlpha) that hold them as float32 does.

A QONNX model's batch norms and non-power-of-two Quant scales become hls4ml BatchNormalization and
ApplyAlpha nodes whose scale and bias hls4ml 1.3 types at the default precision (fixed<32,16>):
16 fraction bits, so a scale of 0.01 is 0.15% off. The Quant after the rescale then rounds
differently from qonnx's float32 execution near every half step, and the MLPerf Tiny KWS MLP gets
94-95% argmax agreement on inputs from its input grid. This pass gives each such constant the fraction bits
its smallest nonzero value needs for float32's 24 significant bits (at most MAX_FRACTION_BITS) and
the integer bits its largest needs; hls4ml then infers a result type that holds x * scale + bias
exactly.

Contract: runs in hls4ml's `convert` flow before `infer_precision_types`, after the fusions; a
scale or bias type the layer's config names, or one that holds its values exactly, is left alone
(hls4ml gives the others the default precision, not `auto`); no node is added or removed. The price is wide multipliers (a 40-bit constant is 2-3 DSPs per product): the
exact, cheap form of a rescale followed by a quantizer is a threshold compare, which hls4ml lacks.
"""
from __future__ import annotations

import numpy as np
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType, NamedType

from .accumulators import fraction_bits, signed_type_for
from .flows import insert_pass
from .nodes import exact_in

RESCALE_NODES = ("BatchNormalization", "ApplyAlpha")
FLOAT32_SIGNIFICANT_BITS = 24
MAX_FRACTION_BITS = 48
PASS_NAME = "flow:rescale_constant_types"
FLOW = "convert"
INFERENCE_PASS = "infer_precision_types"


def float32_like_type(values: np.ndarray) -> FixedPrecisionType:
    """The narrowest signed fixed type that holds each value to float32's significant bits (exactly where
    fewer fraction bits do)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    nonzero = np.abs(values[values != 0])
    if nonzero.size == 0:
        return FixedPrecisionType(2, 2, True)
    needed = FLOAT32_SIGNIFICANT_BITS - 1 - int(np.floor(np.log2(nonzero.min())))
    fraction = fraction_bits(values, min(max(needed, 0), MAX_FRACTION_BITS))
    kind = signed_type_for(float(values.min()), float(values.max()), fraction)
    return FixedPrecisionType(kind.width, kind.integer, True)


def holds_exactly(values, precision) -> bool:
    """nodes.exact_in, also for hls4ml's IntegerPrecisionType (not a FixedPrecisionType subclass in 1.3: the
    uint<1> scale hls4ml gives a bias-only rescale)."""
    if isinstance(precision, IntegerPrecisionType):
        precision = FixedPrecisionType(precision.width, precision.width, precision.signed)
    return exact_in(values, precision)


def retyped(node) -> dict[str, FixedPrecisionType]:
    """The scale and bias types the node's constants need, where its config names none and its type would round
    them."""
    named = node.model.config.get_layer_config(node).get("Precision", {})
    named = named if isinstance(named, dict) else {}
    wanted = {}
    for name in ("scale", "bias"):
        if name in node.weights and name not in named:
            values, current = node.weights[name].data, node.types[f"{name}_t"].precision
            precision = float32_like_type(values)
            if not holds_exactly(values, current) and str(precision) != str(current):
                wanted[name] = precision
    return wanted


class RescaleConstantTypes(OptimizerPass):
    """Give the scale and bias of BatchNormalization and ApplyAlpha nodes float32's precision, where their
    layer's config names no type for them."""

    def match(self, node):
        return node.class_name in RESCALE_NODES and bool(retyped(node))

    def transform(self, model, node):
        for name, precision in retyped(node).items():
            # a type of the node's own: hls4ml shares one NamedType (model_default_t) among all defaulted ones
            named = NamedType(f"{node.name}_{name}_t", precision)
            node.set_attr(f"{name}_t", named)
            node.weights[name].type = named
            node.weights[name].update_precision(precision)
        return False  # types only: the graph is unchanged


def register() -> None:
    insert_pass(FLOW, PASS_NAME, RescaleConstantTypes, before=INFERENCE_PASS)
