"""Every kernel a weight layer can be built with, each with its whole-layer estimate: the chooser's menu.

Per layer (flow/cost/kernels.py prices each at the HLS level, per inference through the layer):
- hls4ml's Latency strategy at reuse factor 1: every product unrolled, constant zero products gone;
- hls4ml's Resource strategy at each reuse factor hls4ml accepts for the layer
  (FPGABackend.get_valid_reuse_factors): weights in a ROM, zeros stored and multiplied;
- hls4ml's distributed_arithmetic strategy (da4ml's adder graph of the constant weights, RF 1, no
  DSP; zero weights cost nothing), where da4ml is installed (the `rtl` extra) and the layer's
  weights are exact in its weight type (da4ml takes the weights as given, not as the type rounds them);
- flow's sparse kernel (hls/nnet_sparse.h) at each PE count up to MAX_PES: the entries of the
  layer's own mask dealt to the PEs as the encoder deals them (flow/sparse/encoding.py), at the
  index width that makes the slowest PE's walk shortest.

Not on the menu: hls4ml's ResourceUnrolled strategy, whose interval hls4ml 1.3's own Vitis backend
does not promise (its ValidateResourceUnrolledStrategy pass warns "may have unexpected II"), and
every board here builds with the Vitis backend.

Example::

    menu = layer_candidates(shape, matrix, io_type="io_parallel")
    fastest = min(menu, key=lambda candidate: candidate.interval)   # Latency at RF 1
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace

import numpy as np

from ..sparse.encoding import (MAX_CODE_BITS, assign_rows, code_bits_for, level_table, max_index_bits,
                               pe_positions, relative_index_cost)
from .kernels import (UNROLLED, DenseKernel, Estimate, LayerShape, SparseKernel, estimate_dense, estimate_sparse,
                      estimate_unrolled)

MAX_PES = 64  # the sparse pass's own limit (flow/sparse/encoding.py: choose)
KERNELS = ("latency", "resource", UNROLLED, "sparse")


@dataclass(frozen=True)
class Candidate:
    """One way to build one layer: `kernel` (one of KERNELS) at `reuse_factor` (dense) or `pes` (sparse)."""

    layer: str
    kernel: str
    estimate: Estimate
    reuse_factor: int = 1
    pes: int = 0
    index_bits: int = 0
    line_buffer: dict | None = None  # resources of the convolution's line buffer, where `estimate` leaves it out

    def uses(self, resource: str) -> int:
        """The candidate's `resource` (dsp, bram18, lut, ff, lutram) with its line buffer, HLS level."""
        return getattr(self.estimate, resource) + (self.line_buffer or {}).get(resource, 0)

    @property
    def interval(self) -> int:
        return self.estimate.interval

    @property
    def label(self) -> str:
        if self.kernel == "sparse":
            return f"sparse P={self.pes}"
        return self.kernel if self.kernel == UNROLLED else f"{self.kernel} RF={self.reuse_factor}"

    def to_json(self) -> dict:
        return {"kernel": self.kernel, "reuse_factor": self.reuse_factor, "pes": self.pes,
                "index_bits": self.index_bits, "estimate": self.estimate.to_json(),
                **({"line_buffer": self.line_buffer} if self.line_buffer else {})}


def legal_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """The reuse factors hls4ml builds a dense layer of n_in x n_out at without changing them."""
    from hls4ml.backends import get_backend

    return get_backend("Vitis").get_valid_reuse_factors(n_in, n_out)


def dense_candidates(shape: LayerShape, io_type: str) -> list[Candidate]:
    latency = DenseKernel(reuse_factor=1, strategy="latency", io_type=io_type)
    found = [Candidate(shape.name, "latency", estimate_dense(shape, latency))]
    for reuse_factor in legal_reuse_factors(shape.n_in, shape.n_out):
        kernel = DenseKernel(reuse_factor=reuse_factor, strategy="resource", io_type=io_type)
        found.append(Candidate(shape.name, "resource", estimate_dense(shape, kernel), reuse_factor=reuse_factor))
    return found


def da4ml_installed() -> bool:
    return importlib.util.find_spec("da4ml") is not None


def unrolled_candidates(shape: LayerShape, matrix: np.ndarray, io_type: str, exact_weights: bool) -> list[Candidate]:
    """hls4ml's distributed_arithmetic at RF 1, where it can be built: da4ml installed, weights exact, some kept."""
    if not (exact_weights and np.any(matrix) and da4ml_installed()):
        return []
    shape = replace(shape, nonzeros=int(np.count_nonzero(matrix)))
    return [Candidate(shape.name, UNROLLED, estimate_unrolled(shape, io_type))]


def sparse_kernels(matrix: np.ndarray, max_pes: int = MAX_PES) -> list[SparseKernel]:
    """Per PE count, the kernel whose slowest PE walks the fewest entries (on a tie, the narrower index)."""
    mask = np.asarray(matrix) != 0
    n_in, n_out = mask.shape
    code_bits = code_bits_for(level_table(np.asarray(matrix)))
    kernels = []
    for pes in range(1, min(max_pes, n_out) + 1):
        owned = assign_rows(mask.sum(axis=0), pes)
        positions = [pe_positions(mask, rows) for rows in owned]
        entries, index_bits = min((max(1, max(relative_index_cost(p, bits)[0] for p in positions)), bits)
                                  for bits in range(1, max_index_bits(n_in) + 1))
        kernels.append(SparseKernel(pes=pes, entries=entries, rows=max(len(rows) for rows in owned),
                                    index_bits=index_bits, code_bits=code_bits))
    return kernels


def sparse_candidates(shape: LayerShape, matrix: np.ndarray, max_pes: int = MAX_PES) -> list[Candidate]:
    if not np.any(matrix):
        return []  # nothing to multiply: the dense kernels' constant zero output is the whole layer
    if code_bits_for(level_table(np.asarray(matrix))) > MAX_CODE_BITS:
        return []  # too many distinct weights for the entry words: an unquantized layer stays dense
    shape = replace(shape, nonzeros=int(np.count_nonzero(matrix)))
    return [Candidate(shape.name, "sparse", estimate_sparse(shape, kernel), pes=kernel.pes,
                      index_bits=kernel.index_bits) for kernel in sparse_kernels(matrix, max_pes)]


def layer_candidates(shape: LayerShape, matrix: np.ndarray, io_type: str, max_pes: int = MAX_PES,
                     exact_weights: bool = False, sparse: bool = True) -> list[Candidate]:
    """Every candidate of the layer whose weights are `matrix` (n_in x n_out, zeros pruned); `exact_weights`: each
    weight is exactly representable in the layer's weight type (the distributed_arithmetic candidate needs it);
    `sparse`: the sparse kernel may compute the layer (not hls4ml's xnor layers)."""
    return (dense_candidates(shape, io_type) + unrolled_candidates(shape, matrix, io_type, exact_weights)
            + (sparse_candidates(shape, matrix, max_pes) if sparse else []))
