"""The estimator against yosys: flow's RTL forms of each layer (flow/rtl), counted by synth_xilinx.

A point is one weight layer with both forms measured (records of the rtl step or of
bench/rtl_calibration.py): the unrolled constant-weight product (da4ml's adder graph, pipelined)
and flow's sparse kernel.

Two levels, never mixed in one fit:
- "hls": what Vitis HLS builds. The unrolled form is scored as hls4ml's Latency kernel at RF 1
  (dense_terms), the sparse one by sparse_terms, with HLS_LEVEL's coefficients (fitted to HLS
  C-synthesis reports, or each term counted once where no report exists);
- "gate": what yosys makes of flow's own Verilog, before placement and routing. The unrolled form
  is scored as an adder graph (unrolled_terms), the sparse one by sparse_terms, with GATE_LEVEL's
  coefficients, fitted here: per kernel and resource, the smallest median relative error
  (calibration.fit_terms).
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

import numpy as np

from .calibration import fit_terms, relative_error
from .kernels import (GATE_LEVEL, HLS_LEVEL, DenseKernel, LayerShape, SparseKernel, dense_terms, sparse_terms,
                      unrolled_terms, weighted)

KERNELS = ("dense_constant", "sparse")
QUANTITIES = ("lut", "ff")
LATENCY_RF1 = DenseKernel(reuse_factor=1, strategy="latency", io_type="io_parallel")


@dataclass(frozen=True)
class GatePoint:
    """One layer's shape and sparse kernel as the estimator sees them, and yosys' figures for both forms."""

    id: str
    origin: str  # the shipped model it comes from, or "seeded"
    shape: LayerShape
    sparse: SparseKernel
    level_bits: int
    measured: dict  # kernel -> {lut, ff, carry, dsp, bram18, lutram}
    spec: dict | None = None  # a seeded layer's LayerSpec (flow/rtl/seeded_layers.py), to rebuild it

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict) -> "GatePoint":
        return cls(**{**record, "shape": LayerShape(**record["shape"]), "sparse": SparseKernel(**record["sparse"])})


def _width(kif) -> int:
    return int(sum(kif))


def point_from_records(dense: dict, sparse: dict, origin: str) -> GatePoint:
    """The point of one layer's two records (rtl/summary.json rows: the same layer, both forms)."""
    shape = LayerShape(name=dense["name"], n_in=dense["n_in"], n_out=dense["n_out"],
                       nonzeros=dense["nonzero_weights"], weight_bits=_width(dense["weight_type"]),
                       input_bits=_width(dense["input_type"]), accum_bits=_width(dense["accum_type"]),
                       output_bits=_width(dense["result_type"]))
    kernel = SparseKernel(pes=sparse["pes"], entries=sparse["entries_per_pe"], rows=sparse["rows_per_pe"],
                          index_bits=sparse["index_bits"], code_bits=sparse["code_bits"])
    return GatePoint(id=f"{origin}/{dense['name']}", origin=origin, shape=shape, sparse=kernel,
                     level_bits=_width(dense["weight_type"]),
                     measured={"dense_constant": dense["yosys"], "sparse": sparse["yosys"]}, spec=dense.get("spec"))


COEFFICIENTS = {"hls": HLS_LEVEL, "gate": GATE_LEVEL}


def terms(point: GatePoint, kernel: str, level: str = "gate") -> tuple[dict, dict]:
    """The structural LUT and FF terms of `kernel` for the point at `level`."""
    if kernel == "sparse":
        return sparse_terms(point.shape, point.sparse, point.level_bits)
    return unrolled_terms(point.shape) if level == "gate" else dense_terms(point.shape, LATENCY_RF1)


def estimates(point: GatePoint, level: str = "gate", coefficients: dict | None = None) -> dict:
    """kernel -> {lut, ff}: the point's estimate at `level`, with that level's coefficients unless given."""
    coefficients = coefficients or COEFFICIENTS[level]
    return {kernel: {quantity: weighted(found, coefficients[kernel][quantity])
                     for quantity, found in zip(QUANTITIES, terms(point, kernel, level))} for kernel in KERNELS}


def errors(points: list[GatePoint], level: str = "gate", coefficients: dict | None = None) -> list[dict]:
    """Per point and kernel: estimate, yosys' figure and relative error for LUT and FF."""
    rows = []
    for point in points:
        estimated = estimates(point, level, coefficients)
        for kernel in KERNELS:
            row = {"id": point.id, "origin": point.origin, "kernel": kernel}
            for quantity in QUANTITIES:
                estimate, reported = estimated[kernel][quantity], point.measured[kernel][quantity]
                row[quantity] = {"estimate": estimate, "reported": reported,
                                 "error": round(relative_error(estimate, reported), 4)}
            rows.append(row)
    return rows


def medians_by_kernel(rows: list[dict]) -> dict:
    return {kernel: {q: round(statistics.median(r[q]["error"] for r in rows if r["kernel"] == kernel), 4)
                     for q in QUANTITIES} for kernel in KERNELS}


def percentile90_by_kernel(rows: list[dict]) -> dict:
    return {kernel: {q: round(float(np.quantile([r[q]["error"] for r in rows if r["kernel"] == kernel], 0.9)), 4)
                     for q in QUANTITIES} for kernel in KERNELS}


def fit(points: list[GatePoint]) -> dict:
    """GATE_LEVEL's coefficients: per kernel and resource, the terms' fit to yosys' figures."""
    fitted = {}
    for kernel in KERNELS:
        found = [terms(point, kernel) for point in points]  # (lut, ff) per point
        fitted[kernel] = {quantity: fit_terms([pair[index] for pair in found],
                                              [point.measured[kernel][quantity] for point in points])
                          for index, quantity in enumerate(QUANTITIES)}
    return fitted
