"""A build config's `layers:` table (flow/build/config.py) applied to an hls4ml model: names, kernels, types.

Layer names are hls4ml's (`Conv2D_Conv_0`, as design.json and `flow report` show them) or, where
the source lists as many weight layers as hls4ml has (a flow checkpoint: conv1, fc1), the source's
own, which map in graph order. A layer's Strategy, ReuseFactor or PEs cut its chooser menu to the
candidates they allow (the chooser still picks among those: Resource without a ReuseFactor takes the
reuse factor the design needs). Its Precision wins over flow's exact types: weight, bias and accum
go into the layer's hls4ml config, result into ExactResults (so hls4ml still fuses the bias add
after it, flow/hls4ml/exact_results.py).
"""
from __future__ import annotations

from ..build.config import PRECISION_VARIABLES
from ..cost.candidates import Candidate
from ..cost.kernels import UNROLLED
from ..errors import FlowError
from .nodes import DENSE_WEIGHT_LAYERS, weight_layers

# a layer's Strategy -> the chooser's kernel (flow/cost/candidates.py KERNELS)
KERNEL_OF_STRATEGY = {"Latency": "latency", "Resource": "resource", "distributed_arithmetic": UNROLLED,
                      "Sparse": "sparse"}
KERNEL_KEYS = ("Strategy", "ReuseFactor", "PEs")


def dense_weight_names(model) -> list[str]:
    return [node.name for node in weight_layers(model) if node.class_name in DENSE_WEIGHT_LAYERS]


def resolve_names(names, model, source_layers: list[str], weight_only: bool, what: str) -> dict[str, str]:
    """user name -> hls4ml name, for hls4ml's names and (mapped in graph order) the source's weight layers';
    FlowError naming the first unknown one and the names that are known."""
    weights = dense_weight_names(model)
    by_source = dict(zip(source_layers, weights)) if len(source_layers) == len(weights) else {}
    known = weights if weight_only else [node.name for node in model.get_layers()]
    resolved = {name: by_source.get(name, name) for name in names}
    unknown = [name for name, hls_name in resolved.items() if hls_name not in known]
    if unknown:
        listed = ", ".join(known + [f"{source} (= {hls_name})" for source, hls_name in by_source.items()])
        kind = "layers with weights" if weight_only else "layers"
        raise FlowError(f"{what}: unknown layer {unknown[0]!r}; {kind}: {listed}")
    twice = [name for name, hls_name in resolved.items() if list(resolved.values()).count(hls_name) > 1]
    if twice:
        raise FlowError(f"{what}: layer {resolved[twice[0]]} named twice ({' and '.join(twice)}); keep one")
    return resolved


def kernel_pins(layers: dict, model, source_layers: list[str]) -> dict[str, dict]:
    """hls4ml name -> the Strategy / ReuseFactor / PEs the config's `layers:` pins it to."""
    pinning = {name: {k: v for k, v in settings.items() if k in KERNEL_KEYS} for name, settings in layers.items()}
    pinning = {name: pins for name, pins in pinning.items() if pins}
    names = resolve_names(pinning, model, source_layers, weight_only=True, what="build config layers")
    return {names[name]: pins for name, pins in pinning.items()}


def allows(candidate: Candidate, pins: dict) -> bool:
    strategy = pins.get("Strategy")
    return ((strategy is None or candidate.kernel == KERNEL_OF_STRATEGY[strategy])
            and ("ReuseFactor" not in pins or (candidate.kernel != "sparse"
                                               and candidate.reuse_factor == pins["ReuseFactor"]))
            and ("PEs" not in pins or candidate.pes == pins["PEs"]))


def menu_text(menu: list[Candidate]) -> str:
    """A menu as a user would write its choices: Latency; Resource at ReuseFactor 1, 2, 4; Sparse at PEs 1-16."""
    parts = []
    for strategy, kernel in KERNEL_OF_STRATEGY.items():
        found = [c for c in menu if c.kernel == kernel]
        if not found:
            continue
        if kernel == "resource":
            parts.append(f"{strategy} at ReuseFactor {', '.join(str(c.reuse_factor) for c in found)}")
        elif kernel == "sparse":
            parts.append(f"{strategy} at PEs {min(c.pes for c in found)}-{max(c.pes for c in found)}")
        else:
            parts.append(strategy)
    return "; ".join(parts)


def pinned_menus(menus: dict[str, list[Candidate]], pins: dict[str, dict]) -> dict[str, list[Candidate]]:
    """The menus with each pinned layer's cut to the candidates its pins allow; FlowError where none is left."""
    cut = dict(menus)
    for name, layer_pins in pins.items():
        cut[name] = [c for c in menus[name] if allows(c, layer_pins)]
        if not cut[name]:
            asked = ", ".join(f"{key} {value}" for key, value in layer_pins.items())
            raise FlowError(f"layers: {name}: no kernel on its menu has {asked}; it offers {menu_text(menus[name])}")
    return cut


def precision_pins(layers: dict, model, source_layers: list[str]) -> dict[str, dict[str, str]]:
    """hls4ml name -> variable -> the type the config's `layers:` gives it (a single type: every variable)."""
    typed = {name: settings["Precision"] for name, settings in layers.items() if "Precision" in settings}
    names = resolve_names(typed, model, source_layers, weight_only=False, what="build config layers")
    return {names[name]: (dict.fromkeys(PRECISION_VARIABLES, precision) if isinstance(precision, str)
                          else dict(precision))
            for name, precision in typed.items()}


def apply_precisions(pins: dict[str, dict[str, str]], hls_config: dict) -> None:
    """Write the user's types into hls_config: results into ExactResults, the rest into the layer's Precision."""
    from .exact_results import EXACT_RESULTS_KEY
    from .nodes import layer_precisions

    results = hls_config["Model"].setdefault(EXACT_RESULTS_KEY, {})
    for name, variables in pins.items():
        for variable, precision in variables.items():
            if variable == "result":
                results[name] = precision
            else:
                layer_precisions(hls_config, name)[variable] = precision
