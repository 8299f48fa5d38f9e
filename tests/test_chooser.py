"""Per-layer candidates (flow/cost/candidates.py) and the design chooser (flow/cost/chooser.py) on the compressed
LeNet-5's layer shapes with seeded masks at its pruned portions: the menu is what hls4ml and flow's encoder can
build, a target is met at the least area a brute force finds, and without one the fastest design that fits."""
import itertools

import numpy as np
import pytest

from flow.boards import load_board
from flow.cost.candidates import layer_candidates, legal_reuse_factors, sparse_candidates
from flow.cost.chooser import choose, shares, used_by
from flow.cost.kernels import UNROLLED, LayerShape
from flow.sparse.encoding import encode

# the compressed LeNet-5's weight layers as its build sees them (estimates.json), kept weights included
LENET5 = (("conv1", 25, 20, 576, 784, 150, 0), ("conv2", 500, 50, 64, 144, 1233, 0),
          ("fc1", 800, 500, 1, None, 1128, 17), ("fc2", 500, 10, 1, None, 300, 2))


def seeded_matrix(n_in: int, n_out: int, kept: int, seed: int) -> np.ndarray:
    generator = np.random.default_rng(seed)
    matrix = np.zeros(n_in * n_out)
    matrix[generator.choice(n_in * n_out, kept, replace=False)] = generator.choice((-3, -2, -1, 1, 2, 3), kept)
    return matrix.reshape(n_in, n_out) / 4


@pytest.fixture(scope="module")
def menus():
    found = {}
    for seed, (name, n_in, n_out, positions, input_positions, kept, packets) in enumerate(LENET5):
        shape = LayerShape(name=name, n_in=n_in, n_out=n_out, positions=positions, input_positions=input_positions,
                           nonzeros=kept, stream_packets=packets, weight_bits=4, input_bits=8, accum_bits=15,
                           output_bits=15)
        found[name] = layer_candidates(shape, seeded_matrix(n_in, n_out, kept, seed), io_type="io_stream")
    return found


def test_the_menu_is_every_kernel_hls4ml_and_the_encoder_build(menus):
    fc2 = menus["fc2"]
    assert [c.reuse_factor for c in fc2 if c.kernel == "resource"] == legal_reuse_factors(500, 10)
    assert [c.reuse_factor for c in fc2 if c.kernel == "latency"] == [1]
    matrix = seeded_matrix(500, 10, 300, 3)
    for candidate in sparse_candidates(LayerShape("fc2", 500, 10, weight_bits=4, input_bits=8), matrix):
        encoding = encode(matrix, candidate.pes, candidate.index_bits)  # the kernel the sparse pass would build
        assert candidate.estimate.interval == encoding.entries_per_pe + encoding.rows.shape[1] + 9, candidate.pes
    assert [c.pes for c in fc2 if c.kernel == "sparse"] == list(range(1, 11))
    assert sparse_candidates(LayerShape("empty", 4, 2), np.zeros((4, 2))) == []


def test_distributed_arithmetic_is_offered_where_hls4ml_can_build_it():
    """hls4ml's DA kernel (da4ml's adder graph at RF 1): no DSP or memory, one output position per cycle like the
    Latency kernel, pruned weights cost nothing; offered only for weights exact in their type (da4ml would take
    an inexact weight's every bit) and where da4ml is installed."""
    pytest.importorskip("da4ml")
    for name, n_in, n_out, positions, input_positions, kept, packets in LENET5:
        shape = LayerShape(name=name, n_in=n_in, n_out=n_out, positions=positions, input_positions=input_positions,
                           stream_packets=packets, weight_bits=4, input_bits=8, accum_bits=15, output_bits=15)
        matrix = seeded_matrix(n_in, n_out, kept, 0)
        menu = layer_candidates(shape, matrix, io_type="io_stream", exact_weights=True)
        (unrolled,), (latency,) = ([c for c in menu if c.kernel == kernel] for kernel in (UNROLLED, "latency"))
        assert unrolled.reuse_factor == 1 and unrolled.estimate.dsp == unrolled.estimate.bram18 == 0, name
        if positions > 1:  # a convolution: the line buffer's pixels; a stream Dense adds its own latency
            assert unrolled.estimate.interval == latency.estimate.interval, name
        halved = matrix * (np.arange(matrix.size).reshape(matrix.shape) % 2)
        (sparser,) = [c for c in layer_candidates(shape, halved, "io_stream", exact_weights=True) if c.kernel == UNROLLED]
        assert sparser.estimate.lut < unrolled.estimate.lut, name
        assert not [c for c in layer_candidates(shape, matrix, "io_stream") if c.kernel == UNROLLED], name
        assert not [c for c in layer_candidates(shape, 0 * matrix, "io_stream", exact_weights=True)
                    if c.kernel == UNROLLED], name


def brute_force(menus, board, target):
    """The least scarcest share (then sum of shares) over every combination within the target."""
    allowed = [[c for c in menu if c.interval <= target] for menu in menus.values()]
    best = None
    for combination in itertools.product(*allowed):
        total = {}
        for candidate in combination:
            for resource, value in used_by(candidate).items():
                total[resource] = total.get(resource, 0) + value
        fractions = shares(total, board)
        score = (max(fractions.values()), sum(fractions.values()))
        best = score if best is None or score < best else best
    return best


def small(menus, per_layer=6):
    """Each layer's candidates thinned to a few, spread over its intervals, so a brute force stays small."""
    thinned = {}
    for name, menu in menus.items():
        ordered = sorted(menu, key=lambda c: c.interval)
        thinned[name] = [ordered[i] for i in np.linspace(0, len(ordered) - 1, per_layer).astype(int)]
    return thinned


@pytest.mark.parametrize("target", [1_000, 3_000, 20_000])
def test_a_target_is_met_at_the_least_area_a_brute_force_finds(menus, target):
    board = load_board("pynq-z2")
    thinned = small(menus)
    design = choose(thinned, board, target_interval=target)
    assert design.interval <= target and all(c.interval <= target for c in design.chosen.values())
    found = (max(shares(design.used, board).values()), sum(shares(design.used, board).values()))
    assert found == pytest.approx(brute_force(thinned, board, target))


def test_without_a_target_the_fastest_design_that_fits_and_a_target_nothing_meets_is_refused(menus):
    board = load_board("pynq-z2")
    design = choose(menus, board, max_utilization=0.8)
    assert design.fits and max(design.utilization.values()) <= 0.8
    thinned = small(menus)
    fastest_small = choose(thinned, board, max_utilization=0.8)
    for interval in sorted({c.interval for menu in thinned.values() for c in menu}):
        if interval >= fastest_small.interval:
            break
        best = brute_force(thinned, board, interval)
        assert best is None or best[0] > 0.8, f"a design at {interval} cycles fits and was not taken"
    assert choose(menus, board, target_interval=10) is None  # conv1's line buffer alone reads 784 pixels
    tight = choose(menus, board, max_utilization=0.001)
    assert tight is None
