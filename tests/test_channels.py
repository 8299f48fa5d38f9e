"""Channel links between layers: equalization preserves the function and fits the levels better, reachable
pruning spends every kept weight where it can reach the output."""
import json

import numpy as np
import pytest
import torch

from flow.compress.admm import SparsitySet
from flow.compress.channels import ChannelLink, reachable_sets, wasted_weights
from flow.compress.equalize import CANDIDATES, apply_scales, equalization_scales
from flow.compress.projections import optimal_step, prune_top_k, quantize_nonzero
from flow.train import TrainConfig, train
from flow.zoo import LeNet5, build_model, compressible_layers, load_checkpoint
from test_admm import BITS, KEEP, tiny_recipe

LINKS = LeNet5.channel_links


def _pruned_lenet5(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("lenet5")
    with torch.no_grad():
        for name, layer in compressible_layers(model).items():
            layer.weight.copy_(torch.from_numpy(prune_top_k(layer.weight.numpy(), KEEP[name])))
            layer.bias.uniform_(-0.1, 0.1)
    return model.eval()


def test_equalization_divides_out_per_channel_factors_that_no_single_step_fits():
    """Rows that are level patterns times per-channel factors (inverse in the next layer) quantize exactly
    once the factors are divided out. Coordinate descent need not find that optimum, but it must come close."""
    rng = np.random.default_rng(0)
    factors = CANDIDATES[rng.integers(20, 77, size=12)]  # grid points, so the exact fit is reachable
    first = rng.choice([-2.0, -1.0, 1.0, 2.0], size=(12, 6)) * factors[:, None]
    second = rng.choice([-2.0, -1.0, 1.0, 2.0], size=(3, 12)) / factors[None, :]
    link = ChannelLink("first", "second", 1)
    scales, record = equalization_scales({"first": first, "second": second}, {"first": 2, "second": 2}, (link,))
    assert record["relative_error_before"] > 0.2
    assert record["relative_error_after"] < 0.1 * record["relative_error_before"]
    # a third of the channels or more end exactly at the scale that divides their factor out
    assert np.sum(np.isclose(scales["first"] * factors, 1.0)) >= 4


def test_equalization_keeps_lenet5s_function_and_masks_and_reports_the_error_it_reaches():
    model = _pruned_lenet5(seed=1)
    layers = compressible_layers(model)
    with torch.no_grad():  # output channels of very different ranges, which a single step per layer fits badly
        for layer in layers.values():
            layer.weight.mul_(4.0 ** torch.empty(layer.weight.shape[0]).uniform_(-1, 1).reshape(-1, *[1] * (layer.weight.dim() - 1)))
    original = {name: layer.weight.detach().numpy().astype(np.float64) for name, layer in layers.items()}
    inputs = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        before = model(inputs)
    scales, record = equalization_scales({n: w.astype(np.float32) for n, w in original.items()}, BITS, LINKS)
    apply_scales(layers, LINKS, scales)
    with torch.no_grad():
        assert torch.allclose(model(inputs), before, rtol=1e-4, atol=1e-4 * float(before.abs().max()))
    # the recorded error, recomputed independently: quantize the rescaled weights, map back, compare
    error = 0.0
    for name, layer in layers.items():
        rescaled = layer.weight.detach().numpy().astype(np.float64)
        assert np.array_equal(rescaled != 0, original[name] != 0), name
        quantized = quantize_nonzero(rescaled, optimal_step(rescaled[rescaled != 0], BITS[name]), BITS[name])
        ratio = np.divide(original[name], rescaled, out=np.zeros_like(rescaled), where=rescaled != 0)
        error += np.sum(((rescaled - quantized) * ratio) ** 2) / np.sum(original[name] ** 2)
    assert error == pytest.approx(record["relative_error_after"], rel=1e-5)
    assert record["relative_error_after"] < 0.7 * record["relative_error_before"]


def test_wasted_weights_are_the_unread_rows_and_the_columns_reading_empty_channels():
    fc1, fc2 = np.zeros((500, 800), bool), np.zeros((10, 500), bool)
    fc1[0, [3, 9, 700]] = True  # neuron 0: inputs, but fc2 never reads it -> 3 wasted in fc1
    fc2[[2, 7], 1] = True  # neuron 1: read by fc2, but has no inputs (a constant) -> 2 wasted in fc2
    fc1[5, 11] = fc2[4, 5] = True  # neuron 5: both sides -> nothing wasted
    assert wasted_weights({"fc1": fc1, "fc2": fc2}, LINKS[2:]) == {"fc1": 3, "fc2": 2}


def test_reachable_pruning_refills_dead_weights_with_live_ones():
    model = _pruned_lenet5(seed=2)
    torch.manual_seed(2)
    dense = {name: layer.weight.detach().numpy() for name, layer in compressible_layers(build_model("lenet5")).items()}
    sets = {name: SparsitySet(KEEP[name] // 10, np.ones(weight.shape, bool)) for name, weight in dense.items()}
    plain = {name: s.project(dense[name]) != 0 for name, s in sets.items()}
    assert sum(wasted_weights(plain, LINKS).values()) > 0  # per-layer top-k on random weights leaves some
    narrowed = reachable_sets(sets, dense, LINKS, {})
    reachable = {name: s.project(dense[name]) != 0 for name, s in narrowed.items()}
    assert sum(wasted_weights(reachable, LINKS).values()) == 0
    assert {name: int(p.sum()) for name, p in reachable.items()} == {name: s.keep for name, s in sets.items()}
    # a layer outside the stage counts with its own pattern: with fc2 fixed, fc1 keeps only rows fc2 reads
    fc2 = compressible_layers(model)["fc2"].weight.detach().numpy() != 0
    partial = reachable_sets({"fc1": sets["fc1"]}, {"fc1": dense["fc1"]}, LINKS[2:], {"fc2": fc2})
    rows = partial["fc1"].project(dense["fc1"]).any(axis=1)
    assert not np.any(rows & ~fc2.any(axis=0)) and int(rows.sum()) > 0


def test_a_run_with_reachable_pruning_and_equalized_quantization(shared_dir, tmp_path):
    stages = [{"kind": "pretrain", "epochs": 1, "lr": 0.002},
              {"kind": "admm_prune", "epochs": 2, "keep": KEEP, "rho": 0.1, "reachable": True},
              {"kind": "retrain", "epochs": 1},
              {"kind": "admm_quantize", "epochs": 1, "bits": BITS, "equalize": True},
              {"kind": "retrain", "epochs": 1}]
    recipe = tiny_recipe(tmp_path / "r.yaml", stages)
    result = train(TrainConfig(recipe=recipe, out=tmp_path / "run", data_dir=shared_dir / "data" / "mnist",
                               show_progress=False))
    model, blob = load_checkpoint(tmp_path / "run" / "model.pt")
    patterns = {name: layer.weight.detach().numpy() != 0 for name, layer in compressible_layers(model).items()}
    compression = json.loads((tmp_path / "run" / "compression.json").read_text())
    assert compression["total"]["wasted"] == 0 and all(layer["wasted"] == 0 for layer in compression["layers"])
    assert {name: int(p.sum()) for name, p in patterns.items()} == KEEP
    equalization = result.stages[3]["equalization"]
    assert equalization["relative_error_after"] < equalization["relative_error_before"]
    for name, layer in compressible_layers(model).items():
        codes = layer.weight.detach().numpy()[patterns[name]] / blob["weight_levels"][name]["step"]
        assert np.allclose(codes, np.round(codes), atol=1e-4), name
    assert compression["metrics"]["stages"][3]["equalization"] == equalization
