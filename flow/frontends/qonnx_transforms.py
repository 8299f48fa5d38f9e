"""QONNX graph rewrites the flow needs beyond qonnx's own, one rewrite per class."""
from __future__ import annotations

import numpy as np
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
