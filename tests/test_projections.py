"""ADMM projections against brute force."""
import numpy as np
import pytest

from flow.compress.projections import (
    optimal_power_of_two_step,
    optimal_step,
    prune_top_k,
    quantization_error,
    quantize_nonzero,
)
from flow.errors import FlowError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("keep", [1, 7, 50, 200])
def test_prune_keeps_exactly_the_largest(keep):
    weights = RNG.standard_normal((10, 20)).astype(np.float32)
    projected = prune_top_k(weights, keep)
    assert np.count_nonzero(projected) == keep
    threshold = np.sort(np.abs(weights).ravel())[-keep]
    assert np.array_equal(projected != 0, np.abs(weights) >= threshold)
    assert np.array_equal(projected[projected != 0], weights[projected != 0])


def test_prune_ties_are_reproducible():
    weights = np.array([1.0, -1.0, 1.0, 0.5])
    assert prune_top_k(weights, 2).tolist() == [1.0, -1.0, 0.0, 0.0]


@pytest.mark.parametrize("keep", [0, 201])
def test_prune_refuses_impossible_keep(keep):
    with pytest.raises(FlowError, match="cannot keep"):
        prune_top_k(np.ones((10, 20)), keep)


@pytest.mark.parametrize("n_bits", [1, 2, 3, 4])
def test_quantize_is_nearest_nonzero_level(n_bits):
    weights = prune_top_k(RNG.standard_normal(500), 300)
    step = 0.37
    levels = np.arange(1, 2**n_bits // 2 + 1) * step
    levels = np.concatenate([-levels, levels])
    projected = quantize_nonzero(weights, step, n_bits)
    nonzero = weights != 0
    assert np.all(projected[~nonzero] == 0) and np.all(projected[nonzero] != 0)
    nearest = levels[np.argmin(np.abs(weights[nonzero, None] - levels[None, :]), axis=1)]
    assert np.allclose(np.abs(projected[nonzero] - weights[nonzero]), np.abs(nearest - weights[nonzero]))


def test_tiny_weight_goes_to_the_smallest_level_not_zero():
    assert quantize_nonzero(np.array([1e-6, -1e-6, 0.0]), 0.5, 2).tolist() == [0.5, -0.5, 0.0]


@pytest.mark.parametrize("n_bits", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_optimal_step_beats_a_dense_brute_force_grid(n_bits, seed):
    weights = np.random.default_rng(seed).laplace(size=300) * 0.1
    best = optimal_step(weights, n_bits)
    grid = np.linspace(1e-4, 2 * np.abs(weights).max(), 20001)
    codes = np.clip(np.rint(np.abs(weights)[None, :] / grid[:, None]), 1, 2**n_bits // 2)
    grid_errors = np.sum((np.abs(weights)[None, :] - codes * grid[:, None]) ** 2, axis=1)
    assert quantization_error(weights, best, n_bits) <= grid_errors.min() + 1e-12
    assert quantization_error(weights, best, n_bits) >= grid_errors.min() * (1 - 1e-3)


def test_power_of_two_step_is_the_best_power_of_two():
    weights = RNG.standard_normal(400) * 0.05
    best = optimal_power_of_two_step(weights, 3)
    assert np.log2(best) == np.round(np.log2(best))
    for exponent in range(-12, 3):
        assert quantization_error(weights, best, 3) <= quantization_error(weights, 2.0**exponent, 3) + 1e-12


@pytest.mark.parametrize("n_bits", [0, 33])
def test_bit_width_out_of_range(n_bits):
    with pytest.raises(FlowError, match="bit width"):
        quantize_nonzero(np.ones(3), 0.1, n_bits)
