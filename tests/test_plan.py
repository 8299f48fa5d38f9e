"""Hardware-aware compression (ADMM-NN Fig. 5): allocation by compute, break-even restore, binary search on real training."""
import json

import torch

from flow.plan import LayerPlanInput, PlanConfig, keep_counts, plan, portions
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


def test_plan_binary_searches_the_strength_with_real_training(shared_dir, tmp_path):
    mnist = shared_dir / "data" / "mnist"
    pretrained = tiny_recipe(tmp_path / "pre.yaml", [{"kind": "pretrain", "epochs": 2, "lr": 0.002}])
    train(TrainConfig(recipe=pretrained, out=tmp_path / "pre", data_dir=mnist, show_progress=False))
    prune = tiny_recipe(tmp_path / "prune.yaml", [{"kind": "admm_prune", "epochs": 1, "keep": 0.5, "rho": 0.1},
                                                  {"kind": "retrain", "epochs": 1}])
    config = PlanConfig(init=tmp_path / "pre" / "model.pt", out=tmp_path / "plan", data_dir=mnist, recipe=prune,
                        budget_pp=3.0, probes=2, show_progress=False)
    record = plan(config)
    probes = record["probes"]
    assert [p["strength"] for p in probes][0] == 0.5 and len(probes) == 2
    # the second probe went up after a pass and down after a failure
    assert probes[1]["strength"] == (0.75 if probes[0]["accuracy_drop_pp"] <= 3.0 else 0.25)
    chosen = record["chosen"]
    assert chosen is not None and chosen["accuracy_drop_pp"] <= 3.0
    model, _ = load_checkpoint(tmp_path / "plan" / f"probe-s{chosen['strength']:.4f}" / "model.pt")
    kept = {name: int((layer.weight != 0).sum()) for name, layer in compressible_layers(model).items()}
    assert kept == chosen["keep"]  # the probe trained exactly the planned keep counts
    for layer in record["layers"]:
        assert (layer["kernel"] == "sparse") == (layer["keep"] < layer["weights"])
    assert json.loads((tmp_path / "plan" / "plan.json").read_text()) == json.loads(json.dumps(record))
    # a rerun reuses the finished probes instead of training again
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "plan").glob("probe-*/model.pt")}
    assert plan(config)["chosen"] == chosen
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
