"""Corrections to hls4ml 1.3 conversions, as optimizer passes for its Extension API."""
from __future__ import annotations

import numpy as np
from hls4ml.backends.vivado.passes.bn_quant import QuantizeDenseOutput
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.quantizers import BinaryQuantizer
from hls4ml.model.types import IntegerPrecisionType, NamedType

from ..errors import FlowError
from .accumulators import FixedType, fixed_type_of
from .flows import insert_pass, replace_pass


class PerElementScaleIndex(OptimizerPass):
    """An ApplyAlpha whose scale and bias hold one value per element must index them per element.

    hls4ml 1.3's ScaleDownConv (move_scales.py) builds the rescale after a convolution from the
    attributes of the convolution's data input, so it inherits that layer's `n_filt` (20 after
    LeNet-5's first pool). nnet::normalize then reads bias[j % n_filt] from a per-element array
    and every channel past the 20th gets another channel's bias: 0.5 off on MNIST logits.
    """

    def match(self, node):
        if node.class_name != "ApplyAlpha" or node.get_attr("n_filt", -1) == -1:
            return False
        elements = node.get_attr("n_in")
        return all(node.get_weights(name).data.size == elements for name in ("scale", "bias"))

    def transform(self, model, node):
        node.set_attr("n_filt", -1)
        return False


class WeightRescalePerColumn(OptimizerPass):
    """A MatMul's constant weights rescaled per output column get a rescale of one value per column.

    hls4ml 1.3's ConstQuantToConstAlpha (quant_opt.py) broadcasts a weight Quant's scale to the whole weight
    shape, (K, N) for a per-output-channel scale (Brevitas' default for QuantLinear). ScaleDownMatMul
    (move_scales.py) can then only move the rescale below the MatMul when it is one scalar, so it leaves it on
    the weights and the conversion fails later with an IndexError on the orphaned constant. A scale equal along
    K is the same rescale applied to the MatMul's N outputs, which ScaleDownMatMul moves as it should.
    """

    def match(self, node):
        if node.class_name != "ApplyAlpha" or node.get_input_node(node.inputs[0]).class_name != "Constant":
            return False
        consumers = node.get_output_nodes()
        if len(consumers) != 1 or consumers[0].class_name != "MatMul" or consumers[0].inputs[1] != node.outputs[0]:
            return False
        scale, bias = (node.weights[name].data_unquantized for name in ("scale", "bias"))
        return scale.ndim == 2 and scale.shape[0] > 1 and bool((scale == scale[:1]).all()) and not bias.any()

    def transform(self, model, node):
        column_scale = np.array(node.weights["scale"].data_unquantized[0])
        node.add_weights(column_scale, quantizer=node.get_attr("scale_quantizer"),
                         precision=node.get_attr("scale_precision"))
        node.add_bias(np.zeros_like(column_scale), quantizer=node.get_attr("bias_quantizer"),
                      precision=node.get_attr("bias_precision"))
        return False  # the weights' values only; ScaleDownMatMul, next, moves the rescale


class AlphaPrecisionAsType(OptimizerPass):
    """An ApplyAlpha's `scale_precision`/`bias_precision` attribute holds a precision, not a named type.

    hls4ml 1.3's MergeToApplyAlphaDiv (merge_const.py, QONNX's Div by a constant: UNSW-NB15's input `(x + 1) /
    2`) stores the bias' NamedType there. ScaleDownMatMul copies the attribute into the ApplyAlpha it makes
    below the MatMul, whose WeightVariable then rejects it ("Unexpected new precision type").
    """

    def match(self, node):
        return node.class_name == "ApplyAlpha" and any(
            isinstance(node.get_attr(name), NamedType) for name in ("scale_precision", "bias_precision"))

    def transform(self, model, node):
        for name in ("scale_precision", "bias_precision"):
            if isinstance(node.get_attr(name), NamedType):
                node.set_attr(name, node.get_attr(name).precision)
        return False


class BipolarAsSignedInteger(OptimizerPass):
    """BipolarQuant values as -1 and +1 in a signed 2-bit integer, not as hls4ml's 0/1 xnor bit.

    hls4ml 1.3's BipolarQuant passes (bipolar_quant_opt.py) give binary activations and weights its
    XnorPrecisionType. Where a batch norm or rescale comes before the activation, hls4ml merges the two into
    a threshold and its QuantizeDenseOutput makes the next Dense an exact xnor popcount again (BinaryThreshold-
    OnGrid below corrects the threshold). Elsewhere the xnor bit is wrong: a binary Dense's cast
    (nnet_mult.h, 2 * acc - n) doubles its bias, and any other consumer, or the model's output, reads 0 for -1.
    As signed integers those products are hls4ml's ordinary ones and exact.
    """

    def match(self, node):
        quantizer = node.get_attr("quantizer")
        return isinstance(quantizer, BinaryQuantizer) and quantizer.bits == 1

    def transform(self, model, node):
        quantizer = BinaryQuantizer(bits=2)  # x >= 0 -> +1, else -1, as BipolarQuant
        node.set_attr("quantizer", quantizer)
        if node.get_attr("quantizer_precision") is not None:
            node.set_attr("quantizer_precision", quantizer.hls_type)
        node.get_output_variable().type.precision = quantizer.hls_type
        return False


class BinaryThresholdOnGrid(OptimizerPass):
    """A batch norm or rescale before a binary activation, rewritten as `x - t >= 0` with t on the input's grid.

    hls4ml 1.3 merges the pair into a threshold compare, `x >= floor(-bias / scale)` on the input's grid
    (fpga_layers.py set_thresholds, nnet_batchnorm.h normalize_binary_tanh). BipolarQuant is +1 where
    x * scale + bias >= 0, which for scale > 0 is x >= the grid's ceil of -bias / scale: with floor, every
    input one step below a non-grid threshold gets +1 (UNSW-NB15's output, a few neurons per TFC_1W1A
    layer). With scale 1 and bias -t, hls4ml's floor keeps t.

    After a binary Dense fed by another threshold, hls4ml's QuantizeDenseOutput (bn_quant.py) makes the
    Dense compute whole dot products 2p - n with its bias dropped, and floors the threshold to a whole
    number again: there t is the ceil in whole numbers with the Dense's bias folded in, and the bias is
    zeroed here. A channel scaled by s < 0 (x <= t) becomes one of scale -s on -x by negating its column
    of the Dense before (FINN's TFC_1W1A has such channels); elsewhere it has no `>=` form and is refused,
    as is a threshold above every value the input type holds (one binary input: int<2>, sums -1 and +1).
    """

    def match(self, node):
        if node.class_name not in ("BatchNormalization", "ApplyAlpha") or node.get_attr("flow_threshold_on_grid"):
            return False
        after = node.get_output_nodes()
        return (len(after) == 1 and after[0].class_name == "Activation"
                and after[0].get_attr("activation") in BINARY_ACTIVATIONS)

    def transform(self, model, node):
        bias = np.asarray(node.get_weights("bias").data, dtype=float).reshape(-1)
        scale = np.broadcast_to(np.asarray(node.get_weights("scale").data, dtype=float).reshape(-1), bias.shape).copy()
        negative = scale < 0
        if negative.any():
            negate_columns(node, negative)
            scale[negative] = -scale[negative]
        if (scale == 0).any():
            raise FlowError(f"unsupported layer: node '{node.name}' scales channel {int(np.flatnonzero(scale == 0)[0])} "
                            "by 0 before a BipolarQuant (a constant output); hls4ml's binary threshold has no form "
                            "for it")
        source = node.get_input_node()
        if whole_dot_products(source):
            dense_bias = source.get_weights("bias")
            if np.any(dense_bias.data) and len(source.get_output_nodes()) != 1:
                raise FlowError(f"unsupported layer: binary Dense '{source.name}' has a bias and more than one "
                                "consumer; hls4ml drops a binary Dense's bias, which flow folds into one threshold")
            n_in = source.get_attr("n_in")
            threshold = np.clip(np.ceil(-bias / scale - np.asarray(dense_bias.data, dtype=float).reshape(-1)),
                                -n_in, n_in + 1)  # the sums are -n .. n: -n is always +1, n + 1 never
            highest = whole_sum_type(n_in).highest
            # an output threshold compares > t - 1 (BipolarOutputAsSigned), which the type holds
            if (threshold > highest).any() and not writes_model_output(node.get_output_nodes()[0]):
                channel = int(np.flatnonzero(threshold > highest)[0])
                raise FlowError(f"unsupported layer: node '{node.name}' channel {channel} is -1 at every sum of "
                                f"the {n_in} binary input(s) of '{source.name}'; hls4ml's threshold type for it, "
                                f"int<{whole_sum_type(n_in).width}>, cannot say so")
            dense_bias.data = np.zeros_like(np.asarray(dense_bias.data))
        else:
            kind = grid_of(node)
            step = 2.0 ** -kind.fraction
            threshold = np.maximum(np.ceil(-bias / scale / step) * step, kind.lowest)  # below every input: always +1
            if (threshold > kind.highest).any():
                channel = int(np.flatnonzero(threshold > kind.highest)[0])
                raise FlowError(f"unsupported layer: node '{node.name}' channel {channel} is -1 at every value its "
                                f"input type {node.get_input_variable().type.precision} holds; hls4ml's binary "
                                "threshold cannot say so in that type")
        node.add_weights_variable(name="scale", var_name="s{index}", data=np.ones_like(threshold))
        node.add_weights_variable(name="bias", var_name="b{index}", data=-threshold)
        node.set_attr("flow_threshold_on_grid", True)
        return False


BINARY_ACTIVATIONS = ("binary", "binary_tanh")


def whole_sum_type(n_in: int) -> FixedType:
    """The type hls4ml's QuantizeDenseOutput gives the whole dot products of n_in binary inputs (bn_quant.py: a
    signed integer of ceil(log2 n_in) + 2 bits), and the threshold after them."""
    bits = int(np.ceil(np.log2(n_in))) + 2
    return FixedType(bits, bits, True)


def writes_model_output(node) -> bool:
    return node.outputs[0] in node.model.outputs


def grid_of(node) -> FixedType:
    """The fixed-point type of `node`'s input, whose grid a binary threshold is set on; FlowError where it has
    none (a float, xnor or unresolved type)."""
    precision = node.get_input_variable().type.precision
    kind = fixed_type_of(precision)
    if kind is None:
        raise FlowError(f"unsupported layer: node '{node.name}' sets a binary threshold on a {precision} input, "
                        "which has no fixed-point grid; give its input a fixed-point type (a Quant before it)")
    return kind


def whole_dot_products(node) -> bool:
    """Whether hls4ml's QuantizeDenseOutput will make `node` a Dense of whole dot products: binary or ternary
    weights, its input a threshold (or a binary activation after a batch norm, which hls4ml merges into one)."""
    quantizer = type(node.get_attr("weight_quantizer")).__name__
    if node.class_name != "Dense" or quantizer not in ("BinaryQuantizer", "TernaryQuantizer"):
        return False
    source = node.get_input_node()
    if source.class_name == "BatchNormalizationQuantizedTanh":
        return True
    return (source.class_name == "Activation" and source.get_attr("activation") in BINARY_ACTIVATIONS
            and source.get_input_node().class_name in ("BatchNormalization", "ApplyAlpha"))


def negate_columns(node, columns: np.ndarray) -> None:
    """Negate the outputs `columns` of the Dense that feeds `node` alone, by negating its weights and bias there;
    FlowError where the input is no such Dense or a negated value leaves its type."""
    from .rescale_types import holds_exactly

    source = node.get_input_node()
    channel = int(np.flatnonzero(columns)[0])
    if source.class_name != "Dense" or len(source.get_output_nodes()) != 1:
        raise FlowError(f"unsupported layer: node '{node.name}' scales channel {channel} by a negative value before "
                        "a BipolarQuant, and its input is no Dense whose outputs flow can negate; hls4ml's binary "
                        "threshold compares x >= t only")
    sign = np.where(columns, -1.0, 1.0)
    n_in, n_out = source.get_attr("n_in"), source.get_attr("n_out")
    for variable, signs in ((source.get_weights("weight"), np.broadcast_to(sign, (n_in, n_out))),
                            (source.get_weights("bias"), sign)):
        negated = (np.asarray(variable.data, dtype=float).reshape(signs.shape) * signs).reshape(np.shape(variable.data))
        if not holds_exactly(negated, variable.type.precision):
            raise FlowError(f"unsupported layer: node '{node.name}' scales channel {channel} by a negative value "
                            f"before a BipolarQuant, and negating '{source.name}' there leaves its type "
                            f"{variable.type.precision}")
        variable.data = negated


class BipolarOutputAsSigned(OptimizerPass):
    """A binary threshold that writes the model's output gives -1 and +1, not hls4ml's 0 and 1 xnor bit.

    hls4ml 1.3's merged threshold (normalize_binary_tanh) writes an ap_uint<1>, 0 for -1: right between
    its xnor layers, but a model ending in a BipolarQuant (UNSW-NB15's classifier) would leave with 0
    where qonnx gives -1. hls4ml's ternary threshold (normalize_ternary_tanh: +1 above th_hi, -1 at or
    below th_lo, else 0) with both at one grid step below the threshold is +1 from it on, -1 below it,
    never 0, in an ap_int<2>. Runs after QuantizeDenseOutput, which sets the threshold's final type.
    """

    def match(self, node):
        return (node.class_name == "BatchNormalizationQuantizedTanh" and node.get_attr("quantize") == 2
                and writes_model_output(node))

    def transform(self, model, node):
        threshold = node.get_weights("threshold")
        kind = fixed_type_of(threshold.type.precision)  # QuantizeDenseOutput's integer or the input's fixed type
        below = np.asarray(threshold.data, dtype=float) - 2.0 ** -kind.fraction
        if (below < kind.lowest).any():
            raise FlowError(f"unsupported layer: output node '{node.name}' is +1 at every input; hls4ml's ternary "
                            f"threshold cannot say so in {threshold.type.precision}")
        del node.weights["threshold"]
        del node.attributes["threshold_t"]
        for name, var_name in (("threshold_hi", "th{index}"), ("threshold_lo", "tl{index}")):
            node.add_weights_variable(name=name, var_name=var_name, data=below, type_name=f"{name}_{{index}}_t",
                                      precision=threshold.type.precision)
        node.set_attr("quantize", 3)
        node.get_output_variable().type.precision = IntegerPrecisionType(width=2, signed=True)
        return False


class QuantizeDenseOutputOnce(QuantizeDenseOutput):
    """hls4ml's QuantizeDenseOutput (bn_quant.py), once per Dense.

    hls4ml's pass also matches a Dense it has already made whole dot products: when a later pass in its
    flow returns True (xnor_pooling, after a MaxPool of binary values), hls4ml runs the flow again and
    quantizes the Dense's 0/1 xnor weights again, to all 1s.
    """

    def match(self, node):
        return super().match(node) and not node.get_attr(WHOLE_DOT_PRODUCTS)

    def transform(self, model, node):
        node.set_attr(WHOLE_DOT_PRODUCTS, True)
        return super().transform(model, node)


WHOLE_DOT_PRODUCTS = "flow_whole_dot_products"

PASSES = {"per_element_scale_index": PerElementScaleIndex}
PARSE_FLOW = "parse_qonnx"
PARSE_PASSES = {"flow:bipolar_as_signed_integer": BipolarAsSignedInteger,
                "flow:weight_rescale_per_column": WeightRescalePerColumn,
                "flow:alpha_precision_as_type": AlphaPrecisionAsType}


def register() -> None:
    """Register the QONNX parsing corrections once, each before the hls4ml pass that needs it, and the binary
    threshold's before the merge it corrects (in the flow the Vivado and Vitis backends share)."""
    for name, optimizer in PARSE_PASSES.items():
        insert_pass(PARSE_FLOW, name, optimizer, before="scale_down_mat_mul")
    insert_pass("vivado:quantization", "flow:binary_threshold_on_grid", BinaryThresholdOnGrid,
                before="vivado:merge_batch_norm_quantized_tanh")
    replace_pass("vivado:quantization", "vivado:quantize_dense_output", "flow:quantize_dense_output_once",
                 QuantizeDenseOutputOnce)
    insert_pass("vivado:quantization", "flow:bipolar_output_as_signed", BipolarOutputAsSigned,
                before="fuse_consecutive_batch_normalization")
