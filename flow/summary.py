"""A build's summary.json and estimates.json as terminal tables and report.md (`flow report`)."""
from __future__ import annotations

import json
from pathlib import Path

from rich import box
from rich.table import Table

from .build.artifacts import DESIGN, ESTIMATES, REPORT, SUMMARY
from .errors import FlowError
from .paths import atomic_write_text


def load_summary(build_dir: Path) -> dict:
    path = Path(build_dir) / SUMMARY
    if not path.is_file():
        raise FlowError(f"no {SUMMARY} in {build_dir}; run 'flow compile --out {build_dir}' first")
    return json.loads(path.read_text())


NOT_DETAILS = {"status", "seconds", "error", "fingerprint", "outputs_sha256", "reused", "built_in_seconds"}


def _step_details(record: dict) -> list[str]:
    """A step's record as short lines: why it was skipped or failed, then its scalar results."""
    status = record["status"]
    why = [status.split(": ", 1)[1]] if ": " in status else []
    if record.get("error"):
        why.append(record["error"])
    if record.get("reused"):
        why.append(f"reused: inputs unchanged (built in {record['built_in_seconds']:.1f} s)")
    return why + [f"{k}={v}" for k, v in record.items() if k not in NOT_DETAILS and not isinstance(v, dict)]


def _step_note(record: dict) -> str:
    return ", ".join(_step_details(record))


def summary_table(summary: dict) -> Table:
    """One row per step; its details one per line, so the table reads at 80 columns (full records: summary.json)."""
    table = Table(title=f"flow compile: {summary['model']} on {summary['board']} ({summary['part']})",
                  box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    table.add_column("details", overflow="fold")
    for name, record in summary["steps"].items():
        table.add_row(name, record["status"].split(":")[0], f"{record['seconds']:.1f}",
                      "\n".join(_step_details(record)))
    return table


def verification_lines(summary: dict) -> list[str]:
    verification = summary.get("verification")
    if not verification:
        return ["verification: not run"]
    lines = [f"verification on {verification['n_samples']} {verification['dataset']} samples "
             f"(output {verification['output_precision']}, 1 LSB = {verification['output_lsb']:g}): "
             f"{'passed' if verification['passed'] else 'FAILED'}"]
    for pair in ("csim_vs_qonnx", "qonnx_vs_brevitas", "csim_vs_keras"):
        if pair in verification:
            result = verification[pair]
            ties = result.get("argmax_ties", 0)
            lines.append(f"  {pair}: argmax agreement {result['argmax_agreement']:.4f}"
                         + (f" ({ties} float32 tie{'s' if ties > 1 else ''})" if ties else "")
                         + f", max |diff| {result['max_diff_lsb']:.3g} LSB")
    fifo = verification.get("fifo_check")
    if fifo:
        outcome = {True: "passed", False: "FAILED"}.get(fifo.get("passed"), fifo.get("status"))
        lines.append(f"  FIFO check of the stream top: {outcome}"
                     + (f" ({fifo['samples']} samples, {len(fifo['fifos'])} FIFOs)" if fifo.get("fifos") else ""))
    if "accuracy" in verification:
        lines.append("  accuracy vs labels: " + ", ".join(f"{name} {value:.4f}"
                                                          for name, value in verification["accuracy"].items()))
    return lines


def fit_line(summary: dict) -> str:
    """Whether the design fits the board, from the fit step's record."""
    record = summary["steps"].get("fit")
    if not record or record.get("status") != "done":
        return "fit to the board: not judged"
    if record["fits"]:
        return f"fit to {summary['board']}: fits (estimated, {record['level']} level)"
    return f"fit to {summary['board']}: does NOT fit; {record['note']}"


def load_estimates(build_dir: Path) -> dict | None:
    path = Path(build_dir) / ESTIMATES
    return json.loads(path.read_text()) if path.is_file() else None


LAYER_COLUMNS = ("layer", "kernel", "kept / weights", "pruned", "weight bits", "MACs", "MAC x bits",
                 "latency dense", "latency sparse", "break-even here", "least break-even (at /s)")


def portion_text(portion: float | None) -> str:
    """A break-even pruned portion as the summary shows it."""
    return "never" if portion is None else "always" if portion == 0 else f"{100 * portion:.1f}%"


def layer_rows(estimates: dict) -> list[tuple[str, ...]]:
    """Per layer, paper Table 8 style: sparsity, bits, MACs, and the estimated dense/sparse latency (cycles)."""
    rows = []
    if any("rates" not in layer["break_even"] for layer in estimates["layers"]):
        raise FlowError("estimates.json is from an older flow (break-even without rates); rerun "
                        "flow compile --from-step estimate")
    for layer in estimates["layers"]:
        shape, even = layer["shape"], layer["break_even"]
        best = next((rate for rate in even["rates"] if rate["interval"] == even["interval"]), None)
        rows.append((layer["name"], layer["kernel"], f"{shape['nonzeros']:,} / {shape['n_in'] * shape['n_out']:,}",
                     f"{100 * layer['pruned_portion']:.2f}%", str(shape["weight_bits"]), f"{layer['macs']:,}",
                     f"{layer['mac_bits']:,}", f"{layer['dense']['estimate']['latency']:,}",
                     f"{layer['sparse']['estimate']['latency']:,}", portion_text(even["at_build_rate"]),
                     "never" if best is None else f"{portion_text(best['break_even_portion'])} "
                                                  f"({best['fps']:,.0f})"))
    return rows


RESOURCE_COLUMNS = ("resource", "HLS csynth", "implementation", "board", "share")
NODE_COLUMNS = ("node", "kind", "DSP", "BRAM18", "LUT", "FF", "LUTRAM")
NODE_NAME_WIDTH, KIND_WIDTH = 21, 12  # keeps the node table within 80 columns


def resource_rows(estimates: dict) -> list[tuple[str, ...]]:
    """Per resource the whole design at both levels, the board's budget and the implementation-level share."""
    levels, budget = estimates["design"]["levels"], estimates["budget"]
    hls, placed = levels["hls_csynth"], levels["implementation"]
    rows = [(name, f"{hls[name]:,}", f"{placed[name]:,}", f"{budget[name]:,}", f"{100 * placed[name] / budget[name]:.1f}%")
            for name in ("dsp", "bram18", "lut", "ff")]
    return rows + [("lutram", f"{hls['lutram']:,}", f"{placed['lutram']:,}", "in LUT", "")]


def node_rows(estimates: dict) -> list[tuple[str, ...]]:
    return [(node["name"][:NODE_NAME_WIDTH], node["kind"][:KIND_WIDTH],
             *(f"{node[name]:,}" for name in ("dsp", "bram18", "lut", "ff", "lutram")))
            for node in estimates["design"]["nodes"]]


def _compact_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index < 2 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


# the layer table's columns that fit a terminal's 80, under shorter names; report.md has them all
TERMINAL_LAYER_COLUMNS = {"layer": "layer", "kernel": "kernel", "kept / weights": "kept/all", "pruned": "pruned",
                          "weight bits": "bits", "MACs": "MACs", "break-even here": "break-even"}


def estimate_tables(estimates: dict) -> list[Table]:
    keep = [LAYER_COLUMNS.index(column) for column in TERMINAL_LAYER_COLUMNS]
    layers = _compact_table(f"layers ({estimates['basis'].split(':')[0]}; all columns in report.md)",
                            tuple(TERMINAL_LAYER_COLUMNS.values()),
                            [tuple(row[i] for i in keep) for row in layer_rows(estimates)])
    nodes = _compact_table("whole design per node (HLS csynth level)", NODE_COLUMNS, node_rows(estimates))
    resources = _compact_table(f"whole design vs {estimates['board']} (fit judged at the implementation level)",
                               RESOURCE_COLUMNS, resource_rows(estimates))
    return [layers, nodes, resources]


def _markdown(columns, rows) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns), *("| " + " | ".join(r) + " |" for r in rows)]


def estimate_section(estimates: dict) -> list[str]:
    total = estimates["total"]
    lines = ["## Layers", "", f"Figures: {estimates['basis']}. Latency in cycles per inference; the dense column is "
             "hls4ml's kernel at the build's strategy and reuse factor, the sparse column flow's kernel with the "
             "build's PE count. Break-even: the pruned portion above which the sparse kernel's smallest design "
             "meeting a rate is smaller than every dense kernel's within the board (paper Fig. 4), at this "
             "build's rate (its slowest weight layer) and at the rate where it is least.", "", *_markdown(LAYER_COLUMNS, layer_rows(estimates)), "",
             "## Whole design", "",
             "Every node of the hls4ml project, its FIFOs or partitioned arrays and the stream top, at the HLS "
             f"C-synthesis level ({estimates['design']['levels']['hls_csynth']['source']}).", "",
             *_markdown(NODE_COLUMNS, node_rows(estimates)), "",
             "## Resources", "",
             f"Implementation level: {estimates['design']['levels']['implementation']['source']}.", "",
             *_markdown(RESOURCE_COLUMNS, resource_rows(estimates)), "",
             f"Sum of layer latencies {total['latency_sum']:,} cycles; slowest layer interval {total['interval_max']:,} "
             f"cycles. {'Fits' if estimates['fits'] else 'Does NOT fit'} {estimates['board']} at the "
             f"{estimates['design']['fit_level']} level.", ""]
    if estimates.get("corrections"):
        lines += [f"Reported / estimated factors applied before the break-even comparison: {estimates['corrections']}.", ""]
    if estimates.get("layers_to_switch"):
        lines += [f"On these figures the break-even rule would build {', '.join(estimates['layers_to_switch'])} "
                  f"with the other kernel; rebuild with `flow compile ... --from-step hls4ml --sparse "
                  f"{estimates['rebuild_sparse']}`.", ""]
    if estimates.get("plot"):
        lines += ["## Break-even per target rate", "",
                  "Above a layer's line the sparse kernel's smallest design meeting that rate is smaller than every "
                  "dense kernel's (hls4ml Latency at RF 1, Resource at each reuse factor), within the board "
                  "(estimates). `break-even here` in the table above is at this build's rate.", "",
                  f"![break-even pruned portion per layer and target rate]({estimates['plot']})", ""]
    return lines


def design_section(design: dict) -> list[str]:
    """What the design chooser built, and per kernel family the fastest design within the cap."""
    cap = design["max_utilization"]
    target = (f"Target {design['target_fps']:,.0f}/s ({design['target_interval']:,} cycles at "
              f"{design['clock_mhz']:g} MHz)" if design["target_fps"] else
              f"No target: the highest rate within {100 * cap:.0f}% of every resource at {design['clock_mhz']:g} MHz")
    lines = ["## Kernels chosen per layer", "",
             f"{target}; built {design['throughput_fps']:,.0f}/s at {design['interval']:,} cycles (slowest layer "
             f"{design['layers_interval']:,}, stream top {design['stream_top_cycles']:,}), "
             f"{design['scarcest'].upper()} {100 * design['utilization'][design['scarcest']]:.0f}% of the board. "
             f"Per kernel family, the fastest design within {100 * cap:.0f}% of every resource (estimates):", ""]
    rows = []
    for family, points in design["pareto"]["frontiers"].items():
        within = [p for p in points if p["utilization"] <= cap]
        best = max(within, key=lambda p: p["fps"], default=None)
        label = "any kernel per layer" if family == "mixed" else f"every layer {family}"
        rows.append([label, "none fits" if best is None else f"{best['fps']:,.0f}/s",
                     "" if best is None else f"{100 * best['utilization']:.0f}%"])
    return [*lines, *_markdown(["designs", "fastest within the cap", "scarcest resource"], rows), "",
            f"![rate against area per kernel family]({design['pareto']['plot']})", ""]


def pictures_section(build_dir: Path, estimates: dict) -> list[str]:
    """layers.png and resources.png drawn beside report.md, and their section."""
    from .build.artifacts import CONFIG
    from .plots import LAYERS_PLOT, RESOURCES_PLOT, plot_layers, plot_resources

    config_path = Path(build_dir) / CONFIG
    cap = json.loads(config_path.read_text()).get("max_utilization") if config_path.is_file() else None
    plot_layers(estimates, Path(build_dir) / LAYERS_PLOT)
    plot_resources(estimates, Path(build_dir) / RESOURCES_PLOT, cap)
    return ["## Layers and resources in pictures", "",
            "Per weight layer, the weights it keeps and their bits, and the kernel it is built with:", "",
            f"![kept weights and weight bits per layer]({LAYERS_PLOT})", "",
            "Each resource's share of the board, stacked by node, estimated at the implementation level the fit is "
            "judged at (each node's HLS-level estimate scaled as the whole design's is); the diamond is the "
            "design's total, the dotted line the build's cap:", "",
            f"![resources per node against the board]({RESOURCES_PLOT})", ""]


def pinned_pareto_section(build_dir: Path) -> list[str]:
    """pareto.png of a build whose kernels --sparse pinned: the design space, with no choice of flow's in it."""
    from .build.artifacts import PARETO_PLOT

    if not (Path(build_dir) / PARETO_PLOT).is_file():
        return []
    return ["## Rate against area", "",
            "The designs each kernel family could make for this model (estimates); this build's kernels are pinned "
            "by --sparse, so no choice of flow's is marked. `flow compile --sparse auto` (the default) picks one.",
            "", f"![rate against area per kernel family]({PARETO_PLOT})", ""]


def report_pictures(build_dir: Path) -> list[str]:
    """The PNGs report.md shows, as it names them."""
    text = (Path(build_dir) / REPORT).read_text()
    return [part.split(")")[0] for part in text.split("](")[1:] if part.split(")")[0].endswith(".png")]


def write_report(build_dir: Path) -> Path:
    summary = load_summary(build_dir)
    rows = ["| step | status | seconds | details |", "|---|---|---|---|"]
    rows += [f"| {name} | {r['status']} | {r['seconds']:.1f} | {_step_note(r)} |" for name, r in summary["steps"].items()]
    estimates = load_estimates(build_dir)
    design_path = Path(build_dir) / DESIGN
    design = json.loads(design_path.read_text()) if design_path.is_file() else None
    text = "\n".join([f"# flow build report: {summary['model']} on {summary['board']} ({summary['part']})", "",
                      *rows, "", *verification_lines(summary), "",
                      *(estimate_section(estimates) if estimates else []),
                      *(pictures_section(build_dir, estimates) if estimates else []),
                      *(design_section(design) if design else pinned_pareto_section(build_dir))])
    path = Path(build_dir) / REPORT
    atomic_write_text(path, text)
    return path
