"""Corrections to hls4ml 1.3 conversions, as optimizer passes registered through its Extension API."""
from __future__ import annotations

_registered_backends: set[str] = set()


def _per_element_scale_index_pass():
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

    return PerElementScaleIndex


def register(backend_name: str) -> None:
    if backend_name in _registered_backends:
        return
    from hls4ml.backends import get_backend

    get_backend(backend_name).register_pass("per_element_scale_index", _per_element_scale_index_pass(),
                                            flow="vivado:optimize")
    _registered_backends.add(backend_name)
