"""QONNX graph rewrites the flow needs beyond qonnx's own, one rewrite per class."""
from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.transformation.base import Transformation


class AddZeroBiasToGemm(Transformation):
    """Give bias-free Gemm nodes an explicit zero bias.

    qonnx's GemmToMatMul reads the optional third input unconditionally, so Brevitas
    QuantLinear(bias=False) exports crash it; a zero C keeps the maths unchanged.
    """

    def apply(self, model):
        changed = False
        for node in model.graph.node:
            if node.op_type == "Gemm" and len(node.input) == 2:
                n_out = model.get_tensor_shape(node.output[0])[-1]
                bias_name = model.make_new_valueinfo_name()
                model.set_initializer(bias_name, np.zeros(n_out, dtype=np.float32))
                node.input.append(bias_name)
                changed = True
        return model, changed


QUANT_OPS = ("Quant", "BipolarQuant", "Trunc")
QONNX_DOMAIN = "qonnx.custom_op.general"


class QuantOpsToQonnxDomain(Transformation):
    """Give Quant, BipolarQuant and Trunc nodes exported in the default ONNX domain (older Brevitas exports, e.g.
    MLPerf Tiny's KWS model) qonnx's domain, and a Quant without `rounding_mode` the spec's default, ROUND.

    qonnx finds a custom op's implementation by its node's domain, so a default-domain Quant cannot execute, and
    hls4ml's QONNX frontend reads `rounding_mode` unconditionally.
    """

    def apply(self, model):
        changed = False
        for node in model.graph.node:
            if node.op_type in QUANT_OPS and node.domain == "":
                node.domain = QONNX_DOMAIN
                changed = True
            if node.op_type == "Quant" and not any(a.name == "rounding_mode" for a in node.attribute):
                node.attribute.append(helper.make_attribute("rounding_mode", "ROUND"))
                changed = True
        if changed and not any(opset.domain == QONNX_DOMAIN for opset in model.model.opset_import):
            model.model.opset_import.append(helper.make_opsetid(QONNX_DOMAIN, 1))
        return model, False


class RemoveOutputSoftmax(Transformation):
    """Drop a Softmax that writes the graph's output, so the model outputs its logits.

    hls4ml's softmax reads exp and 1/x tables, so no csim of it equals qonnx's float softmax to the bit; the
    argmax is the same without it, and a host applies the softmax to the board's outputs where it needs
    probabilities. `removed` lists the node names.
    """

    def __init__(self):
        super().__init__()
        self.removed = []

    def apply(self, model):
        output = model.graph.output[0]
        node = model.find_producer(output.name)
        if node is None or node.op_type != "Softmax" or len(model.graph.output) != 1:
            return model, False
        logits = node.input[0]
        output_info = helper.make_tensor_value_info(logits, output.type.tensor_type.elem_type, None)
        output_info.type.CopyFrom(output.type)  # softmax keeps its input's shape
        for info in [info for info in model.graph.value_info if info.name == logits]:
            model.graph.value_info.remove(info)  # a graph output carries its own value info
        model.graph.node.remove(node)
        model.graph.output.remove(output)
        model.graph.output.append(output_info)
        self.removed.append(node.name or node.op_type)
        return model, False


class RemoveNoOpNodes(Transformation):
    """Remove Identity and Dropout nodes (Dropout is the identity at inference), rewiring their consumers.

    qonnx's RemoveIdentityOps removes these too, but also Mul/Div by values within 1e-5 of one and Add/Sub of
    near-zeros, which changes a model's results; this removes only nodes that compute nothing by definition.
    `removed` lists the node names.
    """

    def __init__(self):
        super().__init__()
        self.removed = []

    def apply(self, model):
        from qonnx.transformation.remove import remove_node_and_rewire

        for node in model.graph.node:
            if node.op_type in ("Identity", "Dropout") and not model.is_join_node(node):
                remove_node_and_rewire(model, node)
                self.removed.append(node.name or node.op_type)
                return model, True
        return model, False


class RemoveReluBeforeUnsignedQuant(Transformation):
    """Remove a Relu whose only consumer is an unsigned Quant with zero point 0: the Quant's clip to [0, max]
    already maps every negative input to 0, whatever its rounding mode, so the Relu changes no value.

    Without it hls4ml keeps the Relu between a batch norm and the Quant's input rescale, as a node whose
    output type (the default precision) cuts the fraction bits the rescale needs, and the two rescales cannot
    merge into one. `removed` lists the node names.
    """

    def __init__(self):
        super().__init__()
        self.removed = []

    def apply(self, model):
        from qonnx.transformation.remove import remove_node_and_rewire

        for node in model.graph.node:
            if node.op_type != "Relu" or model.is_join_node(node) or node.output[0] in {
                    out.name for out in model.graph.output}:
                continue
            consumers = model.find_consumers(node.output[0])
            if len(consumers) == 1 and _unsigned_zero_point_quant(model, consumers[0]):
                remove_node_and_rewire(model, node)
                self.removed.append(node.name or node.op_type)
                return model, True
        return model, False


def _unsigned_zero_point_quant(model, node) -> bool:
    if node.op_type != "Quant":
        return False
    signed = next((a.i for a in node.attribute if a.name == "signed"), 1)
    zero_point = model.get_initializer(node.input[2])
    return not signed and zero_point is not None and not np.any(zero_point)
