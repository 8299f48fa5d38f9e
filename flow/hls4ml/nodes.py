"""The cost model's view of hls4ml Dense / Conv2D nodes (and their sparse twins)."""
from __future__ import annotations

import numpy as np

from ..cost.kernels import LayerShape
from ..sparse.encoding import code_bits_for, level_table

DENSE_WEIGHT_LAYERS = ("Dense", "Conv2D")
WEIGHT_LAYERS = (*DENSE_WEIGHT_LAYERS, "SparseDense", "SparseConv2D")


def is_sparse(node) -> bool:
    return node.class_name.startswith("Sparse")


def weight_layers(hls_model) -> list:
    return [node for node in hls_model.get_layers() if node.class_name in WEIGHT_LAYERS]


def weight_matrix_shape(node) -> tuple[int, int]:
    """(n_in, n_out) of a Dense or Conv2D node's weights as the dense kernel sees them (conv: im2col)."""
    if "Dense" in node.class_name:
        return node.get_attr("n_in"), node.get_attr("n_out")
    return node.get_attr("filt_height") * node.get_attr("filt_width") * node.get_attr("n_chan"), node.get_attr("n_filt")


def weights_of(node):
    """(values, precision) of a dense node's weights, also where hls4ml's distributed_arithmetic template removed
    them from the node (flow keeps a copy: flow/hls4ml/distributed_arithmetic.py). The values are those the
    weights stand for: hls4ml's xnor bits (QuantizeDenseOutput) 0 and 1 are -1 and +1, none of them pruned."""
    from .distributed_arithmetic import KEPT_WEIGHTS

    kept = node.get_attr(KEPT_WEIGHTS)
    if kept is None:
        weights = node.get_weights("weight")
        kept = weights.data, weights.type.precision
    data, precision = kept
    if is_xnor_type(precision):
        return 2 * np.asarray(data, dtype=np.int64) - 1, precision
    return data, precision


def is_xnor(node) -> bool:
    """Whether the node's weights are hls4ml's xnor bits, multiplied as an xnor of 0/1 inputs: a binary Dense after
    a threshold (QuantizeDenseOutput). Only hls4ml's dense kernel computes that product."""
    weights = node.weights.get("weight")
    return weights is not None and is_xnor_type(weights.type.precision)


def is_xnor_type(precision) -> bool:
    from hls4ml.model.types import XnorPrecisionType

    return isinstance(precision, XnorPrecisionType)


def weight_matrix(node, data: np.ndarray | None = None) -> np.ndarray:
    """The node's weights (or `data` laid out like them) as (n_in, n_out), in the kernel's input order, whatever
    layout hls4ml keeps them in: its Resource strategy pass transposes them to (n_out, n_in) or (F, H, W, C)."""
    n_in, n_out = weight_matrix_shape(node)
    data = np.asarray(weights_of(node)[0] if data is None else data)
    if node.get_attr("_weights_transposed", False):
        return data.reshape(n_out, n_in).T
    return data.reshape(n_in, n_out)  # (n_in, n_out) or (H, W, C, F)


def exact_in(values, precision) -> bool:
    """Whether every value is one the fixed-point (or integer) type holds as it is (its cast changes none): on the
    type's grid and within its range, symmetric where it saturates symmetrically (AP_SAT_SYM); and one float32
    holds exactly, as da4ml takes its constants."""
    from hls4ml.model.types import FixedPrecisionType

    if not isinstance(precision, FixedPrecisionType):  # IntegerPrecisionType is one; floats and xnor are not
        return False
    width, integer, signed = int(precision.width), int(precision.integer), bool(precision.signed)
    high = 2 ** (width - 1) - 1 if signed else 2**width - 1
    symmetric = getattr(getattr(precision, "saturation_mode", None), "name", "") == "SAT_SYM"
    low = 0 if not signed else -high if symmetric else -high - 1
    values = np.asarray(values, dtype=np.float64)
    scaled = values * 2.0 ** (width - integer)
    return bool(np.all(scaled == np.round(scaled)) and np.all((scaled >= low) & (scaled <= high))
                and np.array_equal(values.astype(np.float32).astype(np.float64), values))


def exact_weights(node) -> bool:
    """Whether the node's weights and bias are exactly values of their types, as hls4ml's distributed_arithmetic
    kernel needs (it takes them as given, where the other kernels take them cast). A sparse node's weights are
    its level table, at its dense source's weight type; a distributed_arithmetic node was built from exact ones."""
    from .distributed_arithmetic import KEPT_WEIGHTS

    if node.get_attr(KEPT_WEIGHTS) is not None:
        return True
    if is_sparse(node):
        weights = exact_in(node.get_attr("sparse_levels"), node.get_attr("level_t").precision)
    else:
        weights = exact_in(*weights_of(node))
    bias = node.weights.get("bias")
    return weights and (bias is None or exact_in(bias.data, bias.type.precision))


def layer_shape(node) -> LayerShape:
    n_in, n_out = weight_matrix_shape(node)
    if is_sparse(node):
        nonzeros, weight_bits = node.get_attr("sparse_nonzeros"), node.get_attr("sparse_dense_weight_bits")
    else:
        data, precision = weights_of(node)
        nonzeros, weight_bits = int(np.count_nonzero(data)), precision.width
    dense = "Dense" in node.class_name
    positions = 1 if dense else node.get_attr("out_height") * node.get_attr("out_width")
    input_positions = None if dense else node.get_attr("in_height") * node.get_attr("in_width")
    stream_packets = 0
    if dense and node.model.config.get_config_value("IOType") == "io_stream":
        # n_elem values per stream word (hls4ml's nnet::array; a flattened input keeps its producer's)
        stream_packets = (n_in // node.get_input_variable().type.n_elem
                          + n_out // node.get_output_variable().type.n_elem)
    return LayerShape(name=node.name, n_in=int(n_in), n_out=int(n_out), positions=int(positions),
                      input_positions=input_positions, stream_packets=int(stream_packets),
                      nonzeros=int(nonzeros), weight_bits=int(weight_bits),
                      input_bits=int(node.get_input_variable().type.precision.width), accum_bits=accum_bits(node),
                      output_bits=int(node.get_output_variable().type.precision.width))


def accum_bits(node) -> int | None:
    """The width of the node's accum_t as the hls4ml config set it (the products' sum is built that wide)."""
    accum = node.get_attr("accum_t")
    return int(accum.precision.width) if accum is not None else None


def code_bits_of(node) -> int:
    """Bits of the level code the sparse kernel would store for this node's weights."""
    if is_sparse(node):
        return int(node.get_attr("sparse_code_bits"))
    return code_bits_for(level_table(weights_of(node)[0]))


def layer_precisions(hls_config: dict, name: str) -> dict:
    """Node `name`'s Precision in the hls4ml config as variable -> type (one type for the layer: its `default`)."""
    entry = config_entry(hls_config, name)
    if not isinstance(entry.get("Precision", {}), dict):
        entry["Precision"] = {"default": entry["Precision"]}
    return entry.setdefault("Precision", {})


def config_entry(hls_config: dict, name: str) -> dict:
    """The hls4ml config's LayerName entry that configures node `name`: hls4ml names a QONNX Conv / MatMul's node
    <class>_<node> and gives it the source node's entry."""
    named = hls_config.setdefault("LayerName", {})
    source = next((name[len(prefix):] for prefix in ("Conv2D_", "Conv1D_", "Dense_")
                   if name.startswith(prefix) and name[len(prefix):] in named), name)
    return named.setdefault(source, {})
