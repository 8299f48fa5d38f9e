"""`flow plan`: hardware-aware compression (ADMM-NN section 5, Fig. 5): how hard to prune each layer for a board.

1. Every layer's compute C_i (dense MACs per image) and its break-even pruned portion b_i on the
   board (flow/breakeven.py).
2. One pruning strength s in [0, 1]: a conv layer is pruned by p_i = s * max_portion * C_i / max_j C_j,
   so the layers doing most of the work lose most weights; fully connected layers get the
   moderate p = s * fc_portion.
3. A layer whose p_i stays below b_i would gain no speed on the sparse kernel: it stays dense.
4. Binary search on s: each probe is a `flow train` run of the prune recipe from the pretrained
   model with those keep counts; the strongest s whose accuracy drop stays within the budget wins.

Writes plan.json (per layer: C_i, b_i, portion, keep count, dense or sparse; every probe) into the
plan dir; each probe's run dir is kept there, so an interrupted plan resumes where it stopped.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .boards import load_board
from .breakeven import break_even_portion
from .compress.accounting import output_positions
from .compress.recipe import RECIPES_DIR
from .errors import FlowError
from .estimate import LayerShape
from .paths import atomic_write_json
from .train import COMPRESSION, FINAL, TrainConfig, train
from .zoo import compressible_layers, load_checkpoint

PRUNE_RECIPE = RECIPES_DIR / "lenet5-admm-prune.yaml"
PLAN = "plan.json"


@dataclass(frozen=True)
class PlanConfig:
    init: Path  # the pretrained model (a flow train model.pt)
    board: str = "pynq-z2"
    budget_pp: float = 0.2  # accuracy drop allowed, percentage points of test accuracy
    out: Path = Path("runs/plan")
    data_dir: Path | None = None
    recipe: Path = PRUNE_RECIPE  # its first stage must prune; keep counts are set per probe
    overrides: tuple[str, ...] = ()
    max_portion: float = 0.98  # pruned portion of the most compute-heavy layer at s = 1
    fc_portion: float = 0.95  # fully connected layers at s = 1
    probes: int = 4  # binary-search steps
    weight_bits: int = 8  # for the break-even estimate: the bits the layers will be compiled with
    input_bits: int = 16
    show_progress: bool = True


@dataclass(frozen=True)
class LayerPlanInput:
    name: str
    kind: str  # conv | fc
    weights: int
    macs: int
    break_even: float | None


def layer_inputs(model: torch.nn.Module, board, weight_bits: int, input_bits: int) -> list[LayerPlanInput]:
    layers = compressible_layers(model)
    positions = output_positions(model, layers, model.input_shape)
    inputs = []
    for name, layer in layers.items():
        weight = layer.weight
        n_out, n_in = weight.shape[0], int(weight[0].numel())
        shape = LayerShape(name, n_in, n_out, positions=positions[name], weight_bits=weight_bits, input_bits=input_bits)
        inputs.append(LayerPlanInput(name=name, kind="conv" if weight.dim() > 2 else "fc", weights=int(weight.numel()),
                                     macs=int(weight.numel()) * positions[name],
                                     break_even=break_even_portion(shape, board, level_bits=weight_bits)))
    return inputs


def portions(layers: list[LayerPlanInput], strength: float, max_portion: float, fc_portion: float) -> dict[str, float]:
    """Fig. 5's allocation at strength s, with layers short of their break-even restored to dense (0)."""
    heaviest = max(layer.macs for layer in layers if layer.kind == "conv") if any(
        layer.kind == "conv" for layer in layers) else 1
    chosen = {}
    for layer in layers:
        portion = strength * (fc_portion if layer.kind == "fc" else max_portion * layer.macs / heaviest)
        below = layer.break_even is None or portion < layer.break_even
        chosen[layer.name] = 0.0 if below else portion
    return chosen


def keep_counts(layers: list[LayerPlanInput], chosen: dict[str, float]) -> dict[str, int]:
    return {layer.name: max(1, int(round(layer.weights * (1 - chosen[layer.name])))) for layer in layers}


def _probe(config: PlanConfig, strength: float, counts: dict[str, int]) -> dict:
    run_dir = config.out / f"probe-s{strength:.4f}"
    if not (run_dir / FINAL).is_file():
        keep = ", ".join(f"{name}: {count}" for name, count in counts.items())
        overrides = (*config.overrides, f"init={config.init}", f"stages.0.keep={{{keep}}}")
        train(TrainConfig(recipe=config.recipe, overrides=overrides, out=run_dir, data_dir=config.data_dir,
                          resume=(run_dir / "checkpoint.pt").is_file(), show_progress=config.show_progress))
    metrics = json.loads((run_dir / COMPRESSION).read_text())["metrics"]
    return {"strength": strength, "keep": counts, "run": str(run_dir), "test_accuracy": metrics["test_accuracy"],
            "accuracy_drop_pp": metrics["accuracy_drop_pp"]}


def plan(config: PlanConfig) -> dict:
    board = load_board(config.board)
    if not 0 < config.max_portion < 1 or not 0 < config.fc_portion < 1:
        raise FlowError("--max-portion and --fc-portion must be pruned portions between 0 and 1, e.g. 0.98")
    if config.probes < 1:
        raise FlowError("--probes must be at least 1")
    model, blob = load_checkpoint(Path(config.init))
    if blob.get("weight_levels") or any(bool((layer.weight == 0).any()) for layer in compressible_layers(model).values()):
        raise FlowError(f"{config.init} is already pruned or quantized; plan from a dense pretrained model.pt")
    config.out.mkdir(parents=True, exist_ok=True)
    layers = layer_inputs(model, board, config.weight_bits, config.input_bits)
    low, high, probes, best = 0.0, 1.0, [], None
    for _ in range(config.probes):
        strength = (low + high) / 2
        chosen = portions(layers, strength, config.max_portion, config.fc_portion)
        if not any(chosen.values()):  # every layer short of break-even: nothing to train, prune harder
            low = strength
            continue
        result = _probe(config, strength, keep_counts(layers, chosen))
        probes.append(result)
        if result["accuracy_drop_pp"] <= config.budget_pp:
            best, low = result, strength
        else:
            high = strength
        atomic_write_json(config.out / PLAN, _record(config, layers, probes, best))
    record = _record(config, layers, probes, best)
    atomic_write_json(config.out / PLAN, record)
    return record


def _record(config: PlanConfig, layers: list[LayerPlanInput], probes: list[dict], best: dict | None) -> dict:
    chosen = portions(layers, best["strength"], config.max_portion, config.fc_portion) if best else {}
    return {
        "board": config.board, "budget_pp": config.budget_pp, "init": str(config.init),
        "layers": [{**asdict(layer), "pruned_portion": round(chosen.get(layer.name, 0.0), 4),
                    "keep": best["keep"][layer.name] if best else layer.weights,
                    "kernel": "sparse" if chosen.get(layer.name) else "dense"} for layer in layers],
        "probes": probes,
        "chosen": best,
    }

