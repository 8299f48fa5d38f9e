"""A layer's RTL form checked: verilator against QONNX's vectors bit for bit, and yosys' cell count."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..cost.kernels import dsp_per_product
from ..errors import FlowError
from ..sparse.encoding import encode
from . import adder_graph, folded_kernel, sparse_kernel, verilator, yosys
from .adder_graph import ADDER_LEVELS_PER_STAGE
from .layers import FormNotBuilt, LayerVectors, grid_integers


def layer_fields(layer: LayerVectors) -> dict:
    """What summary.json records of a layer beside its forms: shape, kept weights, and the types as (sign,
    integer, fraction) bits."""
    return {"name": layer.name, "n_in": layer.shape[0], "n_out": layer.shape[1],
            "nonzero_weights": int(np.count_nonzero(layer.weights)),
            **{f"{role}_type": getattr(layer, f"{role}_type").kif for role in ("input", "weight", "accum", "result")}}


def check_constant_layer(layer: LayerVectors, folder: Path, family: str) -> dict:
    """Write layer's constant-weight form into `folder`, run it on the layer's QONNX vectors, synthesize it.

    The record summary.json keeps for it: yosys' resources and cells, whether verilator reproduced every
    QONNX output bit for bit (and the largest difference in the result type's LSBs), the vectors run."""
    written = adder_graph.write_constant_layer(layer, folder)
    logic = tuple(source for source in written.sources if source.name != f"{written.top}.v")
    answers, _, cells = _simulate_and_synthesize(layer, written, logic, written.core, folder, family,
                                                 latency=written.latency)
    return {"kernel": "dense_constant", "form": f"da4ml adder graph, pipelined every {ADDER_LEVELS_PER_STAGE} adder "
                                                f"levels, one vector per cycle",
            **_verdict(layer, answers, written.outputs), **_cells(cells), "yosys_options": "",
            "da4ml_luts": written.da4ml_luts, "da4ml_ffs": written.da4ml_ffs, "cycles_per_vector": 1,
            "latency_cycles": written.latency,
            "ports": {"inputs": written.inputs.to_json(), "outputs": written.outputs.to_json()},
            "folder": str(folder.relative_to(folder.parents[1]))}


def check_sparse_layer(layer: LayerVectors, pes: int, index_bits: int, storage: str, folder: Path,
                       family: str) -> dict:
    """Encode layer at (pes, index_bits) as the build's encoder does, write flow's sparse kernel for it into
    `folder`, run it on the layer's QONNX vectors (counting each vector's cycles), synthesize it.

    The product goes to a DSP or to LUTs as flow's cost model puts it (kernels.dsp_per_product). Where the
    layer is built sparse, its entry words must be the project's own."""
    written, encoding = write_sparse_form(layer, pes, index_bits, storage, folder)
    product_in_luts = _product_in_luts(layer)
    limit = 4 * (written.entries + written.rows) + 16  # far past the schedule: a vector that reaches it hung
    options = yosys.NO_DSP if product_in_luts else ""
    answers, cycles, cells = _simulate_and_synthesize(layer, written, written.sources, written.top, folder, family,
                                                      options=options, in_port="data", out_port="res",
                                                      cycle_limit=limit)
    verdict = _verdict(layer, answers, written.outputs)
    hung = int(np.sum(cycles >= limit))  # done never rose: the outputs are whatever res held
    if hung:
        verdict["verilator_bit_exact"] = False
    return {"kernel": "sparse", "form": f"flow's sparse kernel, {pes} PE(s), {index_bits}-bit indices, "
                                        f"{encoding.code_bits}-bit codes, entries in {storage}",
            **verdict, "hung_vectors": hung, **_cells(cells), "yosys_options": options,
            "cycles_per_vector": int(cycles.max(initial=0)), "pes": pes, "index_bits": index_bits,
            "code_bits": encoding.code_bits, "entries_per_pe": written.entries, "rows_per_pe": written.rows, "entries_match_project": layer.firmware_entries is not None,
            "folder": str(folder.relative_to(folder.parents[1]))}


def check_folded_layer(layer: LayerVectors, folding: folded_kernel.Folding, folder: Path, family: str) -> dict:
    """Write layer's dense folded form (flow/rtl/folded_kernel.py) at `folding` into `folder`, run it on the layer's
    vectors (counting each vector's cycles), synthesize it; the product goes where the cost model puts it."""
    written = write_folded_form(layer, folding, folder)
    product_in_luts = _product_in_luts(layer)
    limit = 2 * written.steps + 16  # far past the schedule: a vector that reaches it hung
    options = yosys.NO_DSP if product_in_luts else ""
    answers, cycles, cells = _simulate_and_synthesize(layer, written, written.sources, written.top, folder, family,
                                                      options=options, in_port="data", out_port="res",
                                                      cycle_limit=limit)
    verdict = _verdict(layer, answers, written.outputs)
    hung = int(np.sum(cycles >= limit))
    if hung:
        verdict["verilator_bit_exact"] = False
    return {"kernel": "dense_folded", "form": f"dense folded kernel, PE {folding.pe}, SIMD {folding.simd}, "
                                              f"weights in {written.storage}",
            **verdict, "hung_vectors": hung, **_cells(cells), "yosys_options": options,
            "cycles_per_vector": int(cycles.max(initial=0)), "pe": folding.pe, "simd": folding.simd,
            "steps": written.steps, "folder": str(folder.relative_to(folder.parents[1]))}


def write_sparse_form(layer: LayerVectors, pes: int, index_bits: int, storage: str, folder: Path):
    """Encode layer at (pes, index_bits) and write flow's sparse kernel for it into `folder`: (written, encoding)."""
    try:
        encoding = encode(layer.weights, pes, index_bits)
    except ValueError as exc:
        raise FormNotBuilt(f"the sparse encoding does not take this layer: {exc}") from None
    if layer.firmware_entries is not None and not np.array_equal(encoding.entries.reshape(-1), layer.firmware_entries):
        raise FlowError(f"layer {layer.name}: the encoder's entries differ from the project's; rebuild with "
                        "flow compile --from-step hls4ml")
    written = sparse_kernel.write_sparse_layer(encoding, layer.bias, layer.input_type, layer.weight_type,
                                               layer.accum_type, layer.result_type, storage, folder,
                                               _product_in_luts(layer))
    return written, encoding


def write_folded_form(layer: LayerVectors, folding: folded_kernel.Folding, folder: Path) -> folded_kernel.FoldedLayerRTL:
    """Write layer's dense folded form at `folding` into `folder`."""
    return folded_kernel.write_folded_layer(layer.weights, layer.bias, folding, layer.input_type, layer.weight_type,
                                            layer.accum_type, layer.result_type, folder, _product_in_luts(layer))


def _product_in_luts(layer: LayerVectors) -> bool:
    """Whether flow's cost model puts the layer's products in LUTs rather than DSPs (kernels.dsp_per_product)."""
    return dsp_per_product(layer.weight_type.width, layer.input_type.width) == 0


def _simulate_and_synthesize(layer: LayerVectors, written, logic: tuple[Path, ...], core: str, folder: Path,
                             family: str, options: str = "", **testbench) -> tuple[np.ndarray, np.ndarray, dict]:
    """Verilate the written form's top and run it on layer's QONNX inputs while yosys synthesizes `core` from
    `logic` (with `options`) on the other core: the integer outputs, each vector's cycles, the cells."""
    with ThreadPoolExecutor(max_workers=1) as background:
        synthesized = background.submit(yosys.synthesize, logic, core, family, folder, options)
        simulator = verilator.build(written.sources, written.top, written.inputs, written.outputs, folder / "verilator",
                                    **testbench)
        answers, cycles = verilator.simulate(simulator, grid_integers(layer.inputs, written.inputs.fraction,
                                                                      f"layer {layer.name}'s QONNX input"),
                                             written.outputs, cwd=folder)
        return answers, cycles, synthesized.result()


def _verdict(layer: LayerVectors, answers: np.ndarray, outputs) -> dict:
    values = answers * 2.0 ** -outputs.fraction  # exact in float64: every port is under 53 bits
    return {"verilator_bit_exact": bool(np.array_equal(values, layer.outputs)),
            "max_diff_lsb": float(np.abs(values - layer.outputs).max(initial=0.0) * 2.0 ** layer.result_type.fraction),
            "vectors": int(len(values))}


def _cells(cells: dict) -> dict:
    return {"yosys": {name: cells[name] for name in ("lut", "ff", "carry", "dsp", "bram18", "lutram")},
            "yosys_cells": cells["cells"]}
