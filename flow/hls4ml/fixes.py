"""Corrections to hls4ml 1.3 conversions, as optimizer passes for its Extension API."""
from __future__ import annotations

from hls4ml.model.optimizer import OptimizerPass


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


PASSES = {"per_element_scale_index": PerElementScaleIndex}
