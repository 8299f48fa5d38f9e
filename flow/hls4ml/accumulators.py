"""Exact fixed-point types for what hls4ml would size by rule: weight layers' accumulators, and the input.

hls4ml 1.3 infers a weight layer's accumulator as w + a + ceil(log2(n_in)) bits whatever the
weights are (33 bits in the 4-bit digits model). The weights are constants, so the real worst case
is known: for output j, every partial sum lies between

    min(b_j, 0) + sum_i min(0, w_ij * lo, w_ij * hi)   and   max(b_j, 0) + sum_i max(0, w_ij * lo, w_ij * hi)

where [lo, hi] is the input type's range and w, b are the weights and bias as the hardware stores
them (rounded to their types). Each term's lower bound is <= 0 and upper bound >= 0, so the bounds
hold for every partial sum in any summation order (bias first as in nnet_dense_latency.h, or last
as in hls/nnet_sparse.h), and no product or sum ever wraps. The fraction bits are the input's plus
the weights' (as many as the stored values need), at least the bias's, so every sum is exact.
The result type is the accumulator's (the layer's output is the exact sum) unless hls4ml merged the
quantizer that follows into the layer: then the layer rounds into that quantizer's type itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .nodes import DENSE_WEIGHT_LAYERS, weight_matrix, weight_matrix_shape

LAYOUT_NODES = ("Transpose", "Reshape")
MAX_FRACTION_BITS = 32  # stored values with more fraction bits than this are taken at their type's


@dataclass(frozen=True)
class FixedType:
    """A signed or unsigned ap_fixed type: `width` bits, `integer` of them above the binary point."""

    width: int
    integer: int
    signed: bool = True

    @property
    def fraction(self) -> int:
        return self.width - self.integer

    @property
    def lowest(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def highest(self) -> float:
        return 2.0 ** (self.integer - (1 if self.signed else 0)) - 2.0 ** -self.fraction

    def hls4ml(self) -> str:
        return f"{'fixed' if self.signed else 'ufixed'}<{self.width},{self.integer}>"


def fixed_type_of(precision) -> FixedType | None:
    """An hls4ml precision as a FixedType; None for types without a fixed range (float, auto, and xnor, whose 0
    stands for -1)."""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if not isinstance(precision, (FixedPrecisionType, IntegerPrecisionType)):
        return None
    return FixedType(int(precision.width), int(precision.integer), bool(precision.signed))


def fraction_bits(values: np.ndarray, limit: int) -> int:
    """The fewest fraction bits (<= limit) that hold every value exactly; limit when none fewer do."""
    for bits in range(limit + 1):
        scaled = values * 2.0**bits
        if np.array_equal(scaled, np.round(scaled)):
            return bits
    return limit


def stored(values: np.ndarray, kind: FixedType | None) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The lowest and highest value the hardware may hold for each value, and their fraction bits.

    Quantized weights sit on their type's grid and are held exactly. Others are printed with the
    type's fraction digits and converted by the type's rounding mode (types.py, weights.h), so each
    may land on the grid point below or above; both are kept. None when a value is outside the
    type's range (it would wrap or saturate).
    """
    values = np.asarray(values, dtype=np.float64)
    if kind is None:
        return values, values, fraction_bits(values, MAX_FRACTION_BITS)
    if values.size and (values.min() < kind.lowest or values.max() > kind.highest):
        return None
    grid = 2.0**kind.fraction
    below, above = np.floor(values * grid) / grid, np.ceil(values * grid) / grid
    if np.array_equal(below, above):
        return below, above, fraction_bits(below, kind.fraction)
    return below, np.minimum(above, kind.highest), kind.fraction


def signed_type_for(lowest: float, highest: float, fraction: int) -> FixedType:
    """The narrowest signed type with `fraction` fraction bits and at least the sign bit above the binary
    point (hls4ml parses no negative integer widths) whose range holds [lowest, highest]."""
    integer = 1
    while -(2.0 ** (integer - 1)) > lowest or 2.0 ** (integer - 1) - 2.0**-fraction < highest:
        integer += 1
    return FixedType(integer + fraction, integer, True)


def row_bounds(weights: tuple[np.ndarray, np.ndarray], bias: tuple[np.ndarray, np.ndarray], lo: float, hi: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per output column of (n_in, n_out) matrices of each weight's lowest and highest stored value, the lowest
    and highest any partial sum reaches."""
    products = [w * x for w in weights for x in (lo, hi)]
    low_terms = np.minimum(np.minimum.reduce(products), 0.0)
    high_terms = np.maximum(np.maximum.reduce(products), 0.0)
    return low_terms.sum(axis=0) + np.minimum(bias[0], 0.0), high_terms.sum(axis=0) + np.maximum(bias[1], 0.0)


def plain_products(precision) -> bool:
    """Whether hls4ml multiplies by the stored value itself (product_type in fpga_backend.py): not for
    Xnor (0 means -1), Exponent (a shift) or signed 2-bit integer (ternary) weights."""
    from hls4ml.model.types import ExponentPrecisionType, IntegerPrecisionType, XnorPrecisionType

    if isinstance(precision, (XnorPrecisionType, ExponentPrecisionType)):
        return False
    return not (isinstance(precision, IntegerPrecisionType) and precision.width == 2 and precision.signed)


def exact_accumulator(node) -> FixedType | None:
    """The accumulator type no input of the node's input type can overflow; None when it cannot be bounded
    (an unbounded input type, weights not multiplied as stored, values outside their type)."""
    source = fixed_type_of(node.get_input_variable().type.precision)
    weight = node.get_weights("weight")
    if source is None or not plain_products(weight.type.precision):
        return None
    weights = stored(weight.data, fixed_type_of(weight.type.precision))
    n_out = weight_matrix_shape(node)[1]
    bias_variable = node.weights.get("bias")
    if bias_variable is None:
        bias = (np.zeros(n_out), np.zeros(n_out), 0)
    else:
        bias = stored(np.broadcast_to(np.asarray(bias_variable.data).reshape(-1), (n_out,)),
                      fixed_type_of(bias_variable.type.precision))
    if weights is None or bias is None:
        return None
    lowest, highest = row_bounds((weight_matrix(node, weights[0]), weight_matrix(node, weights[1])), bias[:2],
                                 source.lowest, source.highest)
    fraction = max(source.fraction + weights[2], bias[2])
    return signed_type_for(float(lowest.min()), float(highest.max()), fraction)


def exact_layer_precisions(hls_model) -> dict[str, dict[str, str]]:
    """hls4ml layer name -> the precisions to pin ("accum", and "result" unless a quantizer was merged into the
    layer's output) of each dense weight layer that can be bounded."""
    chosen = {}
    for node in hls_model.get_layers():
        if node.class_name in DENSE_WEIGHT_LAYERS:
            kind = exact_accumulator(node)
            if kind is not None:
                merged_quantizer = node.get_attr("quantizer") is not None
                chosen[node.name] = {"accum": kind.hls4ml(), **({} if merged_quantizer else {"result": kind.hls4ml()})}
    return chosen


def quantized_input_precision(hls_model) -> str | None:
    """The type of the quantizer the model input meets first (past layout-only nodes), for the input itself.

    hls4ml gives the input the default precision (32 bits); when the first real node is a quantizer,
    feeding the input already on that grid changes no value and lets the stream carry a narrow word.
    """
    for node in list(hls_model.get_layers())[1:]:
        if node.class_name in LAYOUT_NODES:
            continue
        precision = node.get_output_variable().type.precision
        if node.class_name == "Activation" and node.get_attr("activation") == "linear" and fixed_type_of(precision):
            return str(precision)
        return None
    return None
