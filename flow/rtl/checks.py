"""A layer's RTL form checked: verilator against QONNX's vectors bit for bit, and yosys' cell count."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import FlowError
from . import adder_graph, verilator, yosys
from .layers import LayerVectors


def fields(values: np.ndarray, fraction: int, what: str) -> np.ndarray:
    """values x 2^fraction as integers; FlowError where a value is off that grid."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0 ** fraction
    if not np.array_equal(scaled, np.round(scaled)):
        raise FlowError(f"{what} holds values off its type's grid of 2^-{fraction}")
    return np.round(scaled).astype(np.int64)


def check_constant_layer(layer: LayerVectors, folder: Path, family: str) -> dict:
    """Write layer's constant-weight form into `folder`, run it on the layer's QONNX vectors, synthesize it.

    The record summary.json keeps for it: yosys' resources and cells, whether verilator reproduced every
    QONNX output bit for bit (and the largest difference in the result type's LSBs), the vectors run."""
    written = adder_graph.write_constant_layer(layer, folder)
    with ThreadPoolExecutor(max_workers=1) as background:  # yosys on one core while verilator builds on the other
        logic = tuple(source for source in written.sources if source.name != f"{written.top}.v")
        synthesized = background.submit(yosys.synthesize, logic, written.core, family, folder)
        simulator = verilator.build(written.sources, written.top, written.inputs, written.outputs, folder / "verilator")
        answers = verilator.simulate(simulator, written.inputs,
                                     fields(layer.inputs, written.inputs.fraction, f"layer {layer.name}'s QONNX input"),
                                     written.outputs)
        cells = synthesized.result()
    values = answers * 2.0 ** -written.outputs.fraction  # exact in float64: every port is under 53 bits
    return {"kernel": "dense_constant", "form": "da4ml adder graph, combinational, one vector per cycle",
            "yosys": {name: cells[name] for name in ("lut", "ff", "carry", "dsp", "bram18", "lutram")},
            "yosys_cells": cells["cells"], "da4ml_luts": written.da4ml_luts,
            "verilator_bit_exact": bool(np.array_equal(values, layer.outputs)),
            "max_diff_lsb": float(np.abs(values - layer.outputs).max(initial=0.0) * 2.0 ** layer.result_type.fraction),
            "vectors": int(len(values)), "cycles_per_vector": 1,
            "ports": {"inputs": written.inputs.to_json(), "outputs": written.outputs.to_json()},
            "folder": str(folder.relative_to(folder.parents[1]))}
