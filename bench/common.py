"""What every benchmark result records: metrics, wall time, seed, git commit and the exact command."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def git_commit() -> str:
    """HEAD, with -dirty where flow's code, kernels, boards, models or benches differ from it."""
    repo = BENCH_DIR.parent  # git status paths are relative to the working directory
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=repo)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "flow", "hls", "boards", "models", "bench/*.py"],
                           capture_output=True, text=True, cwd=repo).stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def write_result(name: str, metrics: dict, rows: list[dict], seed: int, started: float, commit: str) -> Path:
    """rows: [{"key": ..., "label": ..., "value": ...}], the lines the README results table shows.

    commit: git_commit() taken when the benchmark started, so edits made while it runs do not relabel it.
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    record = {
        "name": name,
        "command": " ".join(["python", *sys.argv]),
        "git_commit": commit,
        "seed": seed,
        "wall_s": round(time.perf_counter() - started, 2),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "metrics": metrics,
        "rows": rows,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path
