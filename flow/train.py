"""`flow train`: run a recipe's stages (pretrain, ADMM prune, retrain, ADMM quantize, ...) into a run dir.

Run dir artifacts: recipe.json (resolved recipe), data_dir.json, checkpoint.pt (after every epoch, atomic;
deleted once the run is complete), history.json (per-epoch log), stage<i>-<kind>.pt (the model as each
stage ends, a valid `init` for a run that goes on from there), and, written last so that their
presence means a finished run, compression.json and model.pt (a `flow compile` input).
"""
from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .compress.accounting import account
from .compress.recipe import (COMPRESS_KINDS, Recipe, Stage, check_layer_settings, check_stages_against_init, load_recipe,
                              recipe_from_tree)
from .compress.stages import StageSession
from .data import Split, load_digits_split, load_mnist_split
from .errors import FlowError
from .paths import atomic_write_bytes, atomic_write_json, prepare_output_dir
from .zoo import (activation_bits_of, build_model, compressible_layers, layer_sizes, load_checkpoint, load_weights,
                  save_checkpoint)

CHECKPOINT, FINAL, HISTORY, COMPRESSION, RECIPE = "checkpoint.pt", "model.pt", "history.json", "compression.json", "recipe.json"
DATA_DIR = "data_dir.json"
EVAL_BATCH = 2000


@dataclass(frozen=True)
class TrainConfig:
    """What `flow train` runs: one field per CLI flag."""

    #: YAML recipe (models/recipes/); None: models/recipes/lenet-digits.yaml
    recipe: Path | None = None
    #: recipe overrides key=value, e.g. "stages.1.epochs=20"
    overrides: tuple[str, ...] = ()
    #: run dir; None: runs/<recipe name>
    out: Path | None = None
    #: folder with the MNIST IDX files, for MNIST recipes
    data_dir: Path | None = None
    #: continue the unfinished run in `out` from its last epoch
    resume: bool = False
    #: cpu, or cuda where a GPU is present
    device: str = "cpu"
    #: show rich progress bars
    show_progress: bool = True


@dataclass(frozen=True)
class TrainResult:
    """A finished run: where it is, how accurate, and how compressed (compression.json holds the rest)."""

    out: Path  # the run dir, with model.pt and compression.json
    test_accuracy: float
    test_samples: int
    reference_accuracy: float | None  # the teacher's, or the model's before its first compression stage
    accuracy_drop_pp: float | None
    stages: list  # per stage: kind, test accuracy and what the stage measured
    compression: dict  # totals: params, kept, pruning_ratio, weight_data_bytes, size_with_index_bytes, wasted
    epochs: int  # over all stages
    wall_s: float  # training time, summed over the sessions of a resumed run


@dataclass
class RunState:
    """Everything besides the model and the stage session that a resumed run needs."""

    stage_index: int = 0
    epochs_done: int = 0  # within the current stage
    masks: dict = field(default_factory=dict)
    weight_levels: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    stage_results: list = field(default_factory=list)
    reference_accuracy: float | None = None  # the teacher's, or the model's before its first compression stage
    # a float init given quantized activations (and, in LeNet-5, ReLUs it lacked): the init itself is the reference
    float_reference: bool = False
    teacher_logits: torch.Tensor | None = None  # that model's training-set logits, when a stage distills
    wall_s: float = 0.0  # accumulated over earlier sessions of this run


@dataclass(frozen=True)
class Data:
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def load_data(recipe: Recipe, data_dir: Path | None, device: torch.device) -> Data:
    def tensors(split: Split, subset: int | None):
        n = len(split.labels) if subset is None else min(subset, len(split.labels))
        return torch.from_numpy(split.images[:n]).to(device), torch.from_numpy(split.labels[:n]).to(device)

    if recipe.dataset == "digits":
        train_split, test_split = load_digits_split("train"), load_digits_split("test")
    else:
        if data_dir is None:
            raise FlowError("this recipe trains on MNIST; pass --data-dir pointing at the MNIST IDX files")
        train_split, test_split = load_mnist_split("train", data_dir), load_mnist_split("test", data_dir)
    return Data(tensors(train_split, recipe.train_subset), tensors(test_split, recipe.test_subset))


def accuracy(model: torch.nn.Module, images, labels) -> float:
    images = torch.as_tensor(images)
    labels = torch.as_tensor(labels, device=images.device)
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(images[i:i + EVAL_BATCH]).argmax(1) == labels[i:i + EVAL_BATCH]).sum())
                      for i in range(0, len(labels), EVAL_BATCH))
    return correct / len(labels)


def _epoch_generator(seed: int, stage_index: int, epoch: int) -> torch.Generator:
    # derived, not carried: a resumed run shuffles exactly like an uninterrupted one
    return torch.Generator().manual_seed(seed * 1_000_003 + stage_index * 10_007 + epoch)


def training_logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(images[i:i + EVAL_BATCH]) for i in range(0, len(images), EVAL_BATCH)])


def distillation_loss(logits, labels, teacher_logits, stage: Stage) -> torch.Tensor:
    """Hinton et al. 2015: cross entropy mixed with the temperature-softened teacher's KL divergence."""
    hard = F.cross_entropy(logits, labels)
    if not stage.distill:
        return hard
    temperature = stage.distill_temperature
    soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), F.log_softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean", log_target=True) * temperature**2
    return (1 - stage.distill) * hard + stage.distill * soft


def _train_epoch(model, session: StageSession, data: Data, batch_size: int, generator,
                 teacher_logits: torch.Tensor | None) -> float:
    images, labels = data.train
    model.train()
    order = torch.randperm(len(labels), generator=generator).to(images.device)
    total, batches = 0.0, 0
    for start in range(0, len(labels), batch_size):
        batch = order[start:start + batch_size]
        session.optimizer.zero_grad(set_to_none=True)
        loss = distillation_loss(model(images[batch]), labels[batch],
                                 None if teacher_logits is None else teacher_logits[batch], session.stage)
        penalty = session.penalty()
        (loss if penalty is None else loss + penalty).backward()
        session.constraints.mask_gradients()
        session.optimizer.step()
        session.constraints.enforce()
        total, batches = total + loss.item(), batches + 1
        if not math.isfinite(total):
            raise FlowError(f"training diverged in the {session.stage.kind} stage (loss {total / batches}); "
                            "lower that stage's lr and start again in a new --out")
    return total / batches


def _save(out: Path, model, state: RunState, session: StageSession | None) -> None:
    buffer = io.BytesIO()
    torch.save({
        "state_dict": model.state_dict(),
        "run": {**state.__dict__, "masks": {k: v.bool().cpu() for k, v in state.masks.items()},
                "teacher_logits": None if state.teacher_logits is None else state.teacher_logits.cpu()},
        "session": session.state_dict() if session else None,
    }, buffer)
    atomic_write_bytes(out / CHECKPOINT, buffer.getvalue())
    atomic_write_json(out / HISTORY, state.history)


def _load(out: Path, recipe: Recipe, device) -> tuple[torch.nn.Module, RunState, dict | None]:
    try:
        blob = torch.load(out / CHECKPOINT, map_location=device, weights_only=True)
        run = blob["run"]
        state = RunState(**{**run, "masks": {k: v.to(device).float() for k, v in run["masks"].items()},
                            "teacher_logits": None if run.get("teacher_logits") is None else run["teacher_logits"].to(device)})
        model = build_model(recipe.arch, state.weight_levels, recipe.activation_bits).to(device)
        load_weights(model, blob["state_dict"])
    except FlowError:
        raise
    except Exception as exc:
        raise FlowError(f"{out / CHECKPOINT} cannot be resumed ({str(exc).splitlines()[0][:120]}); "
                        "delete the run dir and start again") from None
    return model, state, blob["session"]


def _resolve_recipe(config: TrainConfig, out: Path) -> Recipe:
    stored = out / RECIPE
    if config.resume:
        if not (out / CHECKPOINT).is_file() or not stored.is_file():
            raise FlowError(f"nothing to resume in {out} (no {CHECKPOINT}); run without --resume to start")
        stored_tree = json.loads(stored.read_text())
        recipe = recipe_from_tree(stored_tree, where=str(stored))
        if config.recipe is not None or config.overrides:
            asked = (load_recipe(config.recipe, config.overrides) if config.recipe
                     else recipe_from_tree(stored_tree, config.overrides))
            if asked != recipe:
                raise FlowError(f"{out} was started with a different recipe; resume without --recipe/--set "
                                "or choose another --out")
        return recipe
    if (out / FINAL).is_file():
        raise FlowError(f"{out} already holds a finished run ({FINAL}); choose another --out or delete it")
    if (out / CHECKPOINT).is_file():
        raise FlowError(f"{out} holds an unfinished run; pass --resume to continue it or choose another --out")
    return load_recipe(config.recipe, config.overrides)


def _data_dir(config: TrainConfig, out: Path) -> Path | None:
    """A resumed run reads the data folder it started with unless --data-dir names another."""
    if config.data_dir is not None:
        return Path(config.data_dir)
    if config.resume and (out / DATA_DIR).is_file():
        return Path(json.loads((out / DATA_DIR).read_text())["data_dir"])
    return None


def check_recipe_against_model(recipe: Recipe, model: torch.nn.Module) -> None:
    """Every stage's per-layer settings against the model's layers and channel links, before any epoch is spent."""
    check_layer_settings(recipe, layer_sizes(model), bool(getattr(model, "channel_links", ())))


def _initial_state(recipe: Recipe, device) -> tuple[torch.nn.Module, RunState]:
    """Random weights, or an `init` checkpoint whose zero weights count as pruned (masks kept) and whose
    quantized layers stay on their levels (a quantize stage's snapshot can be retrained again)."""
    torch.manual_seed(recipe.seed)
    if recipe.init is None:
        return build_model(recipe.arch, None, recipe.activation_bits).to(device), RunState()
    model, blob = load_checkpoint(Path(recipe.init))
    if blob["arch"] != recipe.arch:
        raise FlowError(f"init checkpoint {recipe.init} is a '{blob['arch']}' model, this recipe trains "
                        f"'{recipe.arch}'; point init at a checkpoint of the same architecture")
    weight_levels = dict(blob.get("weight_levels") or {})
    float_reference = activation_bits_of(model) != recipe.activation_bits
    if float_reference:
        if activation_bits_of(model) is not None or weight_levels:
            raise FlowError(f"init checkpoint {recipe.init} has activation_bits {activation_bits_of(model)}, this "
                            f"recipe {recipe.activation_bits}; quantized activations start from a float, unquantized "
                            "checkpoint or one with the same activation_bits")
        float_model = model
        model = build_model(recipe.arch, None, recipe.activation_bits)
        model.load_state_dict(float_model.state_dict(), strict=False)  # the new quantizers calibrate in training
    model = model.to(device)
    masks = {name: (layer.weight != 0).float().detach() for name, layer in compressible_layers(model).items()
             if name in weight_levels or bool((layer.weight == 0).any())}
    return model, RunState(masks=masks, weight_levels=weight_levels, float_reference=float_reference)


def _teacher(recipe: Recipe, device) -> torch.nn.Module | None:
    if recipe.teacher is None:
        return None
    teacher, blob = load_checkpoint(Path(recipe.teacher))
    if blob["arch"] != recipe.arch:
        raise FlowError(f"teacher {recipe.teacher} is a '{blob['arch']}' model, this recipe trains '{recipe.arch}'; "
                        "point teacher at a checkpoint of the same architecture")
    return teacher.to(device).eval()


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda") or (name == "cuda" and not torch.cuda.is_available()):
        raise FlowError(f"device '{name}' is not available here; use --device cpu")
    return torch.device(name)


def train(config: TrainConfig = TrainConfig()) -> TrainResult:
    """Run a recipe's stages into a run dir, checkpointing every epoch; `resume` continues an interrupted run.

    Example::

        result = flow.train(flow.TrainConfig(recipe=Path("models/recipes/lenet5-admm-joint-progressive.yaml"),
                                             data_dir=Path("../shared/data/mnist")))
        result.compression["weight_data_bytes"], result.accuracy_drop_pp  # 900 bytes; about 0.2 pp (docs/compression.md)
    """
    out = Path(config.out) if config.out else Path("runs") / Path(config.recipe or "lenet-digits").stem
    prepare_output_dir(out)
    device = _device(config.device)
    recipe = _resolve_recipe(config, out)
    if config.resume:
        model, state, session_state = _load(out, recipe, device)
    else:
        (model, state), session_state = _initial_state(recipe, device), None
    check_recipe_against_model(recipe, model)
    if not config.resume:
        check_stages_against_init(recipe, set(state.weight_levels))
    teacher = _teacher(recipe, device)
    if teacher is None and state.float_reference:  # the float model as given, not its quantization-aware rebuild
        teacher = load_checkpoint(Path(recipe.init))[0].to(device).eval()
    data = load_data(recipe, _data_dir(config, out), device)
    if not config.resume:  # written only once every input is known good, so a refused run leaves --out as it was
        atomic_write_json(out / RECIPE, recipe.to_json())
        if config.data_dir is not None:
            atomic_write_json(out / DATA_DIR, {"data_dir": str(Path(config.data_dir).resolve())})
    started = time.perf_counter()

    def evaluate(candidate) -> float:
        return accuracy(candidate, *data.test)

    total_epochs = sum(stage.epochs for stage in recipe.stages)
    done_epochs = sum(stage.epochs for stage in recipe.stages[:state.stage_index]) + state.epochs_done
    with Progress(TextColumn("[bold]train[/] {task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} epochs {task.fields[status]}"), TimeElapsedColumn(),
                  disable=not config.show_progress) as progress:
        task = progress.add_task("", total=total_epochs, completed=done_epochs, status="")
        while state.stage_index < len(recipe.stages):
            stage = recipe.stages[state.stage_index]
            # the reference is the model as the previous stage left it: float activations after a float stage
            model.float_activations = recipe.stages[max(0, state.stage_index - 1)].float_activations
            if state.reference_accuracy is None and (teacher is not None or stage.kind in COMPRESS_KINDS):
                reference = model if teacher is None else teacher
                state.reference_accuracy = evaluate(reference)
                if any(later.distill for later in recipe.stages[state.stage_index:]):
                    state.teacher_logits = training_logits(reference, data.train[0])
            session = StageSession(stage, recipe.arch, model, state.masks, state.weight_levels, evaluate,
                                   starting=session_state is None)
            model = session.model
            model.float_activations = stage.float_activations
            if session_state is not None:
                session.load_state_dict(session_state)
                session_state = None
            progress.update(task, description=f"stage {state.stage_index} {stage.kind}")
            for epoch in range(state.epochs_done, stage.epochs):
                session.before_epoch(epoch)
                loss = _train_epoch(model, session, data, recipe.batch_size,
                                    _epoch_generator(recipe.seed, state.stage_index, epoch), state.teacher_logits)
                record = {"stage": state.stage_index, "kind": stage.kind, "epoch": epoch, "loss": round(loss, 5),
                          **session.after_epoch(epoch), "test_accuracy": evaluate(model)}
                state.history.append(record)
                state.epochs_done = epoch + 1
                if state.epochs_done == stage.epochs:
                    model = session.finish()
                    state.stage_results.append({"stage": state.stage_index, "kind": stage.kind,
                                                "test_accuracy": evaluate(model), **session.results})
                    save_checkpoint(model, recipe.arch, state.stage_results[-1],
                                    out / f"stage{state.stage_index}-{stage.kind}.pt", state.weight_levels)
                    state.stage_index, state.epochs_done, session = state.stage_index + 1, 0, None
                state.wall_s += time.perf_counter() - started
                started = time.perf_counter()
                _save(out, model, state, session)
                progress.update(task, advance=1,
                                status=f"loss {loss:.3f} acc {record['test_accuracy']:.4f}")
    return _finish(out, recipe, model, state, evaluate, len(data.test[1]))


def _finish(out: Path, recipe: Recipe, model, state: RunState, evaluate, test_samples: int) -> TrainResult:
    layers = compressible_layers(model)
    compression = account(model, layers, state.weight_levels, model.input_shape)
    final_accuracy = evaluate(model)
    metrics = {
        "dataset": recipe.dataset,
        "test_samples": test_samples,
        "test_accuracy": final_accuracy,
        "reference_accuracy": state.reference_accuracy,
        "accuracy_drop_pp": (None if state.reference_accuracy is None
                             else round(100 * (state.reference_accuracy - final_accuracy), 3)),
        "stages": state.stage_results,
        "epochs": sum(stage.epochs for stage in recipe.stages),
        "seed": recipe.seed,
        "wall_s": round(state.wall_s, 1),
        "weight_levels": state.weight_levels,
    }
    atomic_write_json(out / COMPRESSION, {"metrics": metrics, **compression})
    save_checkpoint(model.cpu(), recipe.arch, metrics, out / FINAL, state.weight_levels)
    (out / CHECKPOINT).unlink(missing_ok=True)
    return TrainResult(out=out, test_accuracy=final_accuracy, test_samples=test_samples,
                       reference_accuracy=state.reference_accuracy, accuracy_drop_pp=metrics["accuracy_drop_pp"],
                       stages=state.stage_results, compression=compression["total"], epochs=metrics["epochs"],
                       wall_s=metrics["wall_s"])
