"""`flow compile`: run the named steps in order, timing each, with artifacts in the build dir."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .boards import load_board
from .config import BuildConfig, StepContext
from .errors import FlowError
from .paths import atomic_write_json
from .steps import STEP_NAMES, STEPS
from .zoo import DEFAULT_MODEL


@dataclass(frozen=True)
class BuildResult:
    build_dir: Path
    summary: dict


def default_build_dir(config: BuildConfig) -> Path:
    model_name = config.model.stem if config.model else DEFAULT_MODEL
    return Path("build") / f"{model_name}-{config.board}"


def _prepare_build_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise FlowError(f"cannot write to output dir {path} ({exc.strerror}); pass --out with a writable folder") from None


def _first_step(config: BuildConfig, build_dir: Path) -> int:
    if config.from_step is None:
        return 0
    if config.from_step not in STEP_NAMES:
        raise FlowError(f"unknown step '{config.from_step}'; steps are: {', '.join(STEP_NAMES)}")
    first = STEP_NAMES.index(config.from_step)
    for step in STEPS[:first]:
        missing = [name for name in step.OUTPUTS if not (build_dir / name).exists()]
        if missing:
            raise FlowError(
                f"cannot start at '{config.from_step}': step '{step.NAME}' has not produced {missing[0]} in {build_dir}; "
                "start from an earlier step"
            )
    return first


def compile(config: BuildConfig = BuildConfig()) -> BuildResult:  # noqa: A001 - mirrors `flow compile`
    board = load_board(config.board)
    if config.n_samples < 1:
        raise FlowError("--n-samples must be at least 1")
    if config.sparse_cycles is not None and config.sparse_cycles < 1:
        raise FlowError("--sparse-cycles must be at least 1 (cycles per sparse layer and input vector)")
    build_dir = Path(config.out) if config.out else default_build_dir(config)
    config = replace(config, out=build_dir)
    _prepare_build_dir(build_dir)
    first = _first_step(config, build_dir)
    summary_path = build_dir / "summary.json"
    previous = json.loads(summary_path.read_text()) if first and summary_path.is_file() else {}
    steps = {name: record for name, record in previous.get("steps", {}).items() if name in STEP_NAMES[:first]}
    atomic_write_json(build_dir / "config.json", config.to_json())
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, disable=not config.show_progress, transient=False) as progress:
        context = StepContext(config=config, board=board, build_dir=build_dir, progress=progress)
        overall = progress.add_task(f"[bold]compile {build_dir}", total=len(STEPS) - first)
        for step in STEPS[first:]:
            progress.update(overall, description=f"[bold]compile[/] step {step.NAME}")
            started = time.perf_counter()
            try:
                detail = step.run(context)
            except FlowError as exc:
                steps[step.NAME] = {"status": "failed", "seconds": round(time.perf_counter() - started, 2),
                                    "error": str(exc)}
                _write_summary(build_dir, config, board, steps)
                raise
            detail.setdefault("status", "done")
            steps[step.NAME] = {"seconds": round(time.perf_counter() - started, 2), **detail}
            _write_summary(build_dir, config, board, steps)
            progress.advance(overall)
    return BuildResult(build_dir=build_dir, summary=json.loads(summary_path.read_text()))


def _write_summary(build_dir: Path, config: BuildConfig, board, steps: dict) -> None:
    atomic_write_json(build_dir / "time_per_step.json", {name: record["seconds"] for name, record in steps.items()})
    csim_path = build_dir / "csim.json"
    verification = json.loads(csim_path.read_text()) if "verify" in steps and csim_path.is_file() else None
    atomic_write_json(build_dir / "summary.json", {
        "build_dir": str(build_dir),
        "board": board.name,
        "part": board.part,
        "model": str(config.model) if config.model else f"{DEFAULT_MODEL} (models/lenet-digits.pt)",
        "steps": steps,
        "verification": verification,
    })
