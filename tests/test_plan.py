"""Hardware-aware compression (ADMM-NN Fig. 5): allocation by compute, break-even restore, binary search on real training."""
import json
from dataclasses import replace

import torch

from flow.boards import load_board
from flow.plan import LayerPlanInput, PlanConfig, estimated_bram18, keep_counts, layer_inputs, plan, portions
from flow.train import TrainConfig, train
from flow.zoo import compressible_layers, load_checkpoint
from test_admm import tiny_recipe

LAYERS = [
    LayerPlanInput("conv1", "conv", weights=500, macs=288_000, break_even=0.6),
    LayerPlanInput("conv2", "conv", weights=25_000, macs=1_600_000, break_even=0.2),
    LayerPlanInput("fc1", "fc", weights=400_000, macs=400_000, break_even=0.3),
    LayerPlanInput("fc2", "fc", weights=5_000, macs=5_000, break_even=None),  # sparse never pays off
]


def test_heavy_layers_are_pruned_hardest_and_layers_short_of_break_even_stay_dense():
    chosen = portions(LAYERS, strength=1.0, max_portion=0.98, fc_portion=0.9)
    assert chosen["conv2"] == 0.98  # the most compute
    assert chosen["conv1"] == 0.0  # 0.98 * 288K / 1.6M = 0.18 < its break-even 0.6: restored to dense
    assert chosen["fc1"] == 0.9 and chosen["fc2"] == 0.0
    weaker = portions(LAYERS, strength=0.25, max_portion=0.98, fc_portion=0.9)
    assert weaker["conv2"] == 0.245 and weaker["fc1"] == 0.0  # 0.225 < 0.3
    assert keep_counts(LAYERS, chosen) == {"conv1": 500, "conv2": 500, "fc1": 40_000, "fc2": 5_000}


def test_weights_that_overflow_the_board_count_against_a_strength():
    board = load_board("pynq-z2")  # 280 BRAM18
    fc1 = LayerPlanInput("fc1", "fc", weights=400_000, macs=400_000, break_even=0.3, n_in=800, n_out=500, bits=2)
    as_float = LayerPlanInput("fc1", "fc", weights=400_000, macs=400_000, break_even=None, n_in=800, n_out=500)
    assert estimated_bram18([as_float], {"fc1": 400_000}) > board.resources["bram18"]  # 32-bit dense: 12.8 Mbit
    dense_codes = estimated_bram18([fc1], {"fc1": 400_000})  # 3-bit container: 1.2 Mbit
    assert 60 < dense_codes < board.resources["bram18"]
    assert estimated_bram18([fc1], {"fc1": 4_000}) < dense_codes / 10  # 100x pruned: codes + short indices


def test_plan_binary_searches_the_strength_with_real_training_and_compiles_the_winner(shared_dir, tmp_path):
    mnist = shared_dir / "data" / "mnist"
    pretrained = tiny_recipe(tmp_path / "pre.yaml", [{"kind": "pretrain", "epochs": 2, "lr": 0.002}])
    train(TrainConfig(recipe=pretrained, out=tmp_path / "pre", data_dir=mnist, show_progress=False))
    compress = tiny_recipe(tmp_path / "compress.yaml", [
        {"kind": "admm_prune", "epochs": 1, "keep": 0.5, "rho": 0.1}, {"kind": "retrain", "epochs": 1},
        {"kind": "admm_quantize", "epochs": 1, "bits": 4, "rho_growth": 2.0, "rho_max": 0.1},
        {"kind": "retrain", "epochs": 1}])
    budget = 5.0
    config = PlanConfig(init=tmp_path / "pre" / "model.pt", out=tmp_path / "plan", data_dir=mnist, recipe=compress,
                        budget_pp=budget, probes=2, compile_samples=50, show_progress=False)
    record = plan(config)
    probes = record.probes
    # each layer's break-even is its least over the rates (flow/cost/breakeven.py); at 100,000/s (1,000 cycles)
    # conv1's sparse kernel is never the smaller and fc2's is unpruned
    board, bits = load_board("pynq-z2"), {name: 4 for name in ("conv1", "conv2", "fc1", "fc2")}
    dense_model = load_checkpoint(config.init)[0]
    inputs = {layer.name: layer for layer in layer_inputs(dense_model, board, bits, 16)}
    assert {layer["name"]: layer["break_even"] for layer in record.layers} == {
        name: layer.break_even for name, layer in inputs.items()}
    at_target = {layer.name: layer.break_even for layer in layer_inputs(dense_model, board, bits, 16, 100_000)}
    assert at_target["conv1"] is None and at_target["fc2"] == 0.0
    # with no rate named, slow rates count too, where one sparse PE is the smaller even unpruned: every quantized
    # layer is pruned
    assert all(layer.break_even == 0.0 for layer in inputs.values())
    assert all(at_target[name] is None or at_target[name] >= inputs[name].break_even for name in inputs)
    # a probe trains when a layer is pruned beyond its break-even and the weights fit the board's BRAM; the search
    # goes up after a pass (or an untrained probe) and down after a failure
    strength, step = 0.5, 0.25
    for probe in probes:
        assert probe["strength"] == strength
        chosen = portions(list(inputs.values()), strength, config.max_portion, config.fc_portion)
        assert probe["trained"] == (any(chosen.values()) and probe["estimated_bram18"] <= 280)
        strength += step if not probe["trained"] or probe["accuracy_drop_pp"] <= budget else -step
        step /= 2
    assert any(probe["trained"] for probe in probes)
    chosen = record.chosen
    assert chosen is not None and chosen["accuracy_drop_pp"] <= budget
    model, _ = load_checkpoint(tmp_path / "plan" / f"probe-s{chosen['strength']:.4f}" / "model.pt")
    kept = {name: int((layer.weight != 0).sum()) for name, layer in compressible_layers(model).items()}
    assert kept == chosen["keep"]  # the probe trained exactly the planned keep counts
    for layer in record.layers:
        assert layer["pruned"] == (layer["keep"] < layer["weights"])
    assert any(layer["pruned"] for layer in record.layers)
    # the build's kernels are the design chooser's, as design.json records them; its weights fit the board's BRAM,
    # csim matched
    build = record.build
    design = json.loads((tmp_path / "plan" / "build" / "design.json").read_text())
    assert build["sparse"] == "auto" and build["kernels"] == {layer["name"]: layer["label"] for layer in design["layers"]}
    assert build["throughput_fps"] == design["throughput_fps"] > 0
    assert sorted(build["sparse_hls4ml_layers"]) == sorted(name for name, label in build["kernels"].items()
                                                           if label.startswith("sparse"))
    assert build["weight_bram18"] <= record.bram18_budget == 280 and build["csim_passed"]
    assert isinstance(build["estimated_resources_fit"], bool)
    assert record.path == tmp_path / "plan" / "plan.json"
    assert json.loads(record.path.read_text()) == json.loads(json.dumps({
        "board": record.board, "budget_pp": record.budget_pp, "init": str(config.init), "recipe": str(config.recipe),
        "bram18_budget": record.bram18_budget, "layers": record.layers, "probes": record.probes,
        "chosen": record.chosen, "build": record.build}))
    # a rerun reuses the finished probes instead of training again
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "plan").glob("probe-*/model.pt")}
    assert plan(replace(config, compile=False)).chosen == chosen
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "plan").glob("probe-*/model.pt")} == stamps


def test_plan_refuses_a_pruned_model(shared_dir, tmp_path):
    import pytest
    from flow.errors import FlowError
    from flow.zoo import build_model, save_checkpoint

    model = build_model("lenet5")
    with torch.no_grad():
        model.fc1.weight[0] = 0
    save_checkpoint(model, "lenet5", {}, tmp_path / "pruned.pt")
    with pytest.raises(FlowError, match="already pruned or quantized"):
        plan(PlanConfig(init=tmp_path / "pruned.pt", out=tmp_path / "plan"))
