"""flow's layer on hls4ml 1.3, through its Extension API (no fork): the sparse kernel's layers, pass and
templates, corrections to hls4ml's conversions (distributed_arithmetic on QONNX layers among them),
per-layer projects, the stream top and its FIFO check, and csim.

`register(backend)` adds the layers, passes, templates and kernel source to one backend, once.
"""
from __future__ import annotations

from ..paths import HLS_DIR

KERNEL_SOURCE = HLS_DIR / "nnet_sparse.h"
_registered_backends: set[str] = set()


def register(backend_name: str) -> None:
    if backend_name in _registered_backends:
        return
    from hls4ml.backends import get_backend
    from hls4ml.model.layers import register_layer

    from . import distributed_arithmetic, exact_results, fixes, rescale_types
    from .sparse_layers import SparseConv2D, SparseDense, UseSparseKernels
    from .sparse_templates import TEMPLATES

    backend = get_backend(backend_name)
    register_layer("SparseDense", SparseDense)
    register_layer("SparseConv2D", SparseConv2D)
    for name, optimizer in {**fixes.PASSES, "use_sparse_kernels": UseSparseKernels}.items():
        backend.register_pass(name, optimizer, flow="vivado:optimize")
    exact_results.register()
    fixes.register()
    rescale_types.register()
    distributed_arithmetic.register()
    for template in TEMPLATES:
        backend.register_template(template)
    backend.register_source(KERNEL_SOURCE)
    _registered_backends.add(backend_name)
