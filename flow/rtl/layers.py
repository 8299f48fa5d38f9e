"""Each weight layer of a build as the RTL checks see it: weights, types, and QONNX's own vectors.

The weights are the exported ones (the weight Quant node's output in `model_clean.onnx`, the graph
hls4ml converted); the input and result types are the hls4ml node's; the input and output vectors
are the tensors QONNX execution computes around the layer on the build's verify inputs. A Verilog
form that reproduces those outputs from those inputs therefore agrees with QONNX, and so with csim,
which the verify step holds to QONNX.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnx import helper

from ..build.artifacts import GRAPH, MODEL_CLEAN, VERIFY_INPUTS, read_json, to_hls_layout
from ..errors import FlowError
from ..hls4ml.layer_projects import WEIGHT_OPS, layer_boundaries
from ..hls4ml.nodes import is_sparse, weight_layers, weight_matrix_shape, weights_of


class FormNotBuilt(Exception):
    """A layer's RTL form cannot be written with the tools here (the reason is the message): not bad input."""


@dataclass(frozen=True)
class FixedType:
    """ap_fixed<width, integer> (signed) or ap_ufixed<width, integer>, with hls4ml's cast modes.

    Example::

        FixedType(signed=False, width=8, integer=4).kif   # (0, 4, 4): da4ml's sign, integer and fraction bits
    """

    signed: bool
    width: int
    integer: int
    rounding: str = "TRN"  # hls4ml's RoundingMode name: how a cast into this type drops fraction bits
    overflow: str = "WRAP"  # hls4ml's SaturationMode name

    @property
    def fraction(self) -> int:
        return self.width - self.integer

    @property
    def kif(self) -> tuple[int, int, int]:
        return int(self.signed), self.integer - int(self.signed), self.fraction

    def cast(self, values) -> np.ndarray:
        """values cast into this type as ap_fixed casts them: rounding (TRN floor, RND half up, RND_CONV half to
        even), then overflow (SAT clamps, WRAP wraps)."""
        modes = {"TRN": np.floor, "RND": lambda x: np.floor(x + 0.5), "RND_CONV": np.round}
        if self.rounding not in modes or self.overflow not in ("SAT", "WRAP"):
            raise FormNotBuilt(f"casts into {self.rounding}/{self.overflow} types are not modelled here")
        rounded = modes[self.rounding](np.asarray(values, dtype=np.float64) * 2.0 ** self.fraction)
        low = -(2 ** (self.width - 1)) if self.signed else 0
        high = low + 2 ** self.width - 1
        kept = np.clip(rounded, low, high) if self.overflow == "SAT" else (rounded - low) % 2 ** self.width + low
        return kept * 2.0 ** -self.fraction

    @classmethod
    def of(cls, precision) -> "FixedType":
        """The type of an hls4ml fixed-point or integer precision object."""
        if not hasattr(precision, "integer"):
            raise FlowError(f"type {precision} has no RTL form here (fixed-point and integer types only)")
        return cls(bool(precision.signed), int(precision.width), int(precision.integer),
                   getattr(getattr(precision, "rounding_mode", None), "name", "TRN"),
                   getattr(getattr(precision, "saturation_mode", None), "name", "WRAP"))


@dataclass(frozen=True)
class LayerVectors:
    """One weight layer: the matrix product per output position, and vectors QONNX computed for it."""

    name: str  # the hls4ml node's
    kind: str  # dense | conv (a convolution: one product per output pixel, over its im2col window)
    weights: np.ndarray  # (n_in, n_out), the exported weights' values
    bias: np.ndarray  # (n_out,)
    input_type: FixedType
    weight_type: FixedType  # the dense weights' type, the sparse kernel's level_t
    accum_type: FixedType
    result_type: FixedType
    firmware_entries: np.ndarray | None  # the sparse kernel's entry words in the project, where it is built sparse
    inputs: np.ndarray  # (vectors, n_in) values, distinct rows in the order QONNX met them
    outputs: np.ndarray  # (vectors, n_out) values QONNX computed from them

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape


def grid_integers(values, fraction: int, what: str) -> np.ndarray:
    """values x 2^fraction as integers; FlowError naming `what` where a value is off that grid."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0 ** fraction
    if not np.array_equal(scaled, np.round(scaled)):
        raise FlowError(f"{what} holds values off its type's grid of 2^-{fraction}")
    return np.round(scaled).astype(np.int64)


def _attribute(node, name: str, default):
    found = [attr for attr in node.attribute if attr.name == name]
    return helper.get_attribute_value(found[0]) if found else default


def _windows(tensor: np.ndarray, node) -> np.ndarray:
    """The im2col rows of a channels-last Conv's input (1, H, W, C): one (kh, kw, C) window per output pixel."""
    kh, kw = _attribute(node, "kernel_shape", None)
    if _attribute(node, "group", 1) != 1 or list(_attribute(node, "dilations", [1, 1])) != [1, 1]:
        raise FlowError(f"Conv node {node.name}: grouped or dilated convolutions have no RTL form here")
    sh, sw = _attribute(node, "strides", [1, 1])
    top, left, bottom, right = _attribute(node, "pads", [0, 0, 0, 0])
    padded = np.pad(tensor[0], ((top, bottom), (left, right), (0, 0)))
    out_h, out_w = (padded.shape[0] - kh) // sh + 1, (padded.shape[1] - kw) // sw + 1
    return np.stack([padded[y * sh:y * sh + kh, x * sw:x * sw + kw].reshape(-1)
                     for y in range(out_h) for x in range(out_w)])


def _distinct(inputs: np.ndarray, outputs: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `limit` distinct input rows (a digit's blank background repeats one window hundreds of times)."""
    _, first = np.unique(inputs, axis=0, return_index=True)
    keep = np.sort(first)[:limit]
    return inputs[keep], outputs[keep]


def layer_vectors(build_dir: Path, hls_model, max_vectors: int) -> list[LayerVectors]:
    """Every weight layer of the build with at most `max_vectors` distinct QONNX vectors from the verify inputs."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model = ModelWrapper(str(Path(build_dir) / MODEL_CLEAN))
    graph = read_json(build_dir, GRAPH)
    samples = to_hls_layout(np.load(Path(build_dir) / VERIFY_INPUTS), graph["input_perm"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        contexts = [execute_onnx(model, {model.graph.input[0].name: sample[None].astype(np.float32)},
                                 return_full_exec_context=True) for sample in samples]
    nodes = [node for node in model.graph.node if node.op_type in WEIGHT_OPS]  # layer_boundaries' order
    boundaries = layer_boundaries(model)
    hls_nodes = weight_layers(hls_model)
    if len(hls_nodes) != len(nodes):
        raise FlowError(f"the hls4ml project has {len(hls_nodes)} weight layers but {MODEL_CLEAN} has {len(nodes)} "
                        "Conv/MatMul nodes; rebuild with flow compile --from-step qonnx")
    first = contexts[0]
    layers = []
    for hls_node, node, (_, last) in zip(hls_nodes, nodes, boundaries):
        if node.op_type == "Gemm":
            raise FlowError(f"Gemm node {node.name}: the qonnx step turns Gemm into MatMul; rebuild with "
                            "flow compile --from-step qonnx")
        weights = np.asarray(first[node.input[1]], dtype=np.float64)
        output = last
        readers = model.find_consumers(last)
        if len(readers) == 1 and readers[0].op_type == "Quant":
            # hls4ml merges a Quant right after the layer into the layer's result type: the reference is its output
            output = readers[0].output[0]
        if node.op_type == "Conv":
            weights = weights.reshape(weights.shape[0], -1).T  # channels-last Conv: (F, kh, kw, C)
            rows_in = np.concatenate([_windows(context[node.input[0]], node) for context in contexts])
            rows_out = np.concatenate([context[output].reshape(-1, weights.shape[1]) for context in contexts])
        else:
            rows_in = np.concatenate([context[node.input[0]].reshape(1, -1) for context in contexts])
            rows_out = np.concatenate([context[output].reshape(1, -1) for context in contexts])
        if weights.shape != tuple(weight_matrix_shape(hls_node)):
            raise FlowError(f"layer {hls_node.name}: QONNX node {node.name} has a {weights.shape} weight matrix, hls4ml "
                            f"{tuple(weight_matrix_shape(hls_node))}; rebuild with flow compile --from-step qonnx")
        bias = np.zeros(weights.shape[1])
        if len(node.input) > 2:
            bias = np.asarray(first[node.input[2]], dtype=np.float64).reshape(-1)
        elif last != node.output[0]:  # the bias Add that follows (layer_boundaries)
            add = model.find_producer(last)
            constant = next(name for name in add.input if name != node.output[0])
            bias = np.broadcast_to(np.asarray(first[constant], dtype=np.float64).reshape(-1), weights.shape[1:])
        inputs, outputs = _distinct(rows_in.astype(np.float64), rows_out.astype(np.float64), max_vectors)
        sparse = is_sparse(hls_node)
        weight_precision = hls_node.get_attr("level_t").precision if sparse else weights_of(hls_node)[1]
        layers.append(LayerVectors(name=hls_node.name, kind="conv" if node.op_type == "Conv" else "dense",
                                   weights=weights, bias=np.array(bias),
                                   input_type=FixedType.of(hls_node.get_input_variable().type.precision),
                                   weight_type=FixedType.of(weight_precision),
                                   accum_type=FixedType.of(hls_node.get_attr("accum_t").precision),
                                   result_type=FixedType.of(hls_node.get_output_variable().type.precision),
                                   firmware_entries=np.asarray(hls_node.get_weights("weight").data).reshape(-1)
                                   if sparse else None,
                                   inputs=inputs, outputs=outputs))
    return layers
