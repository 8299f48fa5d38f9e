"""Training recipes: a YAML list of stages (pretrain, ADMM prune, retrain, ADMM quantize, magnitude prune).

`--set stages.1.epochs=20` style overrides edit the YAML tree before validation, so a recipe on
disk plus its overrides is the whole description of a run.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from ..errors import FlowError
from ..paths import MODELS_DIR

RECIPES_DIR = MODELS_DIR / "recipes"
DEFAULT_RECIPE = RECIPES_DIR / "lenet-digits.yaml"
STAGE_KINDS = ("pretrain", "admm_prune", "retrain", "admm_quantize", "magnitude_prune")
PRUNE_KINDS = ("admm_prune", "magnitude_prune")
COMPRESS_KINDS = (*PRUNE_KINDS, "admm_quantize")
ALL_LAYERS = "*"  # what a single-number `bits` quantizes
DATASETS = ("digits", "mnist")
SCHEDULES = ("constant", "cosine")
MIN_BITS, MAX_BITS = 1, 16  # 2**bits nonzero levels; the hls4ml code container has bits + 1 bits


@dataclass(frozen=True)
class Stage:
    kind: str
    epochs: int
    lr: float = 1e-3
    schedule: str = "constant"
    # pruning: weights kept per layer, a count (>= 1) or a fraction (< 1); one number means every layer
    keep: dict | float | None = None
    # ADMM pruning: spend the keep counts only on weights that can reach the output (see channels.reachable_sets)
    reachable: bool = False
    # quantization: n bits per layer (2**n nonzero levels), one number means every layer
    bits: dict | int | None = None
    power_of_two: bool = False
    # quantization: first rescale channels across layers (function-preserving) to fit each layer's levels
    equalize: bool = False
    # retrain: the quantized layers' steps train too (LSQ); the levels stay equal-interval and nonzero
    learn_step: bool = False
    step_lr: float = 1e-5  # learn_step: Adam's lr for each log2(step)
    # retrain: the quantized layers' weights stay on the levels they have (biases and float layers train)
    freeze_levels: bool = False
    rho: float = 3e-3
    rho_growth: float = 1.0
    rho_max: float | None = None
    update_every: int = 1  # epochs between ADMM Z/U updates
    iterations: int = 1  # magnitude pruning: prune-then-retrain cycles (Han et al. 2015)
    # knowledge distillation from the model as it was before the first compression stage:
    # loss = (1 - distill) * CE + distill * T^2 * KL(teacher_T || student_T), T = distill_temperature
    distill: float = 0.0
    distill_temperature: float = 4.0
    # train with float ReLUs where the recipe's activation_bits put quantizers: the float reference
    # model of a quantization-aware run; only stages before every quantization-aware one
    float_activations: bool = False


@dataclass(frozen=True)
class Recipe:
    arch: str
    dataset: str
    stages: tuple[Stage, ...]
    seed: int = 0
    batch_size: int = 64
    init: str | None = None  # start from this flow checkpoint (a pretrained or pruned model.pt); its zeros stay pruned
    # the model distilling stages follow and the accuracy drop is measured against; default: the model
    # as the first compression stage starts. Set it with `init` at a run's stage snapshot (e.g.
    # stage2-retrain.pt) to go on from there against the same dense model as the whole run.
    teacher: str | None = None
    train_subset: int | None = None  # first N training images; tests use small subsets
    test_subset: int | None = None
    # quantized activations (site -> bits; LeNet-5: input, conv1, conv2, fc1); None: the architecture's own
    activation_bits: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)


def apply_override(tree: dict, assignment: str) -> None:
    """`a.b.0.c=value`: walk dicts by key and lists by index, parse value as YAML."""
    if "=" not in assignment:
        raise FlowError(f"override '{assignment}' is not key=value; write e.g. --set stages.1.epochs=20")
    path, raw = assignment.split("=", 1)
    keys = path.strip().split(".")
    node = tree
    try:
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        last = keys[-1]
        value = yaml.safe_load(raw)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    except (ValueError, IndexError, TypeError, yaml.YAMLError):
        raise FlowError(f"override '{assignment}' does not address the recipe; e.g. --set stages.1.epochs=20") from None


def _build(cls, tree, where: str):
    if not isinstance(tree, dict):
        raise FlowError(f"{where} must be a mapping of {', '.join(f.name for f in fields(cls))}")
    names = {f.name for f in fields(cls)}
    unknown = set(tree) - names
    if unknown:
        raise FlowError(f"{where} has unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(names))}")
    try:
        return cls(**tree)
    except TypeError as exc:
        raise FlowError(f"{where}: {exc}") from None


def _positive_int(value, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FlowError(f"{what} must be a whole number >= 1, got {value!r}")


def _validate_stage(stage: Stage, where: str, quantized_before: bool, teacher_known: bool) -> None:
    if stage.kind not in STAGE_KINDS:
        raise FlowError(f"{where}: unknown kind '{stage.kind}'; choose one of {', '.join(STAGE_KINDS)}")
    _positive_int(stage.epochs, f"{where}.epochs")
    _positive_int(stage.update_every, f"{where}.update_every")
    _positive_int(stage.iterations, f"{where}.iterations")
    for name in ("lr", "step_lr", "rho", "rho_growth", "rho_max", "distill", "distill_temperature"):
        value = getattr(stage, name)
        if name == "rho_max" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FlowError(f"{where}.{name} must be a number, got {value!r} (YAML reads 1e-3 as text; write 1.0e-3)")
    if not (stage.lr > 0 and stage.step_lr > 0 and stage.rho > 0 and stage.rho_growth >= 1):
        raise FlowError(f"{where}: lr, step_lr and rho must be > 0 and rho_growth >= 1")
    if not (0 <= stage.distill <= 1 and stage.distill_temperature > 0):
        raise FlowError(f"{where}: distill must be in [0, 1] and distill_temperature > 0")
    if stage.schedule not in SCHEDULES:
        raise FlowError(f"{where}: schedule '{stage.schedule}' unknown; choose {' or '.join(SCHEDULES)}")
    if stage.kind in PRUNE_KINDS:
        if stage.keep is None:
            raise FlowError(f"{where}: a {stage.kind} stage needs 'keep' (count or fraction per layer)")
        if quantized_before:
            raise FlowError(f"{where}: pruning after quantization is not supported; move it before admm_quantize")
        if stage.kind == "magnitude_prune" and stage.epochs % stage.iterations:
            raise FlowError(f"{where}: epochs ({stage.epochs}) must be a multiple of iterations ({stage.iterations})")
    if stage.distill and not (teacher_known or stage.kind in COMPRESS_KINDS):
        raise FlowError(f"{where}: distill needs a teacher, the model before the first prune or quantize stage; "
                        "use it on that stage or a later one, or name one with 'teacher'")
    if stage.kind == "admm_quantize" and stage.bits is None:
        raise FlowError(f"{where}: an admm_quantize stage needs 'bits' (per layer or one number)")
    for name, kinds in (("keep", PRUNE_KINDS), ("bits", ("admm_quantize",))):
        if getattr(stage, name) is not None and stage.kind not in kinds:
            raise FlowError(f"{where}: '{name}' does nothing in a {stage.kind} stage; remove it or change the kind")
    for layer, value in _settings(stage.keep):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise FlowError(f"{where}.keep{layer} must be a count >= 1 or a fraction in (0, 1), got {value!r}")
    for layer, value in _settings(stage.bits):
        if isinstance(value, bool) or not isinstance(value, int) or not MIN_BITS <= value <= MAX_BITS:
            raise FlowError(f"{where}.bits{layer} must be a whole number of bits from {MIN_BITS} to {MAX_BITS}, "
                            f"got {value!r}")
    for name in ("power_of_two", "learn_step", "freeze_levels", "equalize", "reachable", "float_activations"):
        if not isinstance(getattr(stage, name), bool):
            raise FlowError(f"{where}.{name} must be true or false, got {getattr(stage, name)!r}")
    if stage.learn_step and stage.kind != "retrain":
        raise FlowError(f"{where}: learn_step trains quantization steps in a retrain stage; remove it from {stage.kind}")
    if stage.freeze_levels and (stage.kind != "retrain" or stage.learn_step):
        raise FlowError(f"{where}: freeze_levels keeps a retrain stage's quantized weights as they are; use it in a "
                        "retrain stage without learn_step")
    if stage.equalize and stage.kind != "admm_quantize":
        raise FlowError(f"{where}: equalize rescales channels before quantization; remove it from {stage.kind}")
    if stage.reachable and stage.kind != "admm_prune":
        raise FlowError(f"{where}: reachable shapes ADMM pruning's projection; remove it from {stage.kind}")


def _settings(setting) -> list[tuple[str, object]]:
    """(".layer", value) per layer of a per-layer mapping, ("", value) for one number, nothing when unset."""
    if setting is None:
        return []
    return [(f".{name}", value) for name, value in setting.items()] if isinstance(setting, dict) else [("", setting)]


def _quantized_layers(stage: Stage) -> set[str]:
    """The layers an admm_quantize stage names, or {ALL_LAYERS} for one bit width for every layer."""
    return set(stage.bits) if isinstance(stage.bits, dict) else {ALL_LAYERS}


def load_recipe(path: Path | None = None, overrides: tuple[str, ...] = ()) -> Recipe:
    path = Path(path) if path else DEFAULT_RECIPE
    if not path.is_file():
        shipped = ", ".join(sorted(p.name for p in RECIPES_DIR.glob("*.yaml")))
        raise FlowError(f"recipe not found: {path}; pass a YAML recipe such as models/recipes/{{{shipped}}}")
    try:
        tree = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FlowError(f"recipe {path} is not valid YAML ({str(exc).splitlines()[0]}); fix the file") from None
    return recipe_from_tree(tree, overrides, str(path))


def recipe_from_tree(tree, overrides: tuple[str, ...] = (), where: str = "recipe") -> Recipe:
    if not isinstance(tree, dict):
        raise FlowError(f"{where} must be a YAML mapping with arch, dataset and stages")
    tree = copy.deepcopy(tree)  # overrides must not edit the caller's tree
    for assignment in overrides:
        apply_override(tree, assignment)
    stages_tree = tree.get("stages")
    if not isinstance(stages_tree, list) or not stages_tree:
        raise FlowError(f"{where} needs a non-empty 'stages' list")
    stages = tuple(_build(Stage, s, f"stages.{i}") for i, s in enumerate(stages_tree))
    recipe = _build(Recipe, {**tree, "stages": stages}, where)
    if recipe.dataset not in DATASETS:
        raise FlowError(f"{where}: dataset '{recipe.dataset}' unknown; choose {' or '.join(DATASETS)}")
    _positive_int(recipe.batch_size, "batch_size")
    if isinstance(recipe.seed, bool) or not isinstance(recipe.seed, int) or recipe.seed < 0:
        raise FlowError(f"{where}: seed must be a whole number >= 0, got {recipe.seed!r}")
    if not isinstance(recipe.arch, str) or not all(path is None or isinstance(path, str)
                                                    for path in (recipe.init, recipe.teacher)):
        raise FlowError(f"{where}: arch, init and teacher must be text (an architecture name, checkpoint paths)")
    for subset in ("train_subset", "test_subset"):
        if getattr(recipe, subset) is not None:
            _positive_int(getattr(recipe, subset), subset)
    _validate_activations(recipe, where)
    quantized, teacher_known = set(), recipe.teacher is not None
    for index, stage in enumerate(stages):
        _validate_stage(stage, f"stages.{index}", bool(quantized), teacher_known)
        if stage.kind == "admm_quantize":
            # progressive quantization may take layers in turns, each layer once
            layers = _quantized_layers(stage)
            if quantized and (ALL_LAYERS in quantized or ALL_LAYERS in layers or quantized & layers):
                again = sorted(quantized & layers) or ["every layer"]
                raise FlowError(f"stages.{index} quantizes {', '.join(again)} again; each layer is quantized in "
                                "one admm_quantize stage (name the layers per stage to quantize them in turns)")
            quantized |= layers
        teacher_known = teacher_known or stage.kind in COMPRESS_KINDS
    return recipe


def _validate_activations(recipe: Recipe, where: str) -> None:
    bits = recipe.activation_bits
    if bits is not None and (not isinstance(bits, dict) or not bits or any(
            isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= 16 for v in bits.values())):
        raise FlowError(f"{where}: activation_bits must map activation sites to whole numbers of bits from 2 to 16, "
                        f"got {bits!r}")
    floats = [stage.float_activations for stage in recipe.stages]
    if any(floats) and bits is None:
        raise FlowError(f"{where}: float_activations trains float stand-ins for quantized activations; set "
                        "activation_bits or remove float_activations")
    if floats[floats.index(False) if False in floats else len(floats):].count(True) or all(floats):
        raise FlowError(f"{where}: float_activations stages must come first and be followed by at least one "
                        "quantization-aware stage (the model a run ends with has quantized activations)")
    first_quantize = next((i for i, s in enumerate(recipe.stages) if s.kind == "admm_quantize"), len(floats))
    if any(floats[first_quantize:]):
        raise FlowError(f"stages.{first_quantize}: weight levels need quantized activations (the bias grid is "
                        "input scale x weight step); end the float_activations stages before admm_quantize")


def per_layer(setting, layer_sizes: dict[str, int], what: str) -> dict:
    """Expand one number to every layer, check a mapping names only real layers."""
    if isinstance(setting, dict):
        unknown = set(setting) - set(layer_sizes)
        if unknown:
            raise FlowError(f"{what} names unknown layer(s) {sorted(unknown)}; layers: {', '.join(layer_sizes)}")
        return dict(setting)
    return {name: setting for name in layer_sizes}


def keep_counts(keep, layer_sizes: dict[str, int]) -> dict[str, int]:
    """Counts (>= 1) pass through, fractions (< 1) scale the layer size; unnamed layers keep everything."""
    counts = {}
    for name, value in per_layer(keep, layer_sizes, "keep").items():
        size = layer_sizes[name]
        count = int(value) if value >= 1 else max(1, int(round(value * size)))
        if not (value > 0 and count <= size):
            raise FlowError(f"keep for {name} is {value}; use a fraction in (0, 1) or a count in 1..{size}")
        counts[name] = count
    return counts


def check_layer_settings(recipe: Recipe, layer_sizes: dict[str, int], linked: bool) -> None:
    """Every stage's per-layer keep and bits against the real layers, and the settings that follow channels from
    layer to layer (equalize, reachable) against the architecture, before any epoch is spent."""
    for index, stage in enumerate(recipe.stages):
        for setting in ("equalize", "reachable"):
            if getattr(stage, setting) and not linked:
                raise FlowError(f"stages.{index}: architecture '{recipe.arch}' declares no channel links between its "
                                f"layers, which '{setting}' needs; remove it")
        try:
            if stage.keep is not None:
                keep_counts(stage.keep, layer_sizes)
            if stage.bits is not None:
                per_layer(stage.bits, layer_sizes, "bits")
        except FlowError as exc:
            raise FlowError(f"stages.{index}: {exc}") from None


def check_stages_against_init(recipe: Recipe, init_quantized: set[str]) -> None:
    """What a run may do after its init's quantized layers: retrain them or quantize the others, nothing more;
    and a learn_step or freeze_levels stage needs quantized layers before it."""
    quantized = set(init_quantized)
    for index, stage in enumerate(recipe.stages):
        if stage.kind in PRUNE_KINDS and init_quantized:
            raise FlowError(f"stages.{index} prunes, but init {recipe.init} is already quantized "
                            f"({', '.join(sorted(init_quantized))}); start from the snapshot before its admm_quantize stage")
        if stage.kind == "admm_quantize":
            layers = _quantized_layers(stage)
            again = sorted(init_quantized if ALL_LAYERS in layers else init_quantized & layers)
            if again:
                raise FlowError(f"stages.{index} quantizes {', '.join(again)} again, but init {recipe.init} already has "
                                "their levels; quantize only the other layers or start from an unquantized snapshot")
            quantized |= layers
        for setting in ("learn_step", "freeze_levels"):
            if getattr(stage, setting) and not quantized:
                raise FlowError(f"stages.{index}: {setting} needs quantized layers; put it after an admm_quantize "
                                "stage or start from a quantized snapshot (init)")
