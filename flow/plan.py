"""`flow plan`: hardware-aware compression (ADMM-NN section 5, Fig. 5): how hard to prune each layer for a board.

1. Every layer's compute C_i (dense MACs per image) and its break-even pruned portion b_i on the
   board (flow/cost/breakeven.py): at the plan's target rate, or without one the least over the
   layer's rates.
2. One pruning strength s in [0, 1]: a conv layer is pruned by p_i = s * max_portion * C_i / max_j C_j,
   so the layers doing most of the work lose most weights; fully connected layers get the
   moderate p = s * fc_portion.
3. A layer whose p_i stays below b_i would gain no speed on the sparse kernel: it is not pruned.
   The sparse kernel stores level codes, so a layer the recipe does not quantize is not pruned either.
4. A strength whose weights would not fit the board's BRAM (estimated from the keep counts and
   bits) is too weak: the search moves up without training.
5. Binary search on s: each probe is a `flow train` run of the recipe (prune, then quantize) from
   the pretrained model with those keep counts; the strongest s whose accuracy drop stays within
   the budget wins.
6. The winner is compiled for the board by `flow compile` as a user runs it: the design chooser
   (flow/cost/chooser.py) picks each layer's kernel, the highest rate within the board's share; its
   weights must fit the board's BRAM (the compile refuses otherwise) and csim must match; whether
   the whole estimated design fits is recorded, and it is built either way (--allow-overfull): the
   search prices weight memory only, not the whole design.

Writes plan.json (per layer: C_i, b_i, portion, keep count, whether pruned; every probe; the
build) into the plan dir; each probe's run dir is kept there, so an interrupted plan resumes where
it stopped.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .boards import load_board
from .build import BuildConfig
from .build.artifacts import DESIGN
from .build import compile as compile_build
from .compress.accounting import output_positions
from .compress.recipe import PRUNE_KINDS, RECIPES_DIR, load_recipe, per_layer
from .cost.breakeven import KernelCosts, best_index_bits, expected_entries, rate_break_even
from .cost.kernels import LayerShape
from .deploy.pynq_driver import FixedPoint
from .errors import FlowError
from .paths import atomic_write_json, prepare_output_dir
from .sparse.memory import Footprint, dense_footprint, sparse_footprint
from .train import COMPRESSION, FINAL, TrainConfig, train
from .zoo import compressible_layers, layer_sizes, load_checkpoint

PLAN_RECIPE = RECIPES_DIR / "lenet5-admm-prune-quantize.yaml"
PLAN = "plan.json"
BUILD_DIR = "build"


@dataclass(frozen=True)
class PlanConfig:
    """What `flow plan` searches: one field per CLI flag, plus the allocation's constants."""

    #: the dense pretrained model (a flow train model.pt)
    init: Path
    #: board whose break-even and BRAM decide how hard to prune each layer
    board: str = "pynq-z2"
    #: accuracy drop allowed, percentage points of test accuracy
    budget_pp: float = 0.2
    #: plan dir: plan.json, one run dir per probe, build/
    out: Path = Path("runs/plan")
    #: folder with the MNIST IDX files
    data_dir: Path | None = None
    #: the recipe each probe runs; its first stage must prune, keep counts are set per probe
    recipe: Path = PLAN_RECIPE
    #: recipe overrides key=value for every probe
    overrides: tuple[str, ...] = ()
    #: pruned portion of the most compute-heavy layer at strength 1
    max_portion: float = 0.98
    #: pruned portion of fully connected layers at strength 1
    fc_portion: float = 0.95
    #: binary-search steps on the strength
    probes: int = 4
    #: input bits the break-even estimate assumes
    input_bits: int = 16
    #: inferences per second the plan prunes for (a layer is pruned only beyond its break-even at that rate)
    #: and the compile then meets at the least area; None: each layer's least break-even over its rates, and
    #: the compile's highest rate within the board
    target_fps: float | None = None
    #: compile the chosen model for the board
    compile: bool = True
    #: held-out samples the build's verify step compares csim on
    compile_samples: int = 500
    #: show rich progress bars
    show_progress: bool = True


@dataclass(frozen=True)
class PlanResult:
    """plan.json as a dataclass: per layer the allocation, every probe, the chosen one and its build."""

    path: Path  # plan.json
    board: str
    budget_pp: float
    bram18_budget: int
    layers: list  # per layer: name, kind, weights, macs, break_even, bits, pruned_portion, keep, pruned
    probes: list  # per probe: strength, keep counts, estimated_bram18, trained, and accuracy when trained
    chosen: dict | None  # the strongest probe within the budget; None if none was
    build: dict | None  # the chosen model's `flow compile`, when compiled


@dataclass(frozen=True)
class LayerPlanInput:
    name: str
    kind: str  # conv | fc
    weights: int
    macs: int
    break_even: float | None  # None: the sparse kernel never pays off, or the layer is not quantized
    n_in: int = 0
    n_out: int = 0
    bits: int | None = None  # ADMM-NN level bits the recipe quantizes the layer to; None: it stays float


def dense_weight_bits(level_bits: int | None) -> int:
    """A dense weight's width as compiled: narrow-range codes +-1 .. +-2**(b-1) need b + 1 bits;
    unquantized weights take the build's default precision (32 for fixed<32,16>)."""
    return level_bits + 1 if level_bits else FixedPoint(BuildConfig.default_precision).width


def recipe_bits(config: PlanConfig, sizes: dict[str, int]) -> dict[str, int]:
    recipe = load_recipe(config.recipe, config.overrides)
    if not recipe.stages or recipe.stages[0].kind not in PRUNE_KINDS:
        raise FlowError(f"{config.recipe}: a plan recipe must start with a prune stage (admm_prune or magnitude_prune)")
    bits = {}
    for stage in recipe.stages:
        if stage.kind == "admm_quantize":
            bits.update(per_layer(stage.bits, sizes, "bits"))
    return {name: int(value) for name, value in bits.items()}


def layer_inputs(model: torch.nn.Module, board, bits: dict[str, int], input_bits: int,
                 target_fps: float | None = None) -> list[LayerPlanInput]:
    layers = compressible_layers(model)
    positions = output_positions(model, layers, model.input_shape)
    inputs = []
    for name, layer in layers.items():
        weight = layer.weight
        n_out, n_in = weight.shape[0], int(weight[0].numel())
        level_bits = bits.get(name)
        shape = LayerShape(name, n_in, n_out, positions=positions[name], weight_bits=dense_weight_bits(level_bits),
                           input_bits=input_bits)
        break_even = None
        if level_bits and target_fps:
            costs = KernelCosts(shape, board, code_bits=level_bits, level_bits=level_bits)
            break_even = costs.break_even_at(max(1, math.floor(board.clock_hz / target_fps)))
        elif level_bits:
            break_even = rate_break_even(shape, board, code_bits=level_bits, level_bits=level_bits).break_even_portion
        inputs.append(LayerPlanInput(name=name, kind="conv" if weight.dim() > 2 else "fc", weights=int(weight.numel()),
                                     macs=int(weight.numel()) * positions[name], break_even=break_even,
                                     n_in=n_in, n_out=n_out, bits=level_bits))
    return inputs


def weight_memory(layer: LayerPlanInput, keep: int) -> Footprint:
    """Estimated on-chip weight memory: the dense array, or one sparse PE's expected entries (flow/cost/breakeven.py)."""
    if keep >= layer.weights or not layer.bits:
        return dense_footprint(layer.n_in, layer.n_out, dense_weight_bits(layer.bits))
    pruned = 1 - keep / layer.weights
    index_bits = best_index_bits(keep, pruned, layer.bits, layer.n_in)
    entries = math.ceil(expected_entries(keep, pruned, index_bits))
    return sparse_footprint(1, entries, index_bits + layer.bits, layer.n_out, 1)


def estimated_bram18(layers: list[LayerPlanInput], counts: dict[str, int]) -> int:
    return sum(weight_memory(layer, counts[layer.name]).bram18 for layer in layers)


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


def plan(config: PlanConfig) -> PlanResult:
    """Binary-search the pruning strength under the accuracy budget, training one probe per step, and compile
    the winner; writes plan.json into `config.out`, where an interrupted plan resumes.

    Example::

        result = flow.plan(flow.PlanConfig(init=Path("runs/lenet5-pretrain/model.pt"),
                                           data_dir=Path("../shared/data/mnist"), budget_pp=0.5))
        [(layer["name"], layer["pruned"], layer["keep"]) for layer in result.layers]
    """
    board = load_board(config.board)
    if not 0 < config.max_portion < 1 or not 0 < config.fc_portion < 1:
        raise FlowError("--max-portion and --fc-portion must be pruned portions between 0 and 1, e.g. 0.98")
    if config.target_fps is not None and config.target_fps <= 0:
        raise FlowError("--target-fps must be above 0 (inferences per second)")
    if config.probes < 1:
        raise FlowError("--probes must be at least 1")
    model, blob = load_checkpoint(Path(config.init))
    if blob.get("weight_levels") or any(bool((layer.weight == 0).any()) for layer in compressible_layers(model).values()):
        raise FlowError(f"{config.init} is already pruned or quantized; plan from a dense pretrained model.pt")
    sizes = layer_sizes(model)
    layers = layer_inputs(model, board, recipe_bits(config, sizes), config.input_bits, config.target_fps)
    prepare_output_dir(config.out)
    low, high, probes, best = 0.0, 1.0, [], None
    for _ in range(config.probes):
        strength = (low + high) / 2
        chosen = portions(layers, strength, config.max_portion, config.fc_portion)
        counts = keep_counts(layers, chosen)
        bram18 = estimated_bram18(layers, counts)
        if not any(chosen.values()) or bram18 > board.resources["bram18"]:
            # nothing worth the sparse kernel yet, or the weights overflow the board: prune harder, no training
            probes.append({"strength": strength, "keep": counts, "estimated_bram18": bram18, "trained": False})
            low = strength
            continue
        result = {**_probe(config, strength, counts), "estimated_bram18": bram18, "trained": True}
        probes.append(result)
        if result["accuracy_drop_pp"] <= config.budget_pp:
            best, low = result, strength
        else:
            high = strength
        atomic_write_json(config.out / PLAN, _record(config, board, layers, probes, best))
    record = _record(config, board, layers, probes, best)
    if best and config.compile:
        record["build"] = _compile(config, record)
    atomic_write_json(config.out / PLAN, record)
    return PlanResult(path=config.out / PLAN, board=record["board"], budget_pp=record["budget_pp"],
                      bram18_budget=record["bram18_budget"], layers=record["layers"], probes=record["probes"],
                      chosen=record["chosen"], build=record.get("build"))


def _compile(config: PlanConfig, record: dict) -> dict:
    """The chosen model through `flow compile`, its kernels picked by the design chooser."""
    build_dir = config.out / BUILD_DIR
    build_config = BuildConfig(board=config.board, model=Path(record["chosen"]["run"]) / FINAL, out=build_dir,
                               data_dir=config.data_dir, n_samples=config.compile_samples, allow_overfull=True,
                               target_fps=config.target_fps, show_progress=config.show_progress)
    summary = compile_build(build_config).summary
    steps, design = summary["steps"], json.loads((build_dir / DESIGN).read_text())
    return {"dir": str(build_dir), "sparse": build_config.sparse,
            "kernels": {layer["name"]: layer["label"] for layer in design["layers"]},
            "throughput_fps": design["throughput_fps"],
            "sparse_hls4ml_layers": steps["hls4ml"]["sparse_layers"], "weight_bram18": steps["hls4ml"]["weight_bram18"],
            # the whole design at the implementation level; the plan records it, the build goes on regardless
            "estimated_resources_fit": steps["estimate"]["fits"],
            "csim_passed": bool(summary["verification"] and summary["verification"]["passed"])}


def _record(config: PlanConfig, board, layers: list[LayerPlanInput], probes: list[dict], best: dict | None) -> dict:
    chosen = portions(layers, best["strength"], config.max_portion, config.fc_portion) if best else {}
    return {
        "board": config.board, "budget_pp": config.budget_pp, "init": str(config.init), "recipe": str(config.recipe),
        "bram18_budget": board.resources["bram18"],
        "layers": [{**asdict(layer), "pruned_portion": round(chosen.get(layer.name, 0.0), 4),
                    "keep": best["keep"][layer.name] if best else layer.weights,
                    "pruned": bool(chosen.get(layer.name))} for layer in layers],
        "probes": probes,
        "chosen": best,
    }
