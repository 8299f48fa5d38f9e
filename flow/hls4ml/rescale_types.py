"""Types for the constants of rescale nodes (BatchNormalization, ApplyAlpha): never wrapping, and on request as
precise as float32.

A QONNX model's batch norms and non-power-of-two Quant scales become hls4ml BatchNormalization and
ApplyAlpha nodes whose scale and bias hls4ml 1.3 types at the default precision (fixed<32,16>).
Values past its 16 integer bits wrap (UNSW-NB15's scales reach 139,644); this pass always gives such
a constant the integer bits its largest value needs, at the default's fraction bits.

The default's 16 fraction bits put a scale of 0.01 0.15% off, so the Quant after the rescale rounds
differently from qonnx's float32 execution near every half step: the MLPerf Tiny KWS MLP gets 94-95%
argmax agreement on inputs from its input grid. With `float32` (the build config's
`float32_rescales`) each constant gets the fraction bits its smallest nonzero value needs for float32's
24 significant bits (at most MAX_FRACTION_BITS) as well; hls4ml then infers a result type that holds
x * scale + bias exactly, and the KWS MLP verifies. The price is wide multipliers (a 40-bit constant
is 4-6 DSP48s per product): the exact, cheap form of a rescale followed by a few-bit quantizer is a
threshold compare per level (FINN's MultiThreshold), which hls4ml 1.3 has for binary and ternary
outputs only.

Contract: runs in hls4ml's `convert` flow before `infer_precision_types`, after the fusions; a
scale or bias type hls4ml's config names (layer, class or model, short of the model's default), or
one that holds its values exactly, is left alone; no node is added or removed.
"""
from __future__ import annotations

import numpy as np
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType, NamedType

from .accumulators import fixed_type_of, fraction_bits, signed_type_for
from .flows import insert_pass
from .nodes import exact_in

RESCALE_NODES = ("BatchNormalization", "ApplyAlpha")
MODE_KEY = "RescaleConstants"  # hls_config["Model"]: "float32", or absent for integer bits only
FLOAT32_SIGNIFICANT_BITS = 24
MAX_FRACTION_BITS = 48
PASS_NAME = "flow:rescale_constant_types"
FLOW = "convert"
INFERENCE_PASS = "infer_precision_types"


def constant_type(values: np.ndarray, default_fraction: int, float32: bool) -> FixedPrecisionType:
    """The narrowest signed fixed type whose range holds every value, at `default_fraction` fraction bits or, with
    `float32`, at those that hold each value to float32's significant bits (exactly where fewer fraction bits
    do)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    nonzero = np.abs(values[values != 0])
    if nonzero.size == 0:
        return FixedPrecisionType(2, 2, True)
    needed = FLOAT32_SIGNIFICANT_BITS - 1 - int(np.floor(np.log2(nonzero.min()))) if float32 else default_fraction
    fraction = fraction_bits(values, min(max(needed, 0), MAX_FRACTION_BITS))
    kind = signed_type_for(float(values.min()), float(values.max()), fraction)
    return FixedPrecisionType(kind.width, kind.integer, True)


def holds_exactly(values, precision) -> bool:
    """nodes.exact_in, also for hls4ml's IntegerPrecisionType (not a FixedPrecisionType subclass in 1.3: the
    uint<1> scale hls4ml gives a bias-only rescale)."""
    if isinstance(precision, IntegerPrecisionType):
        precision = FixedPrecisionType(precision.width, precision.width, precision.signed)
    return exact_in(values, precision)


def in_range(values, precision) -> bool:
    """Whether the values lie within a fixed-point or integer type's range (for other types: no)."""
    kind = fixed_type_of(precision)
    values = np.asarray(values, dtype=np.float64)
    return kind is not None and bool(values.size == 0 or (values.min() >= kind.lowest and values.max() <= kind.highest))


def named_in_config(node, variable: str) -> bool:
    """Whether hls4ml's config gives the node's `variable` a type of its own, looked up as hls4ml's
    Config.get_precision does (the layer's name, its class, the model), short of the model's default."""
    config = node.model.config
    name, kind = node.name.lower(), node.class_name.lower()
    return any(key in table for table, key in (
        (config.layer_name_precision, f"{name}_{variable}"), (config.layer_name_precision, f"{name}_default"),
        (config.layer_type_precision, f"{kind}_{variable}"), (config.layer_type_precision, f"{kind}_default"),
        (config.model_precision, variable)))


def retyped(node) -> dict[str, FixedPrecisionType]:
    """The scale and bias types the node's constants need, where its config names none and its type would round
    them."""
    config = node.model.config
    default = config.backend.convert_precision_string(config.model_precision["default"])
    float32 = config.config["HLSConfig"]["Model"].get(MODE_KEY) == "float32"
    wanted = {}
    for name in ("scale", "bias"):
        if name in node.weights and not named_in_config(node, name):
            values, current = node.weights[name].data, node.types[f"{name}_t"].precision
            if not float32 and in_range(values, current):
                continue  # without float32, only a constant that would wrap gets another type
            precision = constant_type(values, default.width - default.integer, float32)
            if not holds_exactly(values, current) and str(precision) != str(current):
                wanted[name] = precision
    return wanted


class RescaleConstantTypes(OptimizerPass):
    """Give the scale and bias of BatchNormalization and ApplyAlpha nodes the integer bits their values need
    (and with `float32`, float32's precision), where hls4ml's config names no type for them."""

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
