"""On-chip memory a layer's weights need, dense or sparse, in BRAM18 and LUTRAM.

Geometry (7-series and UltraScale BRAM18): one block holds 16K x 1, 8K x 2, 4K x 4, 2K x 9,
1K x 18 or 512 x 36 bits; an array takes the aspect ratio that needs the fewest blocks. Arrays
under 1,024 bits go to LUTRAM instead (64 x 1 bits per LUT), as HLS does with small ROMs.
Dense storage is the lower bound of one weight array (hls4ml's Resource strategy splits it further
by reuse factor; its Latency strategy turns the weights into logic).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
LUTRAM_LIMIT_BITS = 1024
LUTRAM_DEPTH = 64


@dataclass(frozen=True)
class Footprint:
    bits: int
    bram18: int
    lutram_luts: int

    def __add__(self, other: "Footprint") -> "Footprint":
        return Footprint(self.bits + other.bits, self.bram18 + other.bram18, self.lutram_luts + other.lutram_luts)


NOTHING = Footprint(0, 0, 0)


def bram18_blocks(depth: int, width: int) -> int:
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18_SHAPES)


def array_footprint(depth: int, width: int, copies: int = 1) -> Footprint:
    """`copies` separate memories (one per PE) of depth x width bits each."""
    depth, width, copies = int(depth), int(width), int(copies)
    bits = depth * width
    if depth == 0 or width == 0:
        return NOTHING
    if bits < LUTRAM_LIMIT_BITS:
        return Footprint(bits * copies, 0, math.ceil(depth / LUTRAM_DEPTH) * width * copies)
    return Footprint(bits * copies, bram18_blocks(depth, width) * copies, 0)


def dense_footprint(n_in: int, n_out: int, weight_bits: int) -> Footprint:
    return array_footprint(n_in * n_out, weight_bits)


def entries_storage(pes: int, entries_per_pe: int, entry_bits: int) -> str:
    """bram or lutram: what the sparse kernel binds its entry ROMs to, as counted here."""
    return "bram" if array_footprint(entries_per_pe, entry_bits, copies=pes).bram18 else "lutram"


def sparse_footprint(pes: int, entries_per_pe: int, entry_bits: int, rows_per_pe: int, row_bits: int) -> Footprint:
    entries = array_footprint(entries_per_pe, entry_bits, copies=pes)
    rows = array_footprint(rows_per_pe, row_bits, copies=pes) if pes > 1 else NOTHING
    return entries + rows
