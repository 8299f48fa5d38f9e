"""Weight layers' exact result types, given after hls4ml has fused what follows them.

hls4ml's FuseBatchNormalization merges a BatchNormalization / ApplyAlpha (QONNX's bias Add, a
rescale) into the Dense or Conv before it only while that layer's output type is unspecified. A
result type pinned in the layer's config is set when the layer is created, before the fusion, so it
would keep the bias add as a node of its own, with a FIFO and the weight layer's zero biases.
The exact result types (flow/hls4ml/accumulators.py) therefore travel in
hls_config["Model"]["ExactResults"] (hls4ml layer name -> precision) and this pass gives them to
their layers in hls4ml's `convert` flow, after the fusion passes and before `infer_precision_types`.

Contract: a listed layer gets its type unless the single node after it would still be fused into
it; no node is added or removed.
"""
from __future__ import annotations

from hls4ml.model.flow import get_flow, update_flow
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.optimizer.passes.bn_fuse import FuseBatchNormalization

EXACT_RESULTS_KEY = "ExactResults"
FLOW = "convert"
INFERENCE_PASS = "infer_precision_types"


def exact_results(model) -> dict[str, str]:
    return model.config.config["HLSConfig"]["Model"].get(EXACT_RESULTS_KEY, {})


def consumers(model, node) -> list:
    return [other for other in model.graph.values() if node.outputs[0] in other.inputs]


def fused_into(model, node) -> bool:
    """Whether hls4ml's FuseBatchNormalization would still merge the node after this one into it."""
    after = consumers(model, node)
    return len(after) == 1 and FuseBatchNormalization().match(after[0])


class PinExactResults(OptimizerPass):
    """Give each layer listed in hls_config["Model"]["ExactResults"] that result type, once nothing more fuses
    into it."""

    def match(self, node):
        wanted = exact_results(node.model).get(node.name)
        current = node.get_output_variable().type.precision if node.outputs else None
        return wanted is not None and str(current) != wanted and not fused_into(node.model, node)

    def transform(self, model, node):
        precision = model.config.backend.convert_precision_string(exact_results(model)[node.name])
        node.types["result_t"].precision = precision
        return False  # types only: the graph is unchanged


def add_to_convert_flow(pass_name: str) -> None:
    """Put the registered pass into hls4ml's convert flow just before the precision inference, which only fills
    in types still unspecified."""
    optimizers = get_flow(FLOW).optimizers
    if pass_name in optimizers:
        return
    later = optimizers[optimizers.index(INFERENCE_PASS):]
    update_flow(FLOW, remove_optimizers=later)
    update_flow(FLOW, add_optimizers=[pass_name, *later])
