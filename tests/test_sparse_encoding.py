"""The sparse weight format (flow/sparse/encoding.py) and its on-chip memory accounting."""
import itertools

import numpy as np
import pytest

from flow.sparse.encoding import choose, decode, encode, filler_gap, max_index_bits, relative_index_cost
from flow.sparse.memory import bram18_blocks, dense_footprint, sparse_footprint


def levelled_matrix(rng, shape, sparsity, bits=3):
    half = 2 ** (bits - 1)
    codes = rng.integers(1, half + 1, size=shape) * rng.choice([-1, 1], size=shape)
    matrix = codes * 0.125
    matrix[rng.random(shape) < sparsity] = 0
    return matrix


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("pes,index_bits", [(1, 1), (1, 4), (3, 2), (7, 5), (13, 5)])
def test_round_trip_across_sparsity_pes_and_widths(sparsity, pes, index_bits):
    matrix = levelled_matrix(np.random.default_rng(int(sparsity * 1000) + pes), (60, 40), sparsity)
    encoding = encode(matrix, pes, index_bits)
    assert np.array_equal(decode(encoding), matrix)
    assert encoding.nonzeros == np.count_nonzero(matrix)
    # every output row belongs to exactly one PE
    rows = encoding.rows[encoding.rows < encoding.n_out]
    assert sorted(rows.tolist()) == list(range(40))


def test_all_zero_rows_columns_and_whole_matrix():
    matrix = levelled_matrix(np.random.default_rng(1), (20, 12), 0.3)
    matrix[:, [0, 5, 11]] = 0  # outputs with no weights
    matrix[[2, 3, 19], :] = 0  # inputs no output uses
    for pes in (1, 2, 5):
        assert np.array_equal(decode(encode(matrix, pes, 3)), matrix)
    empty = encode(np.zeros((8, 4)), 2, 3)
    assert empty.nonzeros == 0 and np.array_equal(decode(empty), np.zeros((8, 4)))


def test_single_nonzero_far_away_needs_exactly_the_counted_fillers():
    matrix = np.zeros((100, 30))
    matrix[77, 29] = -0.5  # position 29 * 100 + 77 = 2977 with one PE
    for index_bits in (1, 2, 3, 5, 6):
        encoding = encode(matrix, 1, index_bits)
        expected_fillers = 2977 // filler_gap(index_bits)
        assert encoding.fillers == expected_fillers
        assert encoding.entries_per_pe == expected_fillers + 1
        assert relative_index_cost(np.array([2977]), index_bits) == (expected_fillers + 1, expected_fillers)
        assert np.array_equal(decode(encoding), matrix)


def test_gap_exactly_at_the_filler_boundary():
    for index_bits in (1, 2, 3):
        step = filler_gap(index_bits)
        for zeros in (step - 1, step, step + 1, 2 * step):
            matrix = np.zeros((zeros + 2, 1))
            matrix[0, 0], matrix[zeros + 1, 0] = 1.0, -1.0
            encoding = encode(matrix, 1, index_bits)
            assert encoding.fillers == zeros // step
            assert np.array_equal(decode(encoding), matrix)


def test_pes_get_balanced_nonzeros():
    rng = np.random.default_rng(3)
    matrix = levelled_matrix(rng, (64, 50), 0.0)
    matrix[:, :25][rng.random((64, 25)) < 0.9] = 0  # half the rows much sparser than the rest
    encoding = encode(matrix, 5, 6)
    counts = ((encoding.entries & filler_gap(6)) != filler_gap(6)).sum(axis=1)  # kept weights per PE
    assert counts.max() - counts.min() <= np.abs(matrix).astype(bool).sum(axis=0).max()
    assert counts.max() <= 1.1 * np.count_nonzero(matrix) / 5 + 64


def test_choose_minimises_bits_under_the_cycle_target_like_brute_force():
    matrix = levelled_matrix(np.random.default_rng(4), (30, 16), 0.8)
    for target in (None, 200, 60, 25):
        choice = choose(matrix, target, max_pes=16)
        candidates = []
        for pes, index_bits in itertools.product(range(1, 17) if target else [1], range(1, max_index_bits(30) + 1)):
            encoding = encode(matrix, pes, index_bits)
            if target is None or encoding.cycles <= target:
                rows = encoding.rows.shape[1] * encoding.row_bits * pes if pes > 1 else 0
                candidates.append(pes * encoding.cycles * encoding.entry_bits + rows)
        assert choice.total_bits == min(candidates)
        assert target is None or choice.cycles <= target
    with pytest.raises(ValueError, match="reaches 1 cycles"):
        choose(matrix, 1, max_pes=4)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="index_bits"):
        encode(np.eye(3), 1, 0)
    with pytest.raises(ValueError, match="pes"):
        encode(np.eye(3), 4, 2)
    with pytest.raises(ValueError, match="quantize the layer first"):
        encode(np.arange(1, 301, dtype=float).reshape(30, 10), 1, 4)


def test_bram18_geometry():
    assert bram18_blocks(16384, 1) == 1
    assert bram18_blocks(512, 36) == 1
    assert bram18_blocks(1024, 18) == 1
    assert bram18_blocks(1000, 20) == 2  # 1K x 18 needs two for 20 bits; 512 x 36 needs two for 1000 deep
    assert bram18_blocks(2048, 9) == 1 and bram18_blocks(2048, 10) == 2
    # LeNet-5 fc1 dense at 3 bits: 16K x 1 blocks, 25 deep x 3 wide = 75 (4K x 4 would take 98)
    assert dense_footprint(800, 500, 3).bram18 == bram18_blocks(400000, 3) == 75
    small = sparse_footprint(1, 10, 8, 10, 4)
    assert small.bram18 == 0 and small.lutram_luts == 8  # 80 bits: LUTRAM, 64 deep x 1 per LUT
    four = sparse_footprint(4, 1000, 13, 100, 9)  # row tables of 900 bits each: LUTRAM
    assert four.bram18 == 4 * bram18_blocks(1000, 13) and four.lutram_luts == 4 * 2 * 9


@pytest.mark.parametrize("n_in", [1, 2, 7, 8, 25, 500])
def test_no_entry_advances_more_than_one_row(n_in):
    """The kernel steps (row, column) with one compare and subtract: every advance must be at most n_in."""
    k = max_index_bits(n_in)
    assert filler_gap(k) <= n_in < filler_gap(k + 1)
    with pytest.raises(ValueError, match="past a whole row"):
        encode(np.ones((n_in, 3)), 1, k + 1)
    matrix = levelled_matrix(np.random.default_rng(n_in), (n_in, 12), 0.97)
    matrix[:, 4:9] = 0  # whole empty rows: fillers must cross them one row at a time
    choice = choose(matrix, max_cycles=None)
    assert choice.index_bits <= k
    for pes in (1, 3):
        encoding = encode(matrix, pes, k)
        gaps = encoding.entries & filler_gap(k)
        advances = np.where(gaps == filler_gap(k), filler_gap(k), gaps + 1)
        assert advances.max() <= n_in
        assert np.array_equal(decode(encoding), matrix)
