"""The sparse weight format of hls/nnet_sparse.h: level codes plus relative indices, per PE.

A layer is a matrix W[n_in, n_out] (hls4ml's weight layout; a convolution's im2col matrix).
Output rows are dealt to P processing elements so that their nonzero counts are balanced
(longest-processing-time first). Each PE walks its own rows in order and lists its nonzeros by
position `local_row * n_in + input`; every entry is one word `(code << k) | gap`:

- gap g < 2**k - 1: advance g + 1 positions, the weight there is `levels[code]`;
- gap 2**k - 1 (all ones, a filler): advance 2**k - 1 positions, no weight.

Codes never stand for zero (zero means pruned), so a filler costs its k index bits and no
weight bits; its code field is still stored, because the entry word has a fixed width.
PEs with fewer entries are padded with fillers to the longest PE: P PEs take that many cycles.

k is at most log2(n_in + 1), so no advance (at most 2**k - 1) is longer than a row: the kernel
tracks (row, column) with one compare and subtract per entry instead of dividing by n_in.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

MAX_INDEX_BITS = 16
MAX_CODE_BITS = 8  # entry words go through hls4ml's text weight files as floats: k + n <= 24 stays exact


@dataclass(frozen=True)
class SparseEncoding:
    n_in: int
    n_out: int
    index_bits: int
    code_bits: int
    levels: np.ndarray  # code -> weight value, ascending
    rows: np.ndarray  # [pes, rows_per_pe] output row of each local row; n_out marks padding
    entries: np.ndarray  # [pes, entries_per_pe] packed (code << index_bits) | gap
    nonzeros: int

    @property
    def pes(self) -> int:
        return self.rows.shape[0]

    @property
    def entries_per_pe(self) -> int:
        return self.entries.shape[1]

    @property
    def fillers(self) -> int:
        return int(np.sum((self.entries & filler_gap(self.index_bits)) == filler_gap(self.index_bits)))

    @property
    def row_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.n_out + 1)))

    @property
    def entry_bits(self) -> int:
        return self.index_bits + self.code_bits

    @property
    def cycles(self) -> int:
        """Entries the slowest PE walks per input vector (one per cycle at II=1)."""
        return self.entries_per_pe


def filler_gap(index_bits: int) -> int:
    return 2**index_bits - 1


def max_index_bits(n_in: int) -> int:
    """The widest gap field whose longest advance, 2**k - 1 positions, stays within one row of n_in."""
    return min(MAX_INDEX_BITS, max(1, int(n_in + 1).bit_length() - 1))


def level_table(matrix: np.ndarray) -> np.ndarray:
    return np.unique(matrix[matrix != 0]).astype(np.float64)


def code_bits_for(levels: np.ndarray) -> int:
    return max(1, math.ceil(math.log2(max(len(levels), 1))))


def assign_rows(row_nonzeros: np.ndarray, pes: int) -> list[list[int]]:
    """Deal rows to PEs, heaviest first, each to the PE with the fewest nonzeros so far."""
    heap = [(0, pe) for pe in range(pes)]
    owned: list[list[int]] = [[] for _ in range(pes)]
    for row in np.argsort(-row_nonzeros, kind="stable"):
        load, pe = heapq.heappop(heap)
        owned[pe].append(int(row))
        heapq.heappush(heap, (load + int(row_nonzeros[row]), pe))
    return [sorted(rows) for rows in owned]


def pe_positions(mask: np.ndarray, owned_rows: list[int]) -> np.ndarray:
    """Positions (local_row * n_in + input) of one PE's nonzeros, ascending."""
    if not owned_rows:
        return np.zeros(0, dtype=np.int64)
    local = mask[:, owned_rows].T  # [local_row, input]
    return np.flatnonzero(local.reshape(-1))


def relative_index_cost(positions: np.ndarray, index_bits: int) -> tuple[int, int]:
    """(entries, fillers) that list ascending `positions` with `index_bits`-bit gaps."""
    gaps = np.diff(np.concatenate([[-1], positions])) - 1
    fillers = int(np.sum(gaps // filler_gap(index_bits)))
    return len(positions) + fillers, fillers


def encode(matrix: np.ndarray, pes: int, index_bits: int) -> SparseEncoding:
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"expected a [n_in, n_out] matrix, got shape {matrix.shape}")
    if not 1 <= index_bits <= MAX_INDEX_BITS:
        raise ValueError(f"index_bits must be 1..{MAX_INDEX_BITS}, got {index_bits}")
    n_in, n_out = matrix.shape
    if index_bits > max_index_bits(n_in):
        raise ValueError(f"index_bits {index_bits} would let one entry advance past a whole row of {n_in} inputs "
                         f"(at most {max_index_bits(n_in)})")
    if not 1 <= pes <= n_out:
        raise ValueError(f"pes must be 1..n_out ({n_out}), got {pes}")
    levels = level_table(matrix)
    code_bits = code_bits_for(levels)
    if code_bits > MAX_CODE_BITS:
        raise ValueError(f"{len(levels)} distinct weight values need {code_bits}-bit codes (at most {MAX_CODE_BITS}); "
                         "quantize the layer first")
    mask = matrix != 0
    owned = assign_rows(mask.sum(axis=0), pes)
    step = filler_gap(index_bits)
    streams = []
    for rows in owned:
        positions = pe_positions(mask, rows)
        words, cursor = [], -1
        for position in positions:
            gap = position - cursor - 1
            words.extend([step] * int(gap // step))
            row, column = divmod(int(position), n_in)
            code = int(np.searchsorted(levels, matrix[column, rows[row]]))
            words.append((code << index_bits) | int(gap % step))
            cursor = int(position)
        streams.append(words)
    longest = max(1, max(len(words) for words in streams))
    entries = np.full((pes, longest), step, dtype=np.int64)
    for pe, words in enumerate(streams):
        entries[pe, :len(words)] = words
    widest = max(len(rows) for rows in owned)
    row_table = np.full((pes, widest), n_out, dtype=np.int64)
    for pe, rows in enumerate(owned):
        row_table[pe, :len(rows)] = rows
    return SparseEncoding(n_in=n_in, n_out=n_out, index_bits=index_bits, code_bits=code_bits, levels=levels,
                          rows=row_table, entries=entries, nonzeros=int(mask.sum()))


def decode(encoding: SparseEncoding) -> np.ndarray:
    """The dense [n_in, n_out] matrix back, walking entries exactly as the HLS kernel does:
    a (row, column) counter per PE, at most one row step per entry."""
    matrix = np.zeros((encoding.n_in, encoding.n_out), dtype=np.float64)
    step = filler_gap(encoding.index_bits)
    for pe in range(encoding.pes):
        row, column = 0, -1
        for word in encoding.entries[pe]:
            gap = int(word) & step
            column += step if gap == step else gap + 1
            if column >= encoding.n_in:
                column -= encoding.n_in
                row += 1
            if column >= encoding.n_in:
                raise ValueError(f"an entry of PE {pe} advances more than one row")
            if gap != step:
                matrix[column, encoding.rows[pe, row]] = encoding.levels[int(word) >> encoding.index_bits]
    return matrix


@dataclass(frozen=True)
class SparseChoice:
    pes: int
    index_bits: int
    cycles: int
    total_bits: int


def storage_bits(entries_per_pe: int, pes: int, entry_bits: int, rows_per_pe: int, row_bits: int) -> int:
    """Bits the PE memories hold: entry words plus the row tables (level table and biases not counted)."""
    row_table = pes * rows_per_pe * row_bits if pes > 1 else 0  # one PE walks rows in order: no table
    return pes * entries_per_pe * entry_bits + row_table


def choose(matrix: np.ndarray, max_cycles: int | None = None, max_pes: int = 64) -> SparseChoice:
    """The (P, k) with the fewest stored bits whose slowest PE needs at most `max_cycles` entries.

    Without a cycle target P is 1: the smallest memory. Raises ValueError when even `max_pes`
    PEs miss the target.
    """
    matrix = np.asarray(matrix)
    mask = matrix != 0
    n_out = matrix.shape[1]
    code_bits = code_bits_for(level_table(matrix))
    row_bits = max(1, math.ceil(math.log2(n_out + 1)))
    best = None
    for pes in range(1, min(max_pes, n_out) + 1) if max_cycles is not None else [1]:
        owned = assign_rows(mask.sum(axis=0), pes)
        positions = [pe_positions(mask, rows) for rows in owned]
        rows_per_pe = max(len(rows) for rows in owned)
        for index_bits in range(1, max_index_bits(matrix.shape[0]) + 1):
            cycles = max(1, max(relative_index_cost(p, index_bits)[0] for p in positions))
            if max_cycles is not None and cycles > max_cycles:
                continue
            bits = storage_bits(cycles, pes, index_bits + code_bits, rows_per_pe, row_bits)
            if best is None or bits < best.total_bits:
                best = SparseChoice(pes=pes, index_bits=index_bits, cycles=cycles, total_bits=bits)
    if best is None:
        raise ValueError(f"no PE count up to {max_pes} reaches {max_cycles} cycles")
    return best
