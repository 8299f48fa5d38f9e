"""Break-even pruning (paper Fig. 4) from the estimator, and its use in a real build of the compressed LeNet-5."""
import json
import shutil

import numpy as np
import pytest

from flow.boards import load_board
from flow.cost.breakeven import PORTIONS, Comparison, break_even_curve, break_even_portion, expected_entries
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
    board = load_board("pynq-z2")
    curve = break_even_curve(CONV2, board, code_bits=3)
    speedups = [s for s in curve.speedups if s > 0]
    assert speedups == sorted(speedups)  # more pruning never makes the sparse layer slower
    assert curve.portions == PORTIONS and 0 < curve.break_even_portion < 0.99
    assert curve.break_even_ratio == pytest.approx(1 / (1 - curve.break_even_portion))
    below = max(p for p in PORTIONS if p < curve.break_even_portion)
    above = min(p for p in PORTIONS if p >= curve.break_even_portion)
    assert curve.speedups[PORTIONS.index(below)] < 1 <= curve.speedups[PORTIONS.index(above)]
    assert break_even_portion(CONV2, board, code_bits=3) == pytest.approx(curve.break_even_portion, abs=2e-4)


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


def test_row_parallel_pes_lose_ground_on_a_bigger_board():
    """PEs own whole output rows, so a 10-output layer gets at most 10 PEs; a board with 11x the DSPs
    lets the dense layer go wider, and the break-even portion moves up (here: out of reach)."""
    small, big = load_board("pynq-z2"), load_board("zcu102")
    fc = LayerShape("fc", n_in=500, n_out=10, weight_bits=3, input_bits=16)
    on_small, on_big = break_even_curve(fc, small), break_even_curve(fc, big)
    assert max(on_small.pes) <= max(on_big.pes) == 10  # on the small board LUTs stop it first
    assert on_big.dense_reuse_factor < on_small.dense_reuse_factor
    assert on_small.break_even_portion is not None
    assert on_big.break_even_portion is None or on_big.break_even_portion > on_small.break_even_portion


def test_compressed_lenet5_build_reports_estimates_and_break_even(lenet5_sparse_build, shared_dir, tmp_path):
    from conftest import lenet5_compile_args, run_flow

    out = tmp_path / "build"
    shutil.copytree(lenet5_sparse_build, out)  # the forced rebuild below must leave the shared build as it was
    estimates = json.loads((out / "estimates.json").read_text())
    assert estimates["basis"].startswith("estimator")
    assert estimates["fits"] == (not estimates["design"]["over_budget"])  # judged on the whole design
    assert (out / "breakeven.png").stat().st_size > 10_000
    for layer in estimates["layers"]:
        assert layer["kernel"] == ("sparse" if layer["beyond_break_even"] else "dense"), layer["name"]
    conv = [layer for layer in estimates["layers"] if layer["name"].startswith("Conv2D")]
    # paper Table 9: sparse conv >= 3.6x faster than dense at the same multipliers
    assert all(layer["equal_dsp"]["speedup"] >= 3.6 for layer in conv if layer["pruned_portion"] > 0.9)
    report = run_flow("report", str(out))
    assert report.returncode == 0 and "break-even ratio" in report.stdout
    text = (out / "report.md").read_text()
    assert "![speedup of sparse over dense per layer](breakeven.png)" in text and "| Conv2D_Conv_1 | sparse |" in text
    assert estimates["layers_to_switch"] == []
    chosen = [layer["name"] for layer in estimates["layers"] if layer["kernel"] == "sparse"]
    # against the decision: conv1 sparse, fc1 and fc2 dense, named as the checkpoint names them (it still fits:
    # fc1 dense is about three quarters of the board's FFs)
    forced = run_flow(*lenet5_compile_args(shared_dir, out, "--from-step", "hls4ml", "--sparse", "conv1,conv2"))
    assert forced.returncode == 0, forced.stderr[-3000:]
    estimates = json.loads((out / "estimates.json").read_text())
    built = {layer["name"]: layer["kernel"] for layer in estimates["layers"]}
    names = [layer["name"] for layer in estimates["layers"]][:2]
    assert [name for name, kernel in built.items() if kernel == "sparse"] == names
    assert set(estimates["layers_to_switch"]) == set(chosen) ^ set(names)
    assert estimates["rebuild_sparse"] == ",".join(chosen)
    assert run_flow("report", str(out)).returncode == 0
    assert f"--from-step hls4ml --sparse {','.join(chosen)}" in (out / "report.md").read_text()


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
    plain, corrected = break_even_curve(CONV2, board), break_even_curve(CONV2, board, corrections=corrections)
    assert corrected.dense_latency == pytest.approx(plain.dense_latency * factor, abs=1)
    assert corrected.break_even_portion <= plain.break_even_portion  # a slower dense layer is beaten sooner
    assert Corrections().apply("dense", estimate_dense(CONV2, DenseKernel(4, "resource"))) == estimate_dense(
        CONV2, DenseKernel(4, "resource"))
