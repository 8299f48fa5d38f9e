"""hls/nnet_sparse.h wired into hls4ml through its Extension API (no fork of hls4ml).

`UseSparseKernels` runs at the end of hls4ml's `optimize` flow, when precisions are final. It
replaces each selected Dense / Conv2D node by a SparseDense / SparseConv2D node whose `weight`
variable holds the encoded entry words; hls4ml writes them like any weight array. The config
templates point the dense `kernel` slot at nnet::SparseDense, so io_stream convolutions keep
hls4ml's line buffer and only the per-pixel product changes; fully connected layers call
nnet::sparse_dense.

The selection comes from hls_config["Model"]["SparseKernels"]: {"select": "auto" | "all" | "none" | [layer names],
"max_cycles": int or None, "board": board name}; "auto" takes the layers pruned beyond their
break-even portion on that board (flow/breakeven.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FlowError
from .encoding import choose, code_bits_for, encode, level_table

KERNEL_SOURCE = Path(__file__).resolve().parents[2] / "hls" / "nnet_sparse.h"
SPARSE_KEY = "SparseKernels"

_registered_backends: set[str] = set()

sparse_mult_template = """struct config{index}{suffix} : nnet::sparse_dense_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned io_type = nnet::{iotype};
    // not nnet::latency: nnet::dense's wrapper would pipeline the whole kernel, the Entries loop pipelines itself
    static const unsigned strategy = nnet::resource;
    static const unsigned reuse_factor = {reuse};
    static const unsigned n_zeros = 0;
    static const unsigned n_pe = {sparse_pes};
    static const unsigned n_entries = {sparse_entries};
    static const unsigned n_rows = {sparse_rows};
    static const unsigned index_bits = {sparse_index_bits};
    static const unsigned code_bits = {sparse_code_bits};
    typedef {accum_t.name} accum_t;
    typedef {bias_t.name} bias_t;
    typedef {weight_t.name} weight_t;
    typedef {level_t.name} level_t;
    typedef {row_t.name} row_t;
    static const level_t levels[{n_levels}];
    static const row_t rows[{n_row_entries}];
    template<class data_T, class res_T, class CONFIG_T>
    using kernel = nnet::SparseDense<data_T, res_T, CONFIG_T>;
    template<class x_T, class y_T>
    using product = nnet::product::{product_type}<x_T, y_T>;
}};
const config{index}{suffix}::level_t config{index}{suffix}::levels[{n_levels}] = {{{level_values}}};
const config{index}{suffix}::row_t config{index}{suffix}::rows[{n_row_entries}] = {{{row_values}}};
"""


def _sparse_params(node, params: dict, suffix: str) -> dict:
    from hls4ml.backends import get_backend

    levels = node.get_attr("sparse_levels")
    rows = node.get_attr("sparse_row_table")
    params = dict(params)
    params.update(
        suffix=suffix,
        n_levels=len(levels),
        level_values=", ".join(repr(float(v)) for v in levels),
        n_row_entries=len(rows),
        row_values=", ".join(str(int(r)) for r in rows),
        product_type=get_backend("vivado").product_type(
            node.get_input_variable().type.precision, node.get_attr("level_t").precision),
    )
    return params


def _layer_classes():
    from hls4ml.model.layers import Conv2D, Dense

    class SparseDense(Dense):
        """A Dense layer computed by nnet::SparseDense; attributes come from the node it replaces."""

        def initialize(self):
            pass

    class SparseConv2D(Conv2D):
        """A Conv2D whose per-pixel product is nnet::SparseDense; attributes come from the node it replaces."""

        def initialize(self):
            pass

    return SparseDense, SparseConv2D


def weight_matrix_shape(node) -> tuple[int, int]:
    """(n_in, n_out) of a Dense or Conv2D node's weights as the dense kernel sees them (conv: im2col)."""
    if "Dense" in node.class_name:
        return node.get_attr("n_in"), node.get_attr("n_out")
    return node.get_attr("filt_height") * node.get_attr("filt_width") * node.get_attr("n_chan"), node.get_attr("n_filt")


def layer_shape(node):
    """The estimator's view of a Dense / Conv2D node (or its sparse twin)."""
    from ..estimate import LayerShape

    n_in, n_out = weight_matrix_shape(node)
    if node.class_name.startswith("Sparse"):
        nonzeros, weight_bits = node.get_attr("sparse_nonzeros"), node.get_attr("sparse_dense_weight_bits")
    else:
        weights = node.get_weights("weight")
        nonzeros, weight_bits = int(np.count_nonzero(weights.data)), weights.type.precision.width
    dense = "Dense" in node.class_name
    positions = 1 if dense else node.get_attr("out_height") * node.get_attr("out_width")
    input_positions = None if dense else node.get_attr("in_height") * node.get_attr("in_width")
    return LayerShape(name=node.name, n_in=int(n_in), n_out=int(n_out), positions=int(positions),
                      input_positions=input_positions,
                      nonzeros=int(nonzeros), weight_bits=int(weight_bits),
                      input_bits=int(node.get_input_variable().type.precision.width))


def code_bits_of(node) -> int:
    if node.class_name.startswith("Sparse"):
        return int(node.get_attr("sparse_code_bits"))
    return code_bits_for(level_table(node.get_weights("weight").data))


def selected(node, settings: dict) -> bool:
    selection = settings["select"]
    if selection == "all":
        return True
    if selection == "none":
        return False
    if selection == "auto":
        from ..boards import load_board
        from ..breakeven import break_even_portion

        shape = layer_shape(node)
        if shape.nonzeros == 0:
            return False  # nothing to multiply: a pruned-away layer needs no kernel decision
        portion = break_even_portion(shape, load_board(settings["board"]), code_bits_of(node))
        return portion is not None and 1 - shape.nonzeros / shape.weights >= portion
    return node.name in selection


def _make_pass():
    from hls4ml.model.optimizer import OptimizerPass
    from hls4ml.model.types import IntegerPrecisionType, NamedType

    class UseSparseKernels(OptimizerPass):
        def match(self, node):
            settings = node.model.config.config["HLSConfig"]["Model"].get(SPARSE_KEY)
            return (settings is not None and node.class_name in ("Dense", "Conv2D")
                    and selected(node, settings))

        def transform(self, model, node):
            settings = model.config.config["HLSConfig"]["Model"][SPARSE_KEY]
            weights = node.get_weights("weight")
            matrix = weights.data.reshape(weight_matrix_shape(node))  # hls4ml's flat order: input index major
            try:
                choice = choose(matrix, settings.get("max_cycles"))
                encoding = encode(matrix, choice.pes, choice.index_bits)
            except ValueError as exc:
                raise FlowError(f"layer {node.name} cannot use the sparse kernel: {exc}; leave it dense "
                                "(--sparse with other layers, or none) or raise --sparse-cycles") from None
            sparse_node = model.make_node("Sparse" + node.class_name, node.name, node.attributes.attributes.copy(),
                                          node.inputs.copy(), outputs=node.outputs.copy())
            sparse_node.set_attr("strategy", "latency")  # keeps hls4ml's resource-strategy weight transpose away
            sparse_node.set_attr("level_t", NamedType(f"level{sparse_node.index}_t", weights.type.precision))
            sparse_node.set_attr("row_t", NamedType(f"row{sparse_node.index}_t",
                                                    IntegerPrecisionType(width=encoding.row_bits, signed=False)))
            sparse_node.add_weights_variable(
                name="weight", var_name="w{index}", type_name="weight{index}_t",
                precision=IntegerPrecisionType(width=encoding.entry_bits, signed=False),
                data=encoding.entries.reshape(-1))
            sparse_node.set_attr("sparse_pes", encoding.pes)
            sparse_node.set_attr("sparse_entries", encoding.entries_per_pe)
            sparse_node.set_attr("sparse_rows", encoding.rows.shape[1])
            sparse_node.set_attr("sparse_index_bits", encoding.index_bits)
            sparse_node.set_attr("sparse_code_bits", encoding.code_bits)
            sparse_node.set_attr("sparse_nonzeros", encoding.nonzeros)
            sparse_node.set_attr("sparse_fillers", encoding.fillers)
            sparse_node.set_attr("sparse_levels", encoding.levels.tolist())
            sparse_node.set_attr("sparse_row_table", encoding.rows.reshape(-1).tolist())
            sparse_node.set_attr("sparse_dense_weight_bits", int(weights.type.precision.width))
            model.replace_node(node, sparse_node)
            return True

    return UseSparseKernels


def _templates(sparse_dense, sparse_conv2d):
    from hls4ml.backends.template import LayerConfigTemplate
    from hls4ml.backends.vivado.passes.convolution_templates import (
        Conv2DConfigTemplate,
        Conv2DFunctionTemplate,
        conv2d_config_template,
        conv2d_include_list,
    )
    from hls4ml.backends.vivado.passes.core_templates import DenseFunctionTemplate, dense_include_list

    sparse_header = ["nnet_utils/nnet_sparse.h"]

    class SparseDenseConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(sparse_dense)

        def format(self, node):
            return sparse_mult_template.format(**_sparse_params(node, self._default_config_params(node), ""))

    class SparseDenseFunctionTemplate(DenseFunctionTemplate):
        def __init__(self):
            super(DenseFunctionTemplate, self).__init__(sparse_dense, include_header=dense_include_list + sparse_header)
            self.template = "nnet::sparse_dense<{input_t}, {output_t}, {config}>({input}, {output}, {w}, {b});"

    class SparseConv2DConfigTemplate(Conv2DConfigTemplate):
        def __init__(self):
            super(Conv2DConfigTemplate, self).__init__(sparse_conv2d)
            self.template = conv2d_config_template
            self.mult_template = None

        def format(self, node):
            # Conv2DConfigTemplate fills mult_template with its own mult parameters (n_in, n_out, ...)
            self.mult_template = _BoundMultTemplate(node)
            return super().format(node)

    class SparseConv2DFunctionTemplate(Conv2DFunctionTemplate):
        def __init__(self):
            super(Conv2DFunctionTemplate, self).__init__(sparse_conv2d, include_header=conv2d_include_list + sparse_header)
            self.template = "nnet::conv_2d_{data_format}<{input_t}, {output_t}, {config}>({input}, {output}, {w}, {b});"

    return [SparseDenseConfigTemplate, SparseDenseFunctionTemplate, SparseConv2DConfigTemplate,
            SparseConv2DFunctionTemplate]


class _BoundMultTemplate:
    """Stands in for Conv2DConfigTemplate.mult_template: formats the sparse mult config of one node."""

    def __init__(self, node):
        self.node = node

    def format(self, **params):
        return sparse_mult_template.format(**_sparse_params(self.node, params, "_mult"))


def register(backend_name: str) -> None:
    """Register the layers, the pass, the templates and the kernel source with one hls4ml backend, once."""
    if backend_name in _registered_backends:
        return
    from hls4ml.backends import get_backend
    from hls4ml.model.layers import register_layer

    backend = get_backend(backend_name)
    sparse_dense, sparse_conv2d = _layer_classes()
    register_layer("SparseDense", sparse_dense)
    register_layer("SparseConv2D", sparse_conv2d)
    backend.register_pass("use_sparse_kernels", _make_pass(), flow="vivado:optimize")
    for template in _templates(sparse_dense, sparse_conv2d):
        backend.register_template(template)
    backend.register_source(KERNEL_SOURCE)
    _registered_backends.add(backend_name)
