"""Break-even pruning (paper Fig. 4) per target rate from the estimator, and its use in a real build of the compressed
LeNet-5."""
from dataclasses import replace

import numpy as np
import pytest

from flow.boards import load_board
from flow.cost.breakeven import (PORTIONS, Comparison, KernelCosts, break_even_curve, expected_entries,
                                 rate_break_even)
from flow.cost.kernels import DenseKernel, LayerShape, estimate_dense
from flow.sparse.encoding import relative_index_cost

CONV2 = LayerShape("conv2", n_in=500, n_out=50, positions=64, weight_bits=4, input_bits=16)


@pytest.mark.parametrize("pruned, index_bits", [(0.5, 2), (0.9, 4), (0.96, 6), (0.997, 9)])
def test_expected_entries_match_the_encoder_on_random_masks(pruned, index_bits):
    rng = np.random.default_rng(0)
    size = 400_000
    positions = np.flatnonzero(rng.random(size) >= pruned)
    entries, _ = relative_index_cost(positions, index_bits)
    assert entries == pytest.approx(expected_entries(len(positions), pruned, index_bits), rel=0.03)


def test_curve_rises_with_pruning_and_crosses_one_at_the_break_even_portion():
    """Against one dense kernel at its own share of the board (the rtl bench's comparison)."""
    board = load_board("pynq-z2")
    curve = break_even_curve(CONV2, board, DenseKernel(reuse_factor=50, strategy="resource"), code_bits=3)
    speedups = [s for s in curve.speedups if s > 0]
    assert speedups == sorted(speedups)  # more pruning never makes the sparse layer slower
    assert curve.portions == PORTIONS and 0 < curve.break_even_portion < 0.99
    assert curve.break_even_ratio == pytest.approx(1 / (1 - curve.break_even_portion))
    below = max(p for p in PORTIONS if p < curve.break_even_portion)
    above = min(p for p in PORTIONS if p >= curve.break_even_portion)
    assert curve.speedups[PORTIONS.index(below)] < 1 <= curve.speedups[PORTIONS.index(above)]


def test_break_even_per_rate_is_the_first_portion_where_the_sparse_kernel_is_smaller():
    """At rates only the unrolled dense kernels reach, never; at slow ones the sparse kernel's one accumulator
    beats hls4ml Resource's n_out registered ones even unpruned (always); between, a first crossing."""
    board = load_board("pynq-z2")
    found = rate_break_even(CONV2, board, code_bits=3, intervals=(1_000, 16_000))
    assert [rate.interval for rate in found.rates] == sorted(rate.interval for rate in found.rates)
    assert found.rates[0].break_even_portion is None and found.rates[-1].break_even_portion == 0.0
    costs = KernelCosts(CONV2, board, code_bits=3, level_bits=4)
    middle = found.at(16_000)
    assert 0.1 < middle < 0.99
    assert costs.sparse_wins(middle, 16_000) and not costs.sparse_wins(middle - 2e-4, 16_000)
    assert not any(costs.sparse_wins(p, 16_000) for p in PORTIONS if p < middle)
    assert found.break_even_portion == min(r.break_even_portion for r in found.rates if r.break_even_portion is not None)
    assert found.to_json()["rates"][0] == {"interval": found.rates[0].interval, "fps": found.rates[0].fps,
                                            "break_even_portion": None}


def test_distributed_arithmetic_as_a_dense_candidate_moves_the_break_even_up_where_dsps_decide():
    """hls4ml's DA adder graph loses pruned weights as the sparse kernel does and builds its products without DSPs.
    With 12-bit weights, whose Latency products go to DSPs, DA among the dense candidates means the sparse kernel
    needs at least as much pruning at every rate: at 1,280 cycles, where it won beyond about 98% against Latency
    and Resource, it never wins; at 3,200 it needs more. With 4-bit weights (LUT products either way, DA priced at
    the Latency kernel's FFs) nothing moves."""
    board = load_board("pynq-z2")
    rates = (1_280, 3_200, 6_400, 16_000)
    wide = replace(CONV2, weight_bits=12)
    without, with_unrolled = (rate_break_even(wide, board, code_bits=3, level_bits=12, intervals=rates,
                                              unrolled=unrolled) for unrolled in (False, True))
    for interval in rates:
        before, after = without.at(interval), with_unrolled.at(interval)
        assert after is None or (before is not None and after >= before), interval
    assert 0.9 < without.at(1_280) < 0.99 and with_unrolled.at(1_280) is None
    assert with_unrolled.at(3_200) > without.at(3_200)
    narrow = [rate_break_even(CONV2, board, code_bits=3, intervals=rates, unrolled=unrolled).rates
              for unrolled in (False, True)]
    assert narrow[0] == narrow[1]


def test_the_comparison_is_capped_at_the_board_and_counts_flip_flops():
    """Only candidates that fit the board count, and FFs are one of its resources: on a board a twentieth the
    size the sparse kernel must fit too, so it needs more pruning at 16,000 cycles; with a fifth of the FFs the
    dense kernels' registered accumulators no longer fit at 64,000 cycles, and the sparse kernel wins unpruned."""
    from dataclasses import replace

    board = load_board("pynq-z2")

    def at(interval, **scale):
        scaled = replace(board, resources={name: int(value * scale.get(name, 1))
                                           for name, value in board.resources.items()})
        return rate_break_even(CONV2, scaled, code_bits=3, intervals=(interval,)).at(interval)

    assert at(16_000) < 0.6 < at(16_000, **{name: 1 / 20 for name in board.resources})
    assert at(64_000) > 0.5 and at(64_000, ff=1 / 5) == 0.0


def test_sparse_kernel_gets_the_dense_layers_share_of_the_board():
    board = load_board("pynq-z2")
    dense = estimate_dense(CONV2, DenseKernel(reuse_factor=500, strategy="resource"))
    share = max(dense.dsp / 220, dense.lut / 53200, dense.bram18 / 280)

    def at(budget):
        return Comparison(CONV2, board, code_bits=3, level_bits=4, budget=budget, dense_latency=dense.latency)

    kernel, sparse = at(share).sparse_at_budget(0.96)
    assert max(sparse.dsp / 220, sparse.lut / 53200, sparse.bram18 / 280) <= share
    assert at(share * 4).sparse_at_budget(0.96)[0].pes > kernel.pes  # a bigger budget buys more PEs
    assert at(1e-6).sparse_at_budget(0.96) is None


def test_estimator_error_against_real_hls_reports(shared_dir):
    """Median relative error at the HLS C-synthesis level (latency, DSP, BRAM18) over 60 real hls4ml layers,
    at the shipped constants and when each report set is held out of the fit; the shipped constants are the fit.
    LUT and FF: tests/test_estimates.py."""
    from conftest import REPO
    from flow.cost.calibration import GRID_QUANTITIES, errors, fit_grid, leave_one_group_out, load_points, medians
    from flow.cost.kernels import CALIBRATED

    points = load_points(REPO / "bench" / "calibration_layers.yaml", shared_dir / "reference")
    assert len(points) >= 50 and len({p.group for p in points}) >= 10
    assert all(error <= 0.25 for error in medians(errors(points), GRID_QUANTITIES).values())
    assert all(error <= 0.25 for error in leave_one_group_out(points, fit_grid, GRID_QUANTITIES).values())
    assert fit_grid(points) == CALIBRATED, "refit: run python bench/estimator_calibration.py and update CALIBRATED"


def test_synthesis_reports_correct_the_estimates_before_the_decision(shared_dir):
    """The real-report path: reported / estimated factors from real hls4ml Resource-strategy layers
    (Vivado HLS 2020.1, jet MLP on xc7z020) scale the dense estimates, and the break-even moves with them."""
    from flow.cost.breakeven import Corrections
    from flow.reports.hls import read_hls_reports
    from flow.cost.build_estimates import corrections_from, reported

    report = read_hls_reports(shared_dir / "reference" / "hls_reports" / "jet_mlp_16-64-32-32-5_keras_z7020_pynq_vhls2020_gabriele")
    layers = {2: (16, 64, 8), 5: (64, 32, 32), 8: (32, 32, 16), 11: (32, 5, 16)}  # config index: n_in, n_out, reuse
    synthesized = []
    for index, (n_in, n_out, reuse) in layers.items():
        estimate = estimate_dense(LayerShape(f"fc{index}", n_in, n_out), DenseKernel(reuse, "resource"))
        figures = reported(report.layers()[index])
        assert figures["latency"] == report.layers()[index].latency[1] and figures["dsp"] == estimate.dsp
        synthesized.append(("dense", estimate, figures))
    corrections = corrections_from(synthesized)
    factor = corrections.factors["dense"]["latency"]
    assert factor > 1  # these reports are slower than the estimate: 21 vs 10, 37 vs 34, 21 vs 18, 21 vs 18 cycles
    assert corrections.factors["dense"]["dsp"] == 1.0 and "sparse" not in corrections.factors
    board = load_board("pynq-z2")
    dense = DenseKernel(reuse_factor=50, strategy="resource")
    plain, corrected = (break_even_curve(CONV2, board, dense), break_even_curve(CONV2, board, dense,
                                                                                 corrections=corrections))
    assert corrected.dense_latency == pytest.approx(plain.dense_latency * factor, abs=1)
    # the reports' dense layers take under half the LUTs and FFs estimated: at each rate the sparse kernel needs
    # more pruning to be the smaller
    rates = (3_200, 6_400, 16_000, 64_000)
    plain, corrected = (rate_break_even(CONV2, board, code_bits=3, intervals=rates),
                        rate_break_even(CONV2, board, code_bits=3, corrections=corrections, intervals=rates))
    assert all(corrected.at(t) >= plain.at(t) for t in rates) and any(corrected.at(t) > plain.at(t) for t in rates)
    assert Corrections().apply("dense", estimate_dense(CONV2, DenseKernel(4, "resource"))) == estimate_dense(
        CONV2, DenseKernel(4, "resource"))


def test_the_plot_is_drawn_where_every_break_even_is_never(tmp_path):
    """A build whose every layer never breaks even (no point to draw) still gets its breakeven.png, over the rates
    checked."""
    from flow.cost.breakeven import BreakEven, RatePoint, plot_break_evens

    never = BreakEven(layer="fc", board="pynq-z2", rates=tuple(
        RatePoint(interval=interval, fps=1e8 / interval, break_even_portion=None) for interval in (100, 1_000)))
    plot_break_evens([never], tmp_path / "breakeven.png", {"fc": 0.5})
    assert (tmp_path / "breakeven.png").stat().st_size > 10_000
