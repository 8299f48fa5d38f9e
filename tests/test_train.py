"""`flow train` on the digits recipe: checkpoints, determinism, run dirs, and the shipped recipes' checks."""
import json
from pathlib import Path

import pytest
import torch

from flow.compress.recipe import load_recipe
from flow.errors import FlowError
from flow.train import TrainConfig, accuracy, check_recipe_against_model, train
from flow.data import load_digits_split
from flow.zoo import build_model, load_checkpoint


def digits_run(out, epochs):
    return train(TrainConfig(out=out, overrides=(f"stages.0.epochs={epochs}",), show_progress=False))


def test_train_writes_a_checkpoint_that_reloads_to_the_same_accuracy(tmp_path):
    result = digits_run(tmp_path / "ld", 2)
    model, blob = load_checkpoint(tmp_path / "ld" / "model.pt")
    test = load_digits_split("test")
    assert blob["arch"] == "lenet-digits" and result.epochs == 2 and result.out == tmp_path / "ld"
    assert accuracy(model, test.images, test.labels) == pytest.approx(result.test_accuracy)
    assert result.test_accuracy > 0.5  # two epochs already learn digits far above chance (0.1)
    # the fixed 4-bit Brevitas quantizers are what the size accounting counts
    layers = json.loads((tmp_path / "ld" / "compression.json").read_text())["layers"]
    assert {layer["bits"] for layer in layers} == {4}


def test_same_seed_same_weights(tmp_path):
    digits_run(tmp_path / "a", 1)
    digits_run(tmp_path / "b", 1)
    a, b = (torch.load(tmp_path / n / "model.pt", weights_only=True)["state_dict"] for n in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_finished_or_unfinished_run_dir_is_not_overwritten(tmp_path):
    digits_run(tmp_path / "done", 1)
    with pytest.raises(FlowError, match="already holds a finished run"):
        digits_run(tmp_path / "done", 1)
    with pytest.raises(FlowError, match="nothing to resume"):
        train(TrainConfig(out=tmp_path / "empty", resume=True, show_progress=False))


class Payload:
    pass


def test_checkpoint_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"arch": "lenet-digits", "state_dict": {}, "payload": Payload()}, path)
    with pytest.raises(FlowError, match="not a flow checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "models" / "recipes").glob("*.yaml")),
                         ids=lambda path: path.stem)
def test_every_shipped_recipe_passes_the_checks_flow_train_runs_before_its_first_epoch(path):
    # the settings its header tells users to pass (a retrain-only recipe has no pretrained model of its own)
    overrides = {"lenet5-retrain-quantized": ("teacher=models/lenet5-admm-joint.pt",)}.get(path.stem, ())
    recipe = load_recipe(path, overrides)
    check_recipe_against_model(recipe, build_model(recipe.arch))
    assert recipe.stages and all(stage.epochs > 0 for stage in recipe.stages)
