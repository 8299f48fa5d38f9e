"""ADMM training on real data: the splitting converges, and masks and levels survive retraining and QONNX export
(resuming after SIGKILL: test_resume.py)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from flow.compress.accounting import account
from flow.sparse.encoding import relative_index_cost
from flow.compress.admm import ADMM, LevelSet, SparsitySet
from flow.compress.recipe import recipe_from_tree
from flow.errors import FlowError
from flow.train import TrainConfig, train
from flow.zoo import build_model, compressible_layers, load_checkpoint

KEEP = {"conv1": 150, "conv2": 3000, "fc1": 8000, "fc2": 500}
BITS = {"conv1": 3, "conv2": 3, "fc1": 2, "fc2": 2}


def tiny_recipe(path: Path, stages: list[dict], **extra) -> Path:
    tree = {"arch": "lenet5", "dataset": "mnist", "seed": 3, "batch_size": 64, "train_subset": 1200,
            "test_subset": 300, "stages": stages, **extra}
    path.write_text(json.dumps(tree))  # JSON is YAML
    return path


JOINT_STAGES = [
    {"kind": "pretrain", "epochs": 1, "lr": 0.002},
    {"kind": "admm_prune", "epochs": 2, "keep": KEEP, "rho": 0.1},  # large rho: converge in 2 short epochs
    {"kind": "retrain", "epochs": 2},
    {"kind": "admm_quantize", "epochs": 1, "bits": BITS, "rho_growth": 2.0, "rho_max": 0.1},
    {"kind": "retrain", "epochs": 1},
]


def test_residual_shrinks_and_admm_recovers_a_sparse_target():
    """Toy least squares whose optimum is sparse: ||W - Z|| / ||W|| falls and Z finds the true support."""
    torch.manual_seed(0)
    truth = torch.zeros(4, 32)
    truth[torch.arange(4), torch.tensor([1, 7, 19, 30])] = torch.tensor([1.5, -2.0, 1.0, 2.5])
    inputs = torch.randn(512, 32)
    targets = inputs @ truth.T + 0.01 * torch.randn(512, 4)
    layer = torch.nn.Linear(32, 4, bias=False)
    admm = ADMM({"fc": layer}, {"fc": SparsitySet(4, np.ones((4, 32), bool))}, rho=0.05)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.02)
    residuals = []
    for _ in range(15):
        for _ in range(40):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(layer(inputs), targets) + admm.penalty()
            loss.backward()
            optimizer.step()
        residuals.append(admm.update()["fc"])
    assert residuals[-1] < 0.2 * residuals[0], residuals
    assert torch.equal(admm.Z["fc"] != 0, truth != 0)


def test_rho_growth_keeps_the_unscaled_dual():
    layer = torch.nn.Linear(8, 2)
    admm = ADMM({"fc": layer}, {"fc": SparsitySet(3, np.ones((2, 8), bool))}, rho=0.01, rho_growth=2.0, rho_max=0.03)
    admm.U["fc"] = torch.randn(2, 8)
    dual_before = admm.rho * admm.U["fc"].clone()
    admm.update()
    assert admm.rho == pytest.approx(0.02)
    assert torch.allclose(admm.rho * admm.U["fc"], dual_before + 0.01 * (layer.weight - admm.Z["fc"]).detach(), atol=1e-6)
    admm.update()
    assert admm.rho == pytest.approx(0.03)  # capped


def test_level_set_keeps_support_and_puts_every_kept_weight_on_a_nonzero_level():
    rng = np.random.default_rng(1)
    values = rng.normal(0, 0.1, (20, 30))
    values[0, 0] = 0.0
    support = rng.random((20, 30)) < 0.3
    support[0, 0] = True
    constraint = LevelSet(2, support)
    projected = constraint.project(values)
    step = constraint.step_for(values)
    codes = projected[support] / step
    assert np.all((projected != 0) == support)
    assert set(np.round(np.abs(codes), 6)) <= {1.0, 2.0} and np.allclose(codes, np.round(codes))
    assert LevelSet(2, support, power_of_two=True).step_for(values) in [2.0**e for e in range(-12, 2)]


@pytest.fixture(scope="module")
def joint_run(shared_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("joint")
    recipe = tiny_recipe(root / "joint.yaml", JOINT_STAGES)
    result = train(TrainConfig(recipe=recipe, out=root / "run", data_dir=shared_dir / "data" / "mnist",
                               show_progress=False))
    return root / "run", result


def test_joint_run_keeps_exact_counts_and_levels_through_retraining(joint_run):
    run_dir, result = joint_run
    model, blob = load_checkpoint(run_dir / "model.pt")
    levels = blob["weight_levels"]
    assert set(levels) == set(BITS) and not (run_dir / "checkpoint.pt").exists()
    for name, layer in compressible_layers(model).items():
        weight = layer.weight.detach().numpy()
        assert int((weight != 0).sum()) == KEEP[name], name
        codes = weight[weight != 0] / levels[name]["step"]
        assert np.allclose(codes, np.round(codes), atol=1e-4), name
        assert set(np.abs(np.round(codes)).astype(int)) <= set(range(1, 2 ** (BITS[name] - 1) + 1)), name
        # Brevitas sees the same values: the saved weights are already on the quantizer's grid
        assert torch.allclose(layer.quant_weight().value, layer.weight, atol=1e-6)
    history = json.loads((run_dir / "history.json").read_text())
    admm_epochs = [h for h in history if h["kind"].startswith("admm")]
    assert all(set(h["residual"]) == set(KEEP) and 0 <= h["projected_accuracy"] <= 1 for h in admm_epochs)
    choices = next(r for r in result.stages if r["kind"] == "admm_quantize")["step_choices"]
    for name, choice in choices.items():  # both step rules are reported; the exact one is never worse
        assert choice["relative_error"] <= choice["power_of_two_relative_error"] + 1e-12
        assert np.log2(choice["power_of_two_step"]) == round(np.log2(choice["power_of_two_step"]))
        assert choice["step"] == pytest.approx(levels[name]["step"])
    total = result.compression
    assert total["kept"] == sum(KEEP.values()) and total["weight_data_bytes"] == sum(
        KEEP[n] * BITS[n] for n in KEEP) / 8
    assert result.test_accuracy > 0.6  # 1,200 training images, 7 epochs: far above chance (0.1)


def test_masks_and_levels_survive_qonnx_export(joint_run, shared_dir, tmp_path):
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    from flow.data import load_mnist_split

    run_dir, _ = joint_run
    model, blob = load_checkpoint(run_dir / "model.pt")
    path = tmp_path / "lenet5.onnx"
    export_qonnx(model, torch.zeros(1, 1, 28, 28), export_path=str(path))
    wrapper = cleanup_model(ModelWrapper(str(path)))
    quant_nodes = [n for n in wrapper.graph.node if n.op_type == "Quant" and wrapper.get_initializer(n.input[0]) is not None]
    assert len(quant_nodes) == 4
    exported = sorted((wrapper.get_initializer(n.input[0]) for n in quant_nodes), key=lambda a: a.size)
    trained = sorted((layer.weight.detach().numpy() for layer in compressible_layers(model).values()),
                     key=lambda a: a.size)
    for mine, theirs in zip(trained, exported):
        theirs = theirs.reshape(mine.shape)
        assert np.array_equal(theirs == 0, mine == 0)
    for node in quant_nodes:
        bits = float(wrapper.get_initializer(node.input[3]))
        assert bits in (3.0, 4.0)  # n + 1-bit narrow containers for 2- and 3-bit levels
    images = load_mnist_split("test", shared_dir / "data" / "mnist").images[:8]
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    name_in, name_out = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    got = np.concatenate([execute_onnx(wrapper, {name_in: images[i:i + 1]})[name_out] for i in range(8)])
    assert np.allclose(got, expected, atol=1e-4)


def test_accounting_matches_a_hand_encoding_and_lenet5_macs():
    mask = np.zeros(40, bool)
    mask[[0, 3, 4, 30, 39]] = True
    # width 3: gaps 1, 3, 1, 26, 9 -> escapes (gap-1)//7 = 0, 0, 0, 3, 1
    assert relative_index_cost(np.flatnonzero(mask), 3) == (5 + 4, 4)
    model = build_model("lenet5")
    report = account(model, compressible_layers(model), {}, model.input_shape)
    assert report["total"]["macs_dense"] == 24 * 24 * 500 + 8 * 8 * 25000 + 400000 + 5000
    assert report["total"]["params"] == 430500 and report["total"]["index_bytes"] == 0


def test_recipe_validation_names_the_problem():
    base = {"arch": "lenet5", "dataset": "mnist", "stages": [{"kind": "pretrain", "epochs": 1}]}
    with pytest.raises(FlowError, match="unknown key"):
        recipe_from_tree({**base, "sead": 1})
    with pytest.raises(FlowError, match="pruning after quantization"):
        recipe_from_tree({**base, "stages": [{"kind": "admm_quantize", "epochs": 1, "bits": 2},
                                             {"kind": "admm_prune", "epochs": 1, "keep": 0.1}]})
    with pytest.raises(FlowError, match="must be a number"):
        recipe_from_tree(base, ("stages.0.lr=1e-3",))
    with pytest.raises(FlowError, match="does not address"):
        recipe_from_tree(base, ("stages.4.epochs=2",))
    quantize = {"kind": "admm_quantize", "epochs": 1}
    with pytest.raises(FlowError, match="quantizes conv1 again"):
        recipe_from_tree({**base, "stages": [{**quantize, "bits": {"conv1": 3}}, {**quantize, "bits": {"conv1": 2}}]})
    with pytest.raises(FlowError, match="quantizes every layer again"):
        recipe_from_tree({**base, "stages": [{**quantize, "bits": 3}, {**quantize, "bits": {"fc1": 2}}]})
    in_turns = recipe_from_tree({**base, "stages": [{**quantize, "bits": {"conv1": 3}}, {**quantize, "bits": {"fc1": 2}}]})
    assert [stage.bits for stage in in_turns.stages] == [{"conv1": 3}, {"fc1": 2}]
    with pytest.raises(FlowError, match="distill needs a teacher"):
        recipe_from_tree(base, ("stages.0.distill=0.5",))
    with pytest.raises(FlowError, match=r"distill must be in \[0, 1\]"):
        recipe_from_tree({**base, "stages": [{"kind": "admm_prune", "epochs": 1, "keep": 0.1, "distill": 1.5}]})
    assert recipe_from_tree(base, ("stages.0.epochs=3", "seed=7")).stages[0].epochs == 3
    floating = {"kind": "pretrain", "epochs": 1, "float_activations": True}
    with pytest.raises(FlowError, match="float_activations trains float stand-ins"):
        recipe_from_tree({**base, "stages": [floating, {"kind": "retrain", "epochs": 1}]})
    bits = {"activation_bits": {"input": 8, "conv1": 8, "conv2": 8, "fc1": 8}}
    with pytest.raises(FlowError, match="float_activations stages must come first"):
        recipe_from_tree({**base, **bits, "stages": [{"kind": "pretrain", "epochs": 1}, floating]})
    with pytest.raises(FlowError, match="end the float_activations stages before admm_quantize"):
        recipe_from_tree({**base, **bits, "stages": [{**quantize, "bits": 3, "float_activations": True},
                                                     {"kind": "retrain", "epochs": 1}]})
    with pytest.raises(FlowError, match="activation_bits must map activation sites"):
        recipe_from_tree({**base, "activation_bits": {"input": 1}})


def test_distillation_mixes_cross_entropy_with_the_teachers_soft_targets():
    from flow.compress.recipe import Stage
    from flow.train import distillation_loss

    torch.manual_seed(0)
    logits, labels = torch.randn(16, 10), torch.randint(0, 10, (16,))
    hard = torch.nn.functional.cross_entropy(logits, labels)
    stage = Stage(kind="retrain", epochs=1, distill=0.75, distill_temperature=3.0)
    assert torch.allclose(distillation_loss(logits, labels, logits.clone(), stage), 0.25 * hard)  # KL(p || p) = 0
    teacher = torch.randn(16, 10)
    p_teacher = torch.softmax(teacher / 3, 1)
    kl = (p_teacher * (p_teacher.log() - torch.log_softmax(logits / 3, 1))).sum(1).mean()
    assert torch.allclose(distillation_loss(logits, labels, teacher, stage), 0.25 * hard + 0.75 * 9 * kl, atol=1e-6)


def test_a_pruned_init_checkpoint_keeps_its_zeros(joint_run, shared_dir, tmp_path):
    mnist = shared_dir / "data" / "mnist"
    pruned = tiny_recipe(tmp_path / "p.yaml", [{"kind": "admm_prune", "epochs": 1, "keep": KEEP}])
    train(TrainConfig(recipe=pruned, out=tmp_path / "pruned", data_dir=mnist, show_progress=False))
    quantize = tiny_recipe(tmp_path / "q.yaml", [{"kind": "admm_quantize", "epochs": 1, "bits": 2,
                                                  "power_of_two": True}], init=str(tmp_path / "pruned" / "model.pt"))
    result = train(TrainConfig(recipe=quantize, out=tmp_path / "quantized", data_dir=mnist, show_progress=False))
    model, blob = load_checkpoint(tmp_path / "quantized" / "model.pt")
    for name, layer in compressible_layers(model).items():
        assert int((layer.weight != 0).sum()) == KEEP[name]
        step = blob["weight_levels"][name]["step"]
        assert step == 2.0 ** round(np.log2(step))  # power_of_two: true
    assert result.compression["weight_data_bytes"] == sum(KEEP.values()) * 2 / 8


def test_a_run_goes_on_from_a_stage_snapshot_against_the_same_teacher(joint_run, shared_dir, tmp_path):
    """Each stage leaves its model behind; a later run can start at one (init) and still measure against,
    and distill from, the first run's dense model (teacher)."""
    run_dir, result = joint_run
    kinds = [stage["kind"] for stage in JOINT_STAGES]
    assert sorted(p.name for p in run_dir.glob("stage*.pt")) == [f"stage{i}-{k}.pt" for i, k in enumerate(kinds)]
    pruned, blob = load_checkpoint(run_dir / "stage2-retrain.pt")
    assert blob["metrics"]["test_accuracy"] == result.stages[2]["test_accuracy"]
    assert {name: int((layer.weight != 0).sum()) for name, layer in compressible_layers(pruned).items()} == KEEP
    later = tiny_recipe(tmp_path / "later.yaml", [{**JOINT_STAGES[3], "distill": 0.5}, JOINT_STAGES[4]],
                        init=str(run_dir / "stage2-retrain.pt"), teacher=str(run_dir / "stage0-pretrain.pt"))
    continued = train(TrainConfig(recipe=later, out=tmp_path / "later", data_dir=shared_dir / "data" / "mnist",
                                  show_progress=False))
    assert continued.reference_accuracy == result.reference_accuracy
    assert continued.compression["kept"] == sum(KEEP.values())


def test_a_quantized_snapshot_retrains_with_learned_steps(joint_run, shared_dir, tmp_path):
    """init at the quantize stage's snapshot keeps its masks and levels; learn_step trains each layer's step
    (LSQ) and ends with every kept weight on a nonzero level of the learned step, as a constant-step model."""
    run_dir, result = joint_run
    recipe = tiny_recipe(tmp_path / "lsq.yaml", [{"kind": "retrain", "epochs": 2, "lr": 0.002, "learn_step": True, "step_lr": 1e-4,
                                                  "distill": 0.5}],
                         init=str(run_dir / "stage3-admm_quantize.pt"), teacher=str(run_dir / "stage0-pretrain.pt"))
    continued = train(TrainConfig(recipe=recipe, out=tmp_path / "lsq", data_dir=shared_dir / "data" / "mnist",
                                  show_progress=False))
    assert continued.reference_accuracy == result.reference_accuracy
    _, snapshot = load_checkpoint(run_dir / "stage3-admm_quantize.pt")
    learned = continued.stages[0]["learned_steps"]
    assert {name: steps["from"] for name, steps in learned.items()} == {
        name: level["step"] for name, level in snapshot["weight_levels"].items()}
    assert all(abs(steps["to"] / steps["from"] - 1) > 1e-4 for steps in learned.values()), learned
    model, blob = load_checkpoint(tmp_path / "lsq" / "model.pt")
    assert blob["weight_levels"] == {name: {"bits": BITS[name], "step": steps["to"]} for name, steps in learned.items()}
    for name, layer in compressible_layers(model).items():
        weight = layer.weight.detach().numpy()
        codes = weight[weight != 0] / learned[name]["to"]
        assert int((weight != 0).sum()) == KEEP[name], name
        assert np.allclose(codes, np.round(codes), atol=1e-4), name
        assert set(np.abs(np.round(codes)).astype(int)) <= set(range(1, 2 ** (BITS[name] - 1) + 1)), name
    # the constant-step model that is saved computes what the trainable-step one did in the last epoch
    history = json.loads((tmp_path / "lsq" / "history.json").read_text())
    assert continued.stages[0]["test_accuracy"] == history[-1]["test_accuracy"] == continued.test_accuracy


def test_progressive_quantization_keeps_the_first_layers_levels(shared_dir, tmp_path):
    """Conv layers quantized first stay on their levels while the fully connected ones are quantized later."""
    stages = [{"kind": "pretrain", "epochs": 1, "lr": 0.002},
              {"kind": "admm_prune", "epochs": 1, "keep": KEEP, "rho": 0.1},
              {"kind": "admm_quantize", "epochs": 1, "bits": {"conv1": 3, "conv2": 3}},
              {"kind": "retrain", "epochs": 1},
              {"kind": "admm_quantize", "epochs": 1, "bits": {"fc1": 2, "fc2": 2}},
              {"kind": "retrain", "epochs": 1, "distill": 0.5}]
    recipe = tiny_recipe(tmp_path / "turns.yaml", stages)
    train(TrainConfig(recipe=recipe, out=tmp_path / "run", data_dir=shared_dir / "data" / "mnist", show_progress=False))
    model, blob = load_checkpoint(tmp_path / "run" / "model.pt")
    assert set(blob["weight_levels"]) == set(BITS)
    for name, layer in compressible_layers(model).items():
        weight = layer.weight.detach().numpy()
        codes = weight[weight != 0] / blob["weight_levels"][name]["step"]
        assert int((weight != 0).sum()) == KEEP[name]
        assert np.allclose(codes, np.round(codes), atol=1e-4), name
        assert set(np.abs(np.round(codes)).astype(int)) <= set(range(1, 2 ** (BITS[name] - 1) + 1)), name


def test_frozen_levels_keep_every_weight_while_biases_retrain(joint_run, shared_dir, tmp_path):
    run_dir, result = joint_run
    recipe = tiny_recipe(tmp_path / "frozen.yaml", [{"kind": "retrain", "epochs": 1, "lr": 0.01, "freeze_levels": True}],
                         init=str(run_dir / "stage3-admm_quantize.pt"))
    train(TrainConfig(recipe=recipe, out=tmp_path / "frozen", data_dir=shared_dir / "data" / "mnist", show_progress=False))
    before, levels = load_checkpoint(run_dir / "stage3-admm_quantize.pt")
    after, blob = load_checkpoint(tmp_path / "frozen" / "model.pt")
    assert blob["weight_levels"] == levels["weight_levels"]
    old, new = compressible_layers(before), compressible_layers(after)
    for name in BITS:
        assert torch.equal(old[name].weight, new[name].weight), name
        assert not torch.equal(old[name].bias, new[name].bias), name


QAT_STAGES = [
    {"kind": "pretrain", "epochs": 1, "lr": 0.002, "float_activations": True},
    {"kind": "admm_prune", "epochs": 1, "keep": KEEP, "rho": 0.1},
    {"kind": "admm_quantize", "epochs": 1, "bits": BITS, "power_of_two": True, "rho_growth": 2.0, "rho_max": 0.1},
    {"kind": "retrain", "epochs": 1, "freeze_levels": True},
]
ACTIVATION_BITS = {"input": 8, "conv1": 8, "conv2": 6, "fc1": 4}


def test_a_quantization_aware_run_is_measured_against_its_float_pretrain(shared_dir, tmp_path):
    """A (tiny) quantization-aware LeNet-5 run keeps its activation bits and measures its drop against the
    float-activation pretrain. Its hardware (exact <= 32-bit types, 0 LSB): the shipped model's build in
    tests/test_sparse_hls4ml.py."""
    recipe = tiny_recipe(tmp_path / "qat.yaml", QAT_STAGES, activation_bits=ACTIVATION_BITS)
    result = train(TrainConfig(recipe=recipe, out=tmp_path / "qat", data_dir=shared_dir / "data" / "mnist",
                               show_progress=False))
    model, blob = load_checkpoint(tmp_path / "qat" / "model.pt")
    assert blob["activation_bits"] == ACTIVATION_BITS and not model.float_activations
    pretrained, _ = load_checkpoint(tmp_path / "qat" / "stage0-pretrain.pt")
    from flow.data import load_mnist_split
    from flow.train import accuracy

    test = load_mnist_split("test", shared_dir / "data" / "mnist")
    pretrained.float_activations = True  # the reference was measured on the float stand-ins
    assert result.reference_accuracy == accuracy(pretrained, test.images[:300], test.labels[:300])


def test_a_float_init_trained_with_quantized_activations_is_measured_against_itself(joint_run, shared_dir, tmp_path):
    """Caffe's float LeNet-5 has no ReLU after its convs, which quantized activations add: the run's reference
    (and teacher) is the init as given, not its quantization-aware rebuild with uncalibrated scales."""
    run_dir, _ = joint_run
    pruned, _ = load_checkpoint(run_dir / "stage2-retrain.pt")
    recipe = tiny_recipe(tmp_path / "qat.yaml", [{"kind": "retrain", "epochs": 1}],
                         init=str(run_dir / "stage2-retrain.pt"), activation_bits=ACTIVATION_BITS)
    result = train(TrainConfig(recipe=recipe, out=tmp_path / "qat", data_dir=shared_dir / "data" / "mnist",
                               show_progress=False))
    from flow.data import load_mnist_split
    from flow.train import accuracy

    test = load_mnist_split("test", shared_dir / "data" / "mnist")
    assert result.reference_accuracy == accuracy(pruned, test.images[:300], test.labels[:300])
    model, _ = load_checkpoint(tmp_path / "qat" / "model.pt")
    for name, layer in compressible_layers(model).items():  # the init's zeros stay pruned
        assert torch.equal(layer.weight == 0, compressible_layers(pruned)[name].weight == 0)
