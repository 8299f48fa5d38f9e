"""Plots beside report.md, and the PNG writing every plot of a build shares.

`flow report` draws these from a build's estimates.json:

- layers.png: per weight layer, the weights it keeps (share and count) and their bits, with its kernel;
- resources.png: per resource, the whole design's share of the board stacked by node (each weight layer,
  then the other nodes by kind), estimated at the implementation level the fit is judged at.

breakeven.png (flow/cost/breakeven.py) and pareto.png (flow/cost/pareto.py) are drawn by the steps that make
their data.
"""
from __future__ import annotations

from pathlib import Path

LAYERS_PLOT = "layers.png"
RESOURCES_PLOT = "resources.png"
RESOURCE_NAMES = {"dsp": "DSP", "bram18": "BRAM18", "lut": "LUT", "ff": "FF"}


def new_figure(**size):
    """A matplotlib Figure outside pyplot: drawing it never switches the backend of a notebook that imports flow."""
    from matplotlib.figure import Figure

    return Figure(**size)


def save_figure(figure, path: Path) -> None:
    """Write the figure as a PNG through a temporary name, so a half-written plot never looks finished."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial.png")
    figure.savefig(partial, dpi=120)
    partial.replace(path)


def plot_layers(estimates: dict, path: Path) -> None:
    """layers.png: per layer its weights and the kept ones (log scale, kept share on top), and the weight bits."""
    from matplotlib.ticker import MaxNLocator

    layers = estimates["layers"]
    names = [layer["name"] for layer in layers]
    weights = [layer["shape"]["n_in"] * layer["shape"]["n_out"] for layer in layers]
    kept = [layer["shape"]["nonzeros"] for layer in layers]
    places = range(len(layers))
    figure = new_figure(figsize=(9, 4))
    count_axes, bits_axes = figure.subplots(1, 2)
    count_axes.bar([x - 0.2 for x in places], weights, width=0.4, color="tab:gray", alpha=0.5, label="weights")
    bars = count_axes.bar([x + 0.2 for x in places], [max(k, 0.5) for k in kept], width=0.4, color="tab:blue",
                          label="kept")
    for bar, count, total in zip(bars, kept, weights):
        count_axes.annotate(f"{100 * count / total:.2g}%", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
    count_axes.set_yscale("log")
    count_axes.set_ylabel("weights (log scale)")
    count_axes.set_title("Weights kept after pruning (% of the layer's)", fontsize=10)
    count_axes.legend(fontsize=7)
    bars = bits_axes.bar(list(places), [layer["shape"]["weight_bits"] for layer in layers], color="tab:orange")
    for bar, layer in zip(bars, layers):
        bits_axes.annotate(layer["kernel"], (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                           va="bottom", fontsize=7)
    bits_axes.set_ylabel("bits per weight (hls4ml weight type)")
    bits_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    bits_axes.set_title("Weight bits, and the kernel each layer is built with", fontsize=10)
    for axes in (count_axes, bits_axes):
        axes.set_xticks(list(places), names, rotation=30, fontsize=7)
        axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)


def resource_stacks(estimates: dict) -> dict[str, dict[str, float]]:
    """Stack name (a weight layer, or another node kind) -> resource -> % of the board: each node's HLS-level
    estimate times the ratio that takes the whole design to the implementation level (flow/cost/design.py)."""
    budget, stacks = estimates["budget"], {}
    ratios = estimates["design"]["levels"]["implementation"]["applied_ratios"]
    for node in estimates["design"]["nodes"]:
        stack = stacks.setdefault(node["name"] if node["kind"] == "weight layer" else node["kind"], {})
        for resource in RESOURCE_NAMES:
            share = 100 * node[resource] * ratios.get(resource, 1.0) / budget[resource]
            stack[resource] = stack.get(resource, 0.0) + share
    return {name: shares for name, shares in stacks.items() if any(shares.values())}


def plot_resources(estimates: dict, path: Path, max_utilization: float | None = None) -> None:
    """resources.png: each resource's share of the board stacked by node (scaled to the implementation level);
    the implementation-level total as a diamond (it adds what no node holds: LUTRAM in LUT), 100% and the
    build's cap as lines."""
    budget = estimates["budget"]
    placed = estimates["design"]["levels"]["implementation"]
    labels = list(RESOURCE_NAMES.values())
    figure = new_figure(figsize=(8, 4.5))
    axes = figure.subplots()
    bottom = [0.0] * len(RESOURCE_NAMES)
    for name, shares in resource_stacks(estimates).items():
        heights = [shares[resource] for resource in RESOURCE_NAMES]
        axes.bar(labels, heights, bottom=bottom, label=name, width=0.6)
        bottom = [b + h for b, h in zip(bottom, heights)]
    axes.plot(labels, [100 * placed[resource] / budget[resource] for resource in RESOURCE_NAMES], marker="D",
              color="black", linestyle="none", label="total, implementation level")
    axes.axhline(100, color="black", linewidth=0.8)
    if max_utilization is not None:
        axes.axhline(100 * max_utilization, color="grey", linestyle=":", linewidth=1, label="the build's cap")
    axes.set_ylabel(f"% of {estimates['board']}'s resource")
    axes.set_title(f"The design against {estimates['board']}, per node (estimates, implementation level)",
                   fontsize=10)
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    save_figure(figure, path)
