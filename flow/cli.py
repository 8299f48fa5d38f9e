"""The `flow` command line: parse, call the Python API, print."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .build.config import DEFAULT_BOARD, BuildConfig
from .errors import FlowError, VerificationError

app = typer.Typer(
    help="ADMM-NN compression flow: Brevitas/QONNX model -> hls4ml project -> csim -> PYNQ bundle.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
DEFAULTS = BuildConfig()


# `flow compile` option -> BuildConfig field, where the names differ
CONFIG_FIELDS = {"out_dir": "out", "progress": "show_progress"}


@app.command("compile")
def compile_command(
    ctx: typer.Context,
    config_file: Optional[Path] = typer.Option(None, "--config", help="Build config YAML (keys: BuildConfig's "
                                               "fields, per-layer `layers:` in hls4ml's names; examples in "
                                               "models/builds/). Flags given here override it."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config as YAML and exit."),
    model: Optional[Path] = typer.Option(None, help="QONNX .onnx, flow .pt checkpoint or (Q)Keras .h5/.keras (needs the keras extra); default: the shipped LeNet on 8x8 digits."),
    board: str = typer.Option(DEFAULTS.board, help="Board name, one of the files in boards/."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Build dir; default build/<model>-<board>/."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder with the MNIST IDX files, for MNIST-sized models."),
    n_samples: int = typer.Option(DEFAULTS.n_samples, help="Held-out samples the verify step compares csim on."),
    from_step: Optional[str] = typer.Option(None, help="Restart at this step, reusing earlier artifacts."),
    to_step: Optional[str] = typer.Option(None, help="Stop after this step (the later steps do not run)."),
    input_range: Optional[str] = typer.Option(None, help="Verify on seeded random inputs of these values instead "
                                              "of a dataset: LO,HI (uniform) or LO,HI,STEP (a grid; -1,1,2 is "
                                              "bipolar). Default where no dataset fits the model: the grid of its "
                                              "input Quant, else 0,1."),
    sparse: str = typer.Option(DEFAULTS.sparse, help="auto: the design chooser picks each weight layer's kernel "
                               "(hls4ml Latency, Resource at a reuse factor, or the sparse kernel at a PE count; "
                               "design.json). Or pin the sparse layers: all, none, or names separated by commas "
                               "(hls4ml's, or a flow checkpoint's own: conv1,fc1), the rest dense."),
    sparse_cycles: Optional[int] = typer.Option(None, help="With --sparse all or names: cycle target per sparse "
                                                "layer; sets its PE count (default: one PE, the smallest memory)."),
    target_fps: Optional[float] = typer.Option(None, help="Inferences per second to sustain at BOARD's clock: the "
                                               "chooser takes the least area that meets it (default: the highest "
                                               "rate within --max-utilization)."),
    max_utilization: float = typer.Option(DEFAULTS.max_utilization, help="Largest share of any BOARD resource the "
                                          "chosen design may take."),
    clock_period_ns: Optional[float] = typer.Option(None, help="Clock period in ns to build and rate the design "
                                                    "at (default: BOARD's)."),
    float32_rescales: bool = typer.Option(DEFAULTS.float32_rescales, "--float32-rescales/--no-float32-rescales",
                                          help="Give batch-norm and rescale constants float32's precision, so "
                                          "quantizers after them round as qonnx's do (wide multipliers: DSPs)."),
    rtl: bool = typer.Option(DEFAULTS.rtl, "--rtl/--no-rtl", help="Also write each weight layer as Verilog, check it bit for "
                             "bit in verilator and count its cells with yosys (needs both tools and the rtl extra)."),
    bitstream: bool = typer.Option(DEFAULTS.bitstream, "--bitstream/--no-bitstream", help="Also run Vivado: block design, "
                                   "implementation, bitstream (hours; needs vivado on PATH and the IP the synth "
                                   "step exports with vitis-run)."),
    allow_overfull: bool = typer.Option(DEFAULTS.allow_overfull, "--allow-overfull/--no-allow-overfull", help="Build on when the "
                                        "estimated design exceeds BOARD (any resource over 100% at the "
                                        "implementation level)."),
    progress: bool = typer.Option(DEFAULTS.show_progress, help="Show progress bars."),
    verbose: bool = typer.Option(DEFAULTS.verbose, "--verbose/--quiet", help="Show the libraries' output (onnxruntime, "
                                 "TensorFlow, hls4ml, g++) here instead of in the build dir's build.log."),
):
    """Convert a model to an hls4ml project for BOARD, C-simulate and verify it, and bundle it.

    Synthesis runs where Vitis HLS is on PATH, the bitstream with --bitstream where Vivado is; elsewhere the
    summary says 'skipped: <tool> not on PATH' and the csim-only build is a normal success.
    """
    import yaml

    from .build import compile as run_compile
    from .build.config import resolve_config
    from .build.runner import build_board, checked, resolved_out
    from .summary import fit_line, summary_table, verification_lines

    given = {CONFIG_FIELDS.get(name, name): value for name, value in ctx.params.items()
             if name not in ("config_file", "print_config")
             and getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"}
    config = resolved_out(checked(resolve_config(config_file, given)))
    build_board(config)  # an unknown board is refused before anything is printed or built
    if print_config:
        out.print(yaml.safe_dump(config.to_json(), sort_keys=False).rstrip(), markup=False, highlight=False)
        return
    result = run_compile(config)
    out.print(summary_table(result.summary))
    for line in [*verification_lines(result.summary), fit_line(result.summary)]:
        out.print(line)
    log = "" if config.verbose else ", build.log"
    out.print(f"artifacts: {result.build_dir} (summary.json, csim.json{log}, bundle/)")


@app.command("train")
def train_command(
    recipe: Optional[Path] = typer.Option(None, help="YAML recipe (models/recipes/); default: lenet-digits.yaml."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run dir; default runs/<recipe name>/."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder with the MNIST IDX files, for MNIST recipes."),
    overrides: list[str] = typer.Option([], "--set", help="Recipe override key=value, e.g. stages.1.epochs=20."),
    resume: bool = typer.Option(False, help="Continue the unfinished run in --out from its last epoch."),
    device: str = typer.Option("cpu", help="cpu, or cuda where a GPU is present."),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Train by recipe: pretrain, ADMM prune, retrain, ADMM quantize, ...; writes model.pt and compression.json.

    Every epoch is checkpointed atomically; --resume continues an interrupted run exactly.
    """
    from .train import TrainConfig, train

    result = train(TrainConfig(recipe=recipe, overrides=tuple(overrides), out=out_dir, data_dir=data_dir,
                               resume=resume, device=device, show_progress=progress))
    total = result.compression
    drop = "" if result.accuracy_drop_pp is None else f", drop {result.accuracy_drop_pp:.2f} pp"
    out.print(f"wrote {result.out}/model.pt: test accuracy {result.test_accuracy:.4f} on "
              f"{result.test_samples} images{drop} ({result.wall_s} s)")
    out.print(f"kept {total['kept']} of {total['params']} weights ({total['pruning_ratio']}x); weight data "
              f"{total['weight_data_bytes'] / 1024:.2f} KB, with indices {total['size_with_index_bytes'] / 1024:.2f} KB "
              f"(compression.json)")
    if total["wasted"]:
        out.print(f"{total['wasted']} kept weights change the output by at most a constant (no later layer reads them, "
                  "or they read a channel with no weights); 'reachable: true' in the admm_prune stage spends them elsewhere")


@app.command("plan")
def plan_command(
    init: Path = typer.Option(..., help="Dense pretrained model.pt to compress (e.g. from lenet5-pretrain.yaml)."),
    board: str = typer.Option(DEFAULT_BOARD, help="Board whose break-even and BRAM decide how hard to prune each layer."),
    budget_pp: float = typer.Option(0.2, help="Accuracy drop allowed, in percentage points."),
    out_dir: Path = typer.Option(Path("runs/plan"), "--out", help="Plan dir: plan.json, one run dir per probe, build/."),
    data_dir: Optional[Path] = typer.Option(None, help="Folder with the MNIST IDX files."),
    recipe: Optional[Path] = typer.Option(None, help="Recipe each probe runs (prune first); default lenet5-admm-prune-quantize.yaml."),
    overrides: list[str] = typer.Option([], "--set", help="Recipe override key=value for every probe."),
    probes: int = typer.Option(4, help="Binary-search steps on the pruning strength."),
    target_fps: Optional[float] = typer.Option(None, help="Inferences per second to prune for: a layer is pruned "
                                               "only beyond its break-even at that rate, and the compile meets it. "
                                               "Default: each layer's least break-even over all rates (often 0: "
                                               "every quantized layer is pruned), and the compile takes the "
                                               "highest rate that fits."),
    compile_model: bool = typer.Option(True, "--compile/--no-compile", help="Compile the chosen model for BOARD."),
    n_samples: int = typer.Option(500, help="Held-out samples the build's verify step compares csim on."),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Hardware-aware compression (ADMM-NN Fig. 5): prune heavy layers hardest, keep layers below break-even dense,
    binary-search the strength under an accuracy budget, then compile the winner; writes plan.json."""
    from .plan import PLAN_RECIPE, PlanConfig, plan

    record = plan(PlanConfig(init=init, board=board, budget_pp=budget_pp, out=out_dir, data_dir=data_dir,
                             recipe=recipe or PLAN_RECIPE, overrides=tuple(overrides), probes=probes,
                             compile=compile_model, compile_samples=n_samples, target_fps=target_fps,
                             show_progress=progress))
    for layer in record.layers:
        even = "none" if layer["break_even"] is None else f"{layer['break_even']:.3f}"
        out.print(f"{layer['name']}: {layer['kind']}, {layer['macs']:,} MACs, break-even portion {even}, "
                  f"pruned {100 * layer['pruned_portion']:.1f}% (keep {layer['keep']:,})")
    chosen = record.chosen
    if chosen is None:
        out.print(f"no probe stayed within {budget_pp} pp; allow a larger --budget-pp or more retraining epochs")
        return
    out.print(f"strength {chosen['strength']:.4f}: accuracy {chosen['test_accuracy']:.4f} "
              f"(drop {chosen['accuracy_drop_pp']:.2f} pp), model {chosen['run']}/model.pt; wrote {out_dir}/plan.json")
    if record.build:
        build = record.build
        out.print(f"build {build['dir']}: {build['throughput_fps']:,.0f}/s, kernels "
                  f"{', '.join(build['kernels'].values())}; weights {build['weight_bram18']} BRAM18 of "
                  f"{record.bram18_budget}, estimated LUT/FF/DSP {'fit' if build['estimated_resources_fit'] else 'do NOT fit'} "
                  f"(see estimates.json), csim verification {'passed' if build['csim_passed'] else 'FAILED'}")


@app.command("infer")
def infer_command(
    bundle: Path = typer.Option(..., help="A bundle/ folder made by 'flow compile', or the build dir holding it."),
    target: str = typer.Option("csim", help="csim: the build's C simulation behind a simulated DMA; pynq: the board."),
    input_path: Optional[Path] = typer.Option(None, "--input", help=".npy inputs; default: the bundle's test vectors."),
    output_path: Optional[Path] = typer.Option(None, "--output", help="Where to save the outputs as .npy."),
    timeout: float = typer.Option(5.0, help="Seconds each DMA transfer may take."),
):
    """Run inputs through the bundle's board driver: on the PYNQ board, or on csim with the same driver code."""
    import numpy as np

    from .infer import infer, test_vectors

    if input_path is None:
        inputs, expected = test_vectors(bundle)
    else:
        try:
            inputs, expected = np.load(input_path, allow_pickle=False), None
        except (OSError, ValueError) as exc:
            raise FlowError(f"cannot read inputs {input_path} ({exc}); pass a numeric .npy file") from None
    outputs = infer(bundle, inputs, target, timeout).outputs
    if output_path:
        np.save(output_path, outputs)
    out.print(f"{len(outputs)} inputs on {target} -> predicted classes {outputs.argmax(1)[:20].tolist()}"
              f"{' ...' if len(outputs) > 20 else ''}")
    if expected is not None:
        same = np.array_equal(outputs, expected.reshape(len(outputs), -1))
        out.print(f"matches compile-time csim outputs bit for bit: {same}")


@app.command("deploy")
def deploy_command(
    bundle: Path = typer.Option(..., help="A build dir made by 'flow compile', or the bundle/ folder inside it."),
    archive: Optional[Path] = typer.Option(None, "--out", help="Archive to write; default <build dir name>.tar.gz beside the build dir."),
    host: Optional[str] = typer.Option(None, help="Also copy the archive to the board with scp, as HOST:DIR."),
):
    """Pack a build's bundle (manifest checked) into one .tar.gz for the board, and optionally copy it there."""
    from .deploy.archive import ARCHIVE_SUFFIX, copy_to_host, pack
    from .infer import opened_bundle

    with opened_bundle(bundle) as folder:
        build_name = folder.resolve().parent.name if folder.name == "bundle" else folder.name
        target = archive or folder.resolve().parent.parent / f"{build_name}{ARCHIVE_SUFFIX}"
        if not target.name.endswith(ARCHIVE_SUFFIX):
            raise FlowError(f"--out {target} must end in {ARCHIVE_SUFFIX}")
        pack(folder, target)
    out.print(f"wrote {target}; on the board: tar xzf {target.name} && "
              f"python3 {target.name.removesuffix(ARCHIVE_SUFFIX)}/driver.py selftest")
    if host:
        out.print(f"copied to {copy_to_host(target, host)}")


@app.command("report")
def report_command(build_dir: Path = typer.Argument(..., help="A build dir made by 'flow compile'.")):
    """Print a build's summary and write report.md next to it."""
    from .summary import (estimate_tables, fit_line, load_estimates, load_summary, report_pictures, summary_table,
                          verification_lines, write_report)

    summary = load_summary(build_dir)
    out.print(summary_table(summary))
    for line in [*verification_lines(summary), fit_line(summary)]:
        out.print(line)
    estimates = load_estimates(build_dir)
    for table in estimate_tables(estimates) if estimates else []:
        out.print(table)
    report = write_report(build_dir)
    out.print(f"wrote {report} with {', '.join(report_pictures(build_dir)) or 'no pictures'} beside it")


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        app()
    except VerificationError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except FlowError as exc:
        Console(stderr=True).print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
