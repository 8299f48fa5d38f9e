"""Layers' result types set by flow (exact, or narrowed to a stream word), given after hls4ml's fusions.

hls4ml's FuseBatchNormalization merges a BatchNormalization / ApplyAlpha (QONNX's bias Add, a
rescale) into the Dense or Conv before it only while that layer's output type is unspecified. A
result type pinned in the layer's config is set when the layer is created, before the fusion, so it
would keep the bias add as a node of its own, with a FIFO and the weight layer's zero biases.
flow's result types therefore travel in hls_config["Model"]["ExactResults"] (hls4ml layer name ->
precision), and this pass gives them to their layers in hls4ml's `convert` flow, after the fusion
passes and before `infer_precision_types`.

Contract: a listed layer gets its type unless the single node after it would still be fused into
it; no node is added or removed. `unapplied` names the listed layers a converted model does not
have at their type, for the caller to refuse.
"""
from __future__ import annotations

from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.optimizer.passes.bn_fuse import FuseBatchNormalization

from .flows import insert_pass

EXACT_RESULTS_KEY = "ExactResults"
PASS_NAME = "flow:pin_exact_results"
FLOW = "convert"
INFERENCE_PASS = "infer_precision_types"


def exact_results(model) -> dict[str, str]:
    return model.config.config["HLSConfig"]["Model"].get(EXACT_RESULTS_KEY, {})


def wanted_precision(model, name: str):
    return model.config.backend.convert_precision_string(exact_results(model)[name])


def fused_into(node) -> bool:
    """Whether hls4ml's FuseBatchNormalization would still merge the node after this one into it."""
    after = node.get_output_nodes()
    return len(after) == 1 and FuseBatchNormalization().match(after[0])


class PinExactResults(OptimizerPass):
    """Give each layer listed in hls_config["Model"]["ExactResults"] that result type, once nothing more fuses
    into it."""

    def match(self, node):
        if node.name not in exact_results(node.model) or not node.outputs:
            return False
        current = node.get_output_variable().type.precision
        return current != wanted_precision(node.model, node.name) and not fused_into(node)

    def transform(self, model, node):
        node.types["result_t"].precision = wanted_precision(model, node.name)
        return False  # types only: the graph is unchanged


def unapplied(model) -> list[str]:
    """The ExactResults layers the converted model lacks or has at another type (a fusion hls4ml refused late)."""
    layers = {node.name: node for node in model.get_layers()}
    return [name for name in exact_results(model)
            if name not in layers or layers[name].get_output_variable().type.precision != wanted_precision(model, name)]


def register() -> None:
    """Register the pass once, for every backend, just before the precision inference of hls4ml's convert flow
    (which only fills in types still unspecified)."""
    insert_pass(FLOW, PASS_NAME, PinExactResults, before=INFERENCE_PASS)
