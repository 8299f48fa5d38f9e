"""hls4ml 1.3's `distributed_arithmetic` strategy (da4ml's adder graphs) for layers converted from QONNX.

hls4ml's DistributedArithmeticCodegen finds a layer's producer by the name of its input tensor
(bit_exact.get_input_layers), to see whether it is an HGQ FixedPointQuantizer. Keras names a
layer's output after the layer; QONNX names it after the node's output (`Relu_2_out0`), so the
pass stops on an assertion for every layer but those after a node hls4ml inserted itself (the
zero padding before a convolution).

This pass runs just before it and writes the same kernel for those layers: the weights as
constants, the input at its variable's type in every position (what hls4ml uses when the
producer is not a FixedPointQuantizer, which a QONNX model never has), hls4ml's own solver
options, its Vitis flavor and its stream wrapper. hls4ml's pass then skips the layer, as it
skips any that has `da_codegen`, and its templates call the kernel.

Contract: only layers set to distributed_arithmetic, without `da_codegen`, whose producer hls4ml
cannot find by name; sets `da_codegen` and `da_kernel_cost`, changes nothing else.

hls4ml's DA template then deletes a Dense layer's weights (its kernel holds them as constants);
KeepDistributedArithmeticWeights keeps a copy first, as plain data under KEPT_WEIGHTS (not a weight
variable, so no weight file is written for it), for flow's reports (flow/hls4ml/nodes.py: weights_of).
"""
from __future__ import annotations

import os

import numpy as np
from hls4ml.model.optimizer import OptimizerPass

from .flows import insert_pass

PASS_NAME = "flow:distributed_arithmetic_inputs"
KEEP_PASS_NAME = "flow:keep_distributed_arithmetic_weights"
KEPT_WEIGHTS = "flow_kept_weights"  # (weights as hls4ml held them, their precision)
FLOW = "vivado:optimize"
CODEGEN_PASS = "vivado:distributed_arithmetic_codegen"
HLS4ML_HARD_DC = 2  # hls4ml's default adder-depth slack (its DA_HARD_DC environment variable overrides it)


def producer_found(node) -> bool:
    """Whether hls4ml's own lookup finds the node's producer (bit_exact.get_input_layers)."""
    from hls4ml.model.optimizer.passes.bit_exact import rm_cpy

    name = node.inputs[0]
    copy = rm_cpy.match(name)  # io_stream's clones feed <tensor>_cpy<i>: hls4ml looks up <tensor>
    return name in node.model.graph or (copy is not None and copy.group("name") in node.model.graph)


class DistributedArithmeticInputs(OptimizerPass):
    """Write the da4ml kernel of a distributed_arithmetic layer whose input tensor is not named after its
    producer, with its input at the input variable's type."""

    def match(self, node):
        from hls4ml.model.layers import Conv1D, Conv2D, Dense

        return (node.get_attr("strategy", None) == "distributed_arithmetic" and "da_codegen" not in node.attributes
                and isinstance(node, (Dense, Conv1D, Conv2D)) and not producer_found(node))

    def transform(self, model, node):
        from da4ml.codegen.hls import hls_logic_and_bridge_gen
        from da4ml.trace import FixedVariableArray, HWConfig, comb_trace
        from hls4ml.backends.vivado.passes.distributed_arithmetic import add_kernel_wrapper
        from hls4ml.model.types import Source

        kernel = node.attributes["weight"].data
        kernel = kernel.reshape(-1, kernel.shape[-1])  # Dense (n_in, n_out), Conv (filter..., n_chan, n_filt)
        n_in, n_out = kernel.shape
        precision = node.get_input_variable().type.precision
        signed = int(precision.signed)
        kif = [np.full(n_in, value) for value in (signed, precision.integer - signed,
                                                  precision.width - precision.integer)]
        options = {"hard_dc": int(os.environ.get("DA_HARD_DC", HLS4ML_HARD_DC)), "search_all_decompose_dc": True}
        inputs = FixedVariableArray.from_kif(*kif, HWConfig(1, -1, -1), solver_options=options)
        outputs = inputs @ kernel
        if node.attributes["bias"] is not None:
            outputs += node.attributes["bias"].data.ravel()
        logic = comb_trace(inputs, outputs)
        name = f"dense_da_{node.index}"
        code, _ = hls_logic_and_bridge_gen(logic, name, "vitis", pragmas=["#pragma HLS INLINE"], print_latency=True)
        if model.config.get_config_value("IOType") != "io_parallel":
            code += "\n\n" + add_kernel_wrapper(node.index, n_in, n_out)
        node.set_attr("da_kernel_cost", logic.cost)
        node.set_attr("da_codegen", Source(code))
        return False  # attributes only: the graph is unchanged


class KeepDistributedArithmeticWeights(OptimizerPass):
    """Keep a distributed_arithmetic layer's weights and their precision as plain data, before hls4ml's template
    deletes them."""

    def match(self, node):
        return (node.get_attr("strategy", None) == "distributed_arithmetic" and "weight" in node.attributes
                and node.get_attr(KEPT_WEIGHTS) is None)

    def transform(self, model, node):
        weights = node.get_weights("weight")
        node.set_attr(KEPT_WEIGHTS, (np.array(weights.data, copy=True), weights.type.precision))
        return False


def register() -> None:
    """Run both passes just before hls4ml's DA codegen, for every backend, once."""
    insert_pass(FLOW, KEEP_PASS_NAME, KeepDistributedArithmeticWeights, before=CODEGEN_PASS)
    insert_pass(FLOW, PASS_NAME, DistributedArithmeticInputs, before=CODEGEN_PASS)
