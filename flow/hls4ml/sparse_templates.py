"""Config and function templates of the sparse layers (flow.hls4ml.sparse_layers) for hls4ml's Vivado backends.

The config templates point the dense `kernel` slot at nnet::SparseDense, so io_stream convolutions
keep hls4ml's line buffer and only the per-pixel product changes; fully connected layers call
nnet::sparse_dense.
"""
from __future__ import annotations

from hls4ml.backends import get_backend
from hls4ml.backends.template import LayerConfigTemplate
from hls4ml.backends.vivado.passes.convolution_templates import (
    Conv2DConfigTemplate,
    Conv2DFunctionTemplate,
    conv2d_config_template,
    conv2d_include_list,
)
from hls4ml.backends.vivado.passes.core_templates import DenseFunctionTemplate, dense_include_list

from .sparse_layers import SparseConv2D, SparseDense

SPARSE_HEADER = ["nnet_utils/nnet_sparse.h"]

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
    static const unsigned n_levels = {n_levels};
    static const unsigned storage = nnet::sparse_{sparse_storage};
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

def sparse_params(node, params: dict, suffix: str) -> dict:
    """`params` plus what sparse_mult_template needs: level and row tables, product type, name suffix."""
    levels = node.get_attr("sparse_levels")
    rows = node.get_attr("sparse_row_table")
    params = dict(params)
    params.update(
        suffix=suffix,
        n_levels=max(1, len(levels)),  # an all-zero layer has no level; C++ has no empty arrays
        level_values=", ".join(repr(float(v)) for v in levels) or "0.0",
        n_row_entries=len(rows),
        row_values=", ".join(str(int(r)) for r in rows),
        product_type=get_backend("vivado").product_type(
            node.get_input_variable().type.precision, node.get_attr("level_t").precision),
    )
    return params


class SparseDenseConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(SparseDense)

    def format(self, node):
        return sparse_mult_template.format(**sparse_params(node, self._default_config_params(node), ""))


class SparseDenseFunctionTemplate(DenseFunctionTemplate):
    def __init__(self):
        # DenseFunctionTemplate's own __init__ would bind the template to hls4ml's Dense
        super(DenseFunctionTemplate, self).__init__(SparseDense, include_header=dense_include_list + SPARSE_HEADER)
        self.template = "nnet::sparse_dense<{input_t}, {output_t}, {config}>({input}, {output}, {w}, {b});"


class BoundMultTemplate:
    """Stands in for Conv2DConfigTemplate.mult_template: formats the sparse mult config of one node."""

    def __init__(self, node):
        self.node = node

    def format(self, **params):
        return sparse_mult_template.format(**sparse_params(self.node, params, "_mult"))


class SparseConv2DConfigTemplate(Conv2DConfigTemplate):
    def __init__(self):
        super(Conv2DConfigTemplate, self).__init__(SparseConv2D)
        self.template = conv2d_config_template
        self.mult_template = None

    def _default_config_params(self, node):
        params = super()._default_config_params(node)
        # hls4ml's line buffer pipelines its pixel loop at II = reuse factor under nnet::latency, which
        # would unroll the entries walk; under nnet::resource each pixel calls the kernel, whose own
        # loops are pipelined. The node itself stays `latency`: hls4ml transposes resource weights.
        params["strategy"] = "resource"
        return params

    def format(self, node):
        # Conv2DConfigTemplate fills mult_template with its own mult parameters (n_in, n_out, ...)
        self.mult_template = BoundMultTemplate(node)
        return super().format(node)


class SparseConv2DFunctionTemplate(Conv2DFunctionTemplate):
    def __init__(self):
        super(Conv2DFunctionTemplate, self).__init__(SparseConv2D, include_header=conv2d_include_list + SPARSE_HEADER)
        self.template = "nnet::conv_2d_{data_format}<{input_t}, {output_t}, {config}>({input}, {output}, {w}, {b});"


TEMPLATES = (SparseDenseConfigTemplate, SparseDenseFunctionTemplate, SparseConv2DConfigTemplate,
             SparseConv2DFunctionTemplate)
