"""Regenerate the README results table from bench/results/*.json.

    python bench/make_table.py          # rewrite README.md between the results markers
    python bench/make_table.py --check  # exit 1 if README.md is stale

Each row is one short line (at most MAX_ROW characters); the full value, the exact command, its
date and git commit stay in the result file the row names.
"""
from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

from common import RESULTS_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
MAX_ROW = 200


def drops_per_ratio(value: str, metrics: dict) -> str:
    return "; ".join(f"{ratio}: {drop} pp" for ratio, drop in re.findall(r"(\d+x): ([+-]\d+\.\d+) pp", value)) + \
        " (mean of 2 seeds)"


def joint_recipe(value: str, metrics: dict) -> str:
    runs = list(metrics["joint"].values())
    drops = [run["drop_pp"] for run in runs]
    minutes = [run["wall_s"] / 60 for run in runs]
    return (f"{runs[0]['weight_data_bytes']:.0f} B of weights; drop {statistics.mean(drops):+.2f} pp mean over "
            f"{len(runs)} seeds ({min(drops):+.2f} to {max(drops):+.2f}); {min(minutes):.0f}-{max(minutes):.0f} min each")


def binary_lenet5(value: str, metrics: dict) -> str:
    drops, csim = metrics["drops_pp"], metrics["compile"]["csim"]
    return (f"-q or +q in all 4 layers: drop {statistics.mean(drops):+.2f} pp mean over {len(drops)} seeds "
            f"({min(drops):+.2f} to {max(drops):+.2f}); csim vs QONNX {csim['csim_vs_qonnx']['max_diff_lsb']:.0f} LSB")


def quant_step(value: str, metrics: dict) -> str:
    exact, po2 = re.search(r"exact q \S+ \(([+-][\d.]+) pp\), power-of-two q \S+ \(([+-][\d.]+) pp\)", value).groups()
    return f"drop from dense: exact q {exact} pp, power-of-two q {po2} pp (from 167x pruned, seed 0)"


def sparse_memory(value: str, metrics: dict) -> str:
    size = value.split(" (")[0]
    return f"{size}; {value.rsplit('; ', 1)[1]}"


def break_even(value: str, metrics: dict) -> str:
    layers = metrics["estimates"].values()
    cells = " / ".join("never" if layer["at_target"] is None else "always" if layer["at_target"] == 0
                       else f"{100 * layer['at_target']:.1f}%" for layer in layers)
    unpruned = " / ".join("never" if layer["always_from_fps"] is None else f"{layer['always_from_fps'] / 1000:,.1f}k"
                          for layer in layers)
    target = next(iter(layers))["target_fps"]
    return (f"break-even at {target / 1000:g}k/s {cells} (conv1 / conv2 / fc1 / fc2); smaller unpruned up to "
            f"{unpruned}/s")


def whole_design(value: str, metrics: dict) -> str:
    # the binding pair on this board: FF and LUT shares, as the bench's row states them
    cells = re.findall(r"(\w+): (fits|does not fit) \((FF \d+%), (LUT \d+%)", value)
    return "; ".join(f"all-{name} {verdict} ({ff}, {lut})" for name, verdict, ff, lut in cells)


def estimator_error(value: str, metrics: dict) -> str:
    hls = metrics["hls_csynth"]
    cell = lambda m: "/".join(f"{100 * m[q]:.0f}" for q in ("latency", "dsp", "bram18", "lut", "ff")) + "%"  # noqa: E731
    return (f"median {cell(hls['median_error'])}; held-out set {cell(hls['leave_one_set_out_median_error'])}; "
            f"p90 {cell(hls['p90_error'])} ({hls['points']} layers)")


def estimator_implementation(value: str, metrics: dict) -> str:
    placed = metrics["implementation"]
    cell = lambda m: " / ".join(f"{100 * m[q]:.0f}%" for q in ("lut", "ff", "dsp", "bram18"))  # noqa: E731
    return (f"median {cell(placed['median_error'])}; held-out origin "
            f"{cell(placed['leave_one_origin_out_median_error'])} ({placed['pairs']} designs, routed / HLS ratio)")


def rtl_estimator(value: str, metrics: dict) -> str:
    cell = lambda m: "; ".join(f"{kernel.split('_')[0]} {100 * m[kernel]['lut']:.0f}/{100 * m[kernel]['ff']:.0f}%"  # noqa: E731
                               for kernel in m)
    return (f"median {cell(metrics['median_error'])}; HLS-level coefficients "
            f"{cell(metrics['hls_level_median_error'])} ({metrics['points']} layers)")


def rtl_breakeven(value: str, metrics: dict) -> str:
    percent = lambda p: "never" if p is None else f"{100 * p:.0f}%"  # noqa: E731
    cells = " / ".join(f"{name} {percent(layer['measured_break_even'])} ({percent(layer['estimator']['break_even'])})"
                       for name, layer in zip(("conv1", "conv2", "fc1", "fc2"), metrics["layers"]))
    return f"{cells}; estimator in brackets"


def infer_mnist(value: str, metrics: dict) -> str:
    same = "identical to" if metrics["identical_to_compile_csim"] else "DIFFERENT from"
    return (f"{metrics['n_samples']:,} images {same} compile-time csim; accuracy {metrics['accuracy']:.4f}; "
            f"{metrics['infer_wall_s']:.0f} s")


def driver_codec(value: str, metrics: dict) -> str:
    rates = metrics["rates"].values()
    return (f"encode >= {min(r['encode_values_per_s'] for r in rates) / 1e6:.0f}M values/s, decode >= "
            f"{min(r['decode_values_per_s'] for r in rates) / 1e6:.0f}M/s (3 formats)")


def plan_lenet5(value: str, metrics: dict) -> str:
    plan = metrics["plan"]
    chosen, build = plan["chosen"], plan["build"]
    return (f"s={chosen['strength']}: {chosen['accuracy_drop_pp']:+.2f} pp, sparse {build['sparse']}, "
            f"{build['weight_bram18']} of {plan['bram18_budget']} BRAM18, csim "
            f"{'passed' if build['csim_passed'] else 'FAILED'}, LUT/FF/DSP "
            f"{'fit' if build['estimated_resources_fit'] else 'do not fit'}")


def same_outputs(value: str, metrics: dict) -> str:
    models = metrics["models"].values()
    same = all(m["csim_outputs_identical"] and not m["estimates.json"]["differing"] and not m["memory.json"]["differing"]
               for m in models)
    numbers = sum(m["estimates.json"]["numbers"] + m["memory.json"]["numbers"] for m in models)
    return (f"{'identical' if same else 'DIFFERENT'} vs {metrics['baseline'][:10]}: csim outputs of "
            f"{len(metrics['models'])} models, {numbers:,} estimate/memory numbers")


def digits_drop(value: str, metrics: dict) -> str:
    drops = " / ".join(f"{record['drop_pp']:+.2f}" for record in metrics["per_seed"].values())
    return (f"mean drop {metrics['mean_drop_pp']:+.2f} pp over {len(metrics['per_seed'])} seeds ({drops}); "
            "359 held-out digits, one is 0.28 pp")


def external_models(value: str, metrics: dict) -> str:
    models = metrics["models"]
    verified = [name for name, record in models.items() if record.get("passed")]
    ties = sum((record.get("csim_vs_qonnx") or {}).get("argmax_ties", 0) for record in models.values())
    exact = [name for name in verified if models[name]["lsb_bound_enforced"]]
    fits = sum(bool((record.get("fit") or {}).get("fits")) for record in models.values())
    return (f"{len(verified)} of {len(models)} verify ({ties} argmax a float32 tie; {', '.join(exact)} to the LSB); "
            f"{fits} of {len(models)} fit PYNQ-Z2")


# (key, label, summary of the row's value and the result's metrics; None: the value as it is)
def kernel_choice(value: str, metrics: dict) -> str:
    cells = []
    for name, record in metrics["models"].items():
        sparse = record["at_equal_area"]["sparse"]
        rival = "-" if sparse is None else f"{sparse['fps'] / 1e3:,.1f}k"
        cells.append(f"{name} {record['throughput_fps'] / 1e3:,.0f}k vs {rival}")
    return "; ".join(cells) + " /s: flow vs all-sparse, equal area"


ROWS = [
    ("compile_default_wall_s", "`flow compile --board pynq-z2` wall time (csim-only)", None),
    ("compile_default_csim", "Default model: csim vs QONNX / QONNX vs Brevitas, 359 digits", None),
    ("compile_tfc_csim", "FINN TFC_2W2A: csim vs QONNX, 1,000 MNIST images", None),
    ("external_models", "Third-party QONNX models in ../shared: csim vs QONNX, 500 inputs each", external_models),
    ("digits_quantization_drop", "Default model (4-bit weights, 8-bit activations) vs its float twin", digits_drop),
    ("same_outputs", "Same csim outputs and estimates as an earlier commit", same_outputs),
    ("admm_targets_85x", "LeNet-5 85x: ADMM vs magnitude pruning, drop per seed", None),
    ("admm_prune_lenet5", "LeNet-5 ADMM pruning, no distillation (GPU sweep)", drops_per_ratio),
    ("magnitude_baseline_lenet5", "LeNet-5 magnitude pruning, no distillation (GPU sweep)", drops_per_ratio),
    ("admm_joint_recipe", "LeNet-5 joint ADMM (progressive recipe, 8-bit activations), from scratch", joint_recipe),
    ("admm_binary_lenet5", "LeNet-5 binarized by ADMM (1-bit weights), 8-bit activations", binary_lenet5),
    ("admm_quant_step_lenet5", "ADMM quantization: exact vs power-of-two step", quant_step),
    ("sparse_csim_equality", "Compressed LeNet-5: all-sparse vs all-dense csim", None),
    ("sparse_memory", "Compressed LeNet-5 weights on PYNQ-Z2", sparse_memory),
    ("sparse_whole_design", "Compressed LeNet-5 whole design on PYNQ-Z2 (estimate, implementation level)", whole_design),
    ("breakeven_lenet5", "Compressed LeNet-5 on PYNQ-Z2", break_even),
    ("estimator_error", "Estimator vs HLS reports: latency / DSP / BRAM18 / LUT / FF", estimator_error),
    ("estimator_implementation_error", "Estimator vs routed designs: LUT / FF / DSP / BRAM18",
     estimator_implementation),
    ("rtl_estimator_error", "Estimator vs yosys xc7 cells of flow's RTL: LUT / FF", rtl_estimator),
    ("rtl_breakeven_lenet5", "Compressed LeNet-5 on PYNQ-Z2: break-even from yosys + verilator",
     rtl_breakeven),
    ("kernel_choice", "Per-layer kernel choice on PYNQ-Z2", kernel_choice),
    ("plan_lenet5", "`flow plan` LeNet-5 for PYNQ-Z2, 1 probe", plan_lenet5),
    ("driver_codec_rate", "Board driver fixed-point codec", driver_codec),
    ("infer_csim_mnist", "`flow infer --target csim`, MNIST test set", infer_mnist),
]


def measured_rows() -> dict:
    """key -> (value, metrics, bench script, result file) over every result file."""
    found = {}
    for path in sorted(RESULTS_DIR.glob("*.json")):
        record = json.loads(path.read_text())
        script = record["command"].split()[1]
        for row in record["rows"]:
            found[row["key"]] = (row["value"], record["metrics"], script, path.name)
    return found


def table() -> str:
    found = measured_rows()
    lines = ["| result | value | bench |", "|---|---|---|"]
    for key, label, summary in ROWS:
        if key not in found:
            lines.append(f"| {label} | not measured yet | |")
            continue
        value, metrics, script, result = found[key]
        line = f"| {label} | {summary(value, metrics) if summary else value} | `{script}` |"
        if len(line) > MAX_ROW:
            raise SystemExit(f"row {key} is {len(line)} characters, more than {MAX_ROW}: shorten its summary")
        lines.append(line)
    return "\n".join(lines)


def render(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> None:
    current = README.read_text()
    updated = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if updated == current else 1)
    README.write_text(updated)


if __name__ == "__main__":
    main()
