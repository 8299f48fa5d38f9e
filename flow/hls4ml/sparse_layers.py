"""flow's sparse kernel (hls/nnet_sparse.h) as hls4ml layers and an optimizer pass, for the Extension API.

`UseSparseKernels` runs at the end of hls4ml's `optimize` flow, when precisions are final. It
replaces each Dense / Conv2D node named in hls_config["Model"]["SparseKernels"]["select"] by a
SparseDense / SparseConv2D node whose `weight` variable holds the encoded entry words; hls4ml
writes them like any weight array. A layer's entry in `layers` there ({"pes", "index_bits"}) is the
kernel the design chooser picked; other layers take `max_cycles` (or None), the cycle target per
input vector that sets the PE count. `flow.hls4ml.kernel_selection` decides which names to list.
"""
from __future__ import annotations

from hls4ml.model.layers import Conv2D, Dense
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import IntegerPrecisionType, NamedType

from ..errors import FlowError
from ..sparse.encoding import choose, encode
from ..sparse.memory import entries_storage
from .nodes import DENSE_WEIGHT_LAYERS, weight_matrix

SPARSE_KEY = "SparseKernels"


class SparseDense(Dense):
    """A Dense layer computed by nnet::SparseDense; attributes come from the node it replaces."""

    def initialize(self):
        pass


class SparseConv2D(Conv2D):
    """A Conv2D whose per-pixel product is nnet::SparseDense; attributes come from the node it replaces."""

    def initialize(self):
        pass


def sparse_settings(model) -> dict | None:
    return model.config.config["HLSConfig"]["Model"].get(SPARSE_KEY)


class UseSparseKernels(OptimizerPass):
    """Replace the selected Dense / Conv2D nodes by their sparse twins, weights encoded as level codes + indices."""

    def match(self, node):
        settings = sparse_settings(node.model)
        return settings is not None and node.class_name in DENSE_WEIGHT_LAYERS and node.name in settings["select"]

    def transform(self, model, node):
        settings = sparse_settings(model)
        weights, matrix = node.get_weights("weight"), weight_matrix(node)
        try:
            chosen = settings.get("layers", {}).get(node.name)
            if chosen:
                encoding = encode(matrix, chosen["pes"], chosen["index_bits"])
            else:
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
        sparse_node.set_attr("sparse_storage", entries_storage(encoding.pes, encoding.entries_per_pe,
                                                               encoding.entry_bits))
        model.replace_node(node, sparse_node)
        return True
