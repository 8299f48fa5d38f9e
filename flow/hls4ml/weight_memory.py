"""Per-layer weight memory of a converted hls4ml model, dense vs sparse, against the board budget."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import FlowError
from ..sparse.encoding import choose, code_bits_for, level_table
from ..sparse.memory import Footprint, dense_footprint, entries_storage, sparse_footprint
from .nodes import is_sparse, weight_layers, weight_matrix, weight_matrix_shape, weights_of


@dataclass(frozen=True)
class LayerMemory:
    name: str
    kernel: str  # dense | sparse
    n_in: int
    n_out: int
    nonzeros: int
    weight_bits: int
    pes: int
    index_bits: int
    code_bits: int
    cycles: int  # sparse: entries of the slowest PE per input vector
    rows_per_pe: int
    fillers: int
    entries_storage: str  # bram | lutram: where the sparse kernel's entry ROMs are bound
    dense: Footprint
    sparse: Footprint

    @property
    def chosen(self) -> Footprint:
        return self.sparse if self.kernel == "sparse" else self.dense


def layer_memory(node) -> LayerMemory:
    """The layer's memory as compiled, and what the other kernel would need (one PE when it is dense)."""
    n_in, n_out = weight_matrix_shape(node)
    if is_sparse(node):
        kernel, pes, cycles = "sparse", node.get_attr("sparse_pes"), node.get_attr("sparse_entries")
        index_bits, code_bits = node.get_attr("sparse_index_bits"), node.get_attr("sparse_code_bits")
        weight_bits, nonzeros = node.get_attr("sparse_dense_weight_bits"), node.get_attr("sparse_nonzeros")
        rows_per_pe, fillers = node.get_attr("sparse_rows"), node.get_attr("sparse_fillers")
    else:
        (_, precision), data = weights_of(node), weight_matrix(node)
        choice = choose(data)
        kernel, pes, cycles, index_bits = "dense", choice.pes, choice.cycles, choice.index_bits
        code_bits = code_bits_for(level_table(data))
        weight_bits, nonzeros = int(precision.width), int(np.count_nonzero(data))
        rows_per_pe, fillers = n_out, choice.cycles - int(np.count_nonzero(data))
    row_bits = max(1, int(np.ceil(np.log2(n_out + 1))))
    return LayerMemory(
        name=node.name, kernel=kernel, n_in=int(n_in), n_out=int(n_out), nonzeros=int(nonzeros),
        weight_bits=int(weight_bits), pes=int(pes), index_bits=int(index_bits), code_bits=int(code_bits),
        cycles=int(cycles), rows_per_pe=int(rows_per_pe), fillers=int(fillers),
        entries_storage=entries_storage(pes, cycles, index_bits + code_bits),
        dense=dense_footprint(n_in, n_out, weight_bits),
        sparse=sparse_footprint(pes, cycles, index_bits + code_bits, rows_per_pe, row_bits),
    )


def model_memory(hls_model) -> list[LayerMemory]:
    return [layer_memory(node) for node in weight_layers(hls_model)]


def memory_report(layers: list[LayerMemory], board) -> dict:
    total = Footprint(0, 0, 0)
    for layer in layers:
        total = total + layer.chosen
    budget = board.resources["bram18"]
    return {
        "board": board.name,
        "bram18_budget": budget,
        "total": asdict(total),
        "fits": total.bram18 <= budget,
        "layers": [{**asdict(layer), "chosen": asdict(layer.chosen)} for layer in layers],
    }


def check_fits(layers: list[LayerMemory], board) -> None:
    report = memory_report(layers, board)
    if report["fits"]:
        return
    worst = max(layers, key=lambda layer: layer.chosen.bram18)
    advice = ("prune it harder, use fewer PEs (--sparse-cycles) or fewer bits" if worst.kernel == "sparse"
              else f"prune it and compile it sparse (--sparse {worst.name}), or quantize it to fewer bits")
    raise FlowError(
        f"model does not fit {board.name} on-chip memory: weights need {report['total']['bram18']} BRAM18 of "
        f"{report['bram18_budget']}; the largest is layer {worst.name} ({worst.kernel}, {worst.chosen.bram18} BRAM18): "
        f"{advice}"
    )
