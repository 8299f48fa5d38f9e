"""`flow compile`: run the steps in order, timing each, with their artifacts in the build dir.

A step is reused when it finished under the same build fingerprint, every step before it was
reused too, and its declared outputs still hash to what it wrote. `--from-step S` runs S and every
later step again, and refuses a changed setting that a step before S reads. When a step fails (the
`fit` step refusing a design that does not fit the board, say), the outputs of every later step that
an earlier build left are removed: they were built from other inputs and must not look finished.
"""
from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..boards import Board, load_board
from ..errors import FlowError
from ..paths import DEFAULT_CHECKPOINT, DEFAULT_MODEL, atomic_write_json, prepare_output_dir
from ..quiet import library_output_to
from .artifacts import BUILD_LOG, CONFIG, CSIM_REPORT, SUMMARY, TIME_PER_STEP
from .config import KERNEL_KEYS, BuildConfig, check_layers, parse_input_range
from .fingerprint import build_fingerprint, outputs_digest
from .step import Step, StepContext
from .steps import STEP_NAMES, STEPS
from .steps.export import check_source

# where and how a build runs, not what it builds: not fingerprinted
HOW_NOT_WHAT = ("out", "from_step", "to_step", "show_progress", "verbose")


@dataclass(frozen=True)
class BuildResult:
    """What `compile` returns: the build dir and the summary.json written there."""

    build_dir: Path
    summary: dict

    @property
    def passed(self) -> bool:
        """Whether the verify step ran and csim agreed with its reference."""
        return bool(self.summary.get("verification") and self.summary["verification"]["passed"])


def first_reader(field: str, steps: list[Step] = STEPS) -> str | None:
    """The first step that reads a config field: --from-step past it cannot apply a change to that field."""
    return next((step.name for step in steps if field in step.reads), None)


def default_build_dir(config: BuildConfig) -> Path:
    model_name = config.model.stem if config.model else DEFAULT_MODEL
    return Path("build") / f"{model_name}-{config.board}"


def resolved_out(config: BuildConfig) -> BuildConfig:
    """The config with its build dir filled in."""
    return replace(config, out=Path(config.out) if config.out else default_build_dir(config))


def build_board(config: BuildConfig) -> Board:
    """The board as this build runs it: its file, at the config's clock where one is given."""
    board = load_board(config.board)
    return board if config.clock_period_ns is None else replace(board, clock_period_ns=config.clock_period_ns)


def _first_step(config: BuildConfig, build_dir: Path) -> int:
    if config.from_step is None:
        return 0
    first = STEP_NAMES.index(config.from_step)
    for step in STEPS[:first]:
        missing = [name for name in step.outputs_in(build_dir) if not (build_dir / name).exists()]
        if missing:
            raise FlowError(
                f"cannot start at '{config.from_step}': step '{step.name}' has not produced {missing[0]} in {build_dir}; "
                "start from an earlier step"
            )
    built_with = json.loads((build_dir / CONFIG).read_text()) if (build_dir / CONFIG).is_file() else {}
    for name, value in config.to_json().items():
        reader = first_reader(name)
        if reader and STEP_NAMES.index(reader) < first and name in built_with and built_with[name] != value:
            raise FlowError(f"--from-step {config.from_step} would keep what step '{reader}' built with {name}="
                            f"{built_with[name]!r}, but this run asks for {value!r}; start at --from-step {reader} "
                            "or earlier, or drop --from-step (unchanged steps are reused by content hash anyway)")
    return first


def _last_step(config: BuildConfig, first: int) -> int:
    if config.to_step is None:
        return len(STEPS) - 1
    last = STEP_NAMES.index(config.to_step)
    if last < first:
        raise FlowError(f"--to-step {config.to_step} comes before --from-step {config.from_step}; steps run in "
                        f"this order: {', '.join(STEP_NAMES)}")
    return last


def _previous_steps(summary_path: Path) -> dict:
    try:
        return json.loads(summary_path.read_text()).get("steps", {})
    except (OSError, ValueError, AttributeError):
        return {}  # no summary, or one this build cannot read: nothing is reused


def _reusable(record: dict | None, fingerprint: str, build_dir: Path, step: Step) -> bool:
    return (record is not None and record.get("fingerprint") == fingerprint
            and record.get("outputs_sha256") == outputs_digest(build_dir, step.outputs_in(build_dir)))


def checked(config: BuildConfig) -> BuildConfig:
    """The config with its settings checked against each other (FlowError naming the clash) and its `layers:`
    normalised, as a config file's are (a BuildConfig made in Python skips the file's checks)."""
    config = replace(config, layers=check_layers(config.layers, "BuildConfig"))
    for step in (config.from_step, config.to_step):
        if step is not None and step not in STEP_NAMES:
            raise FlowError(f"unknown step '{step}'; steps are: {', '.join(STEP_NAMES)}")
    if config.n_samples < 1:
        raise FlowError("--n-samples must be at least 1")
    if config.input_range is not None:
        parse_input_range(config.input_range)
    if config.sparse_cycles is not None and config.sparse_cycles < 1:
        raise FlowError("--sparse-cycles must be at least 1 (cycles per sparse layer and input vector)")
    if config.target_fps is not None and config.target_fps <= 0:
        raise FlowError("--target-fps must be above 0 (inferences per second)")
    if config.clock_period_ns is not None and config.clock_period_ns <= 0:
        raise FlowError("--clock-period-ns must be above 0 (ns per clock cycle)")
    if config.layers and config.sparse != "auto":
        pinning = sorted(name for name, settings in config.layers.items() if set(settings) & set(KERNEL_KEYS))
        if pinning:
            raise FlowError(f"layers: {pinning[0]} pins a kernel, which the design chooser keeps only with sparse: "
                            f"auto, and sparse is {config.sparse!r}; drop sparse (or --sparse), or keep only "
                            "Precision in layers")
    if not 0 < config.max_utilization <= 1:
        raise FlowError("--max-utilization must be above 0 and at most 1 (a share of each board resource)")
    if config.target_fps is not None and config.sparse != "auto":
        raise FlowError(f"--target-fps chooses every layer's kernel itself, and --sparse {config.sparse} pins them; "
                        "drop --sparse, or drop --target-fps")
    if config.sparse_cycles is not None and config.sparse == "auto":
        raise FlowError("--sparse-cycles sets the PE count of the layers --sparse names, and --sparse auto (the "
                        "default) lets the design chooser pick every kernel and PE count; add --sparse all (or "
                        "LAYER,...), or drop --sparse-cycles")
    if config.sparse_cycles is not None and config.sparse == "none":
        raise FlowError("--sparse-cycles sets the speed of sparse layers, but --sparse none chooses none; "
                        "drop one of the two flags")
    return config


def compile(config: BuildConfig = BuildConfig()) -> BuildResult:  # noqa: A001 - mirrors `flow compile`
    """Build `config.model` for `config.board`: export, QONNX, hls4ml project, estimate, csim, verify, synth,
    bitstream and bundle, into `config.out`.

    Steps whose tool is missing say so in their record ("skipped: vitis-run not on PATH"); a csim-only
    build is a normal success. Raises FlowError on bad input and VerificationError when csim disagrees
    with its reference.

    Example::

        result = flow.compile(flow.BuildConfig(board="pynq-z2", out=Path("build/digits")))
        result.passed                                      # csim matched QONNX and Brevitas
        result.summary["steps"]["hls4ml"]["sparse_layers"]  # the layers built on the sparse kernel
    """
    board = build_board(config)
    config = resolved_out(checked(config))
    build_dir = config.out
    first = _first_step(config, build_dir)
    last = _last_step(config, first)
    with warnings.catch_warnings():  # Brevitas warns on import of a package flow does not use
        warnings.simplefilter("ignore")
        check_source(config.model)  # bad input is refused before anything in the build dir changes
    prepare_output_dir(build_dir)
    summary_path = build_dir / SUMMARY
    previous = _previous_steps(summary_path)
    steps = {name: record for name, record in previous.items() if name in STEP_NAMES[:first]}
    fingerprint = build_fingerprint({k: v for k, v in config.to_json().items() if k not in HOW_NOT_WHAT},
                                    config.model or DEFAULT_CHECKPOINT, config.data_dir)
    reuse = first == 0  # --from-step asks for that step and every later one to run again
    atomic_write_json(build_dir / CONFIG, config.to_json())
    with open(build_dir / BUILD_LOG, "a") as log:  # the log keeps every run's lines, each run under its heading
        log.write(f"\n=== flow compile into {build_dir}, {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n")
    with (library_output_to(build_dir / BUILD_LOG, keep=config.verbose) as terminal,
          Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                   console=Console(file=terminal), disable=not config.show_progress, transient=False) as progress):
        context = StepContext(config=config, board=board, build_dir=build_dir, progress=progress)
        overall = progress.add_task(f"[bold]compile {build_dir}", total=last + 1 - first)
        for step in STEPS[first:last + 1]:
            progress.update(overall, description=f"[bold]compile[/] step {step.name}")
            started = time.perf_counter()
            record = previous.get(step.name)
            reuse = reuse and _reusable(record, fingerprint, build_dir, step)
            if reuse:
                steps[step.name] = {**record, "seconds": round(time.perf_counter() - started, 2), "reused": True,
                                    "built_in_seconds": record.get("built_in_seconds", record["seconds"])}
                _write_summary(build_dir, config, board, steps)
                progress.advance(overall)
                continue
            # a kill inside the step leaves this mark, so its half-written files are never taken as finished
            steps[step.name] = {"status": "running", "seconds": 0.0}
            _write_summary(build_dir, config, board, steps)
            try:
                detail = step.run(context)
            except FlowError as exc:
                steps[step.name] = {"status": "failed", "seconds": round(time.perf_counter() - started, 2),
                                    "error": str(exc)}
                _write_summary(build_dir, config, board, steps)
                _remove_outputs(build_dir, STEPS[STEP_NAMES.index(step.name) + 1:])
                raise
            detail.setdefault("status", "done")
            steps[step.name] = {"seconds": round(time.perf_counter() - started, 2), **detail,
                                "fingerprint": fingerprint,
                                "outputs_sha256": outputs_digest(build_dir, step.outputs_in(build_dir))}
            _write_summary(build_dir, config, board, steps)
            progress.advance(overall)
    if not reuse:  # what later steps of an earlier build left was built from other inputs
        _remove_outputs(build_dir, STEPS[last + 1:])
    return BuildResult(build_dir=build_dir, summary=json.loads(summary_path.read_text()))


def _remove_outputs(build_dir: Path, steps: list[Step]) -> None:
    for step in steps:
        for name in step.outputs_in(build_dir):
            path = build_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def _write_summary(build_dir: Path, config: BuildConfig, board, steps: dict) -> None:
    atomic_write_json(build_dir / TIME_PER_STEP, {name: record["seconds"] for name, record in steps.items()})
    csim_path = build_dir / CSIM_REPORT
    verification = json.loads(csim_path.read_text()) if "verify" in steps and csim_path.is_file() else None
    atomic_write_json(build_dir / SUMMARY, {
        "build_dir": str(build_dir),
        "board": board.name,
        "part": board.part,
        "model": str(config.model) if config.model else f"{DEFAULT_MODEL} (models/lenet-digits.pt)",
        "steps": steps,
        "verification": verification,
    })

