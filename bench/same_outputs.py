"""Benchmark: the current tree builds what an earlier commit built, byte for byte where it counts.

Checks out BASELINE into a temporary git worktree, runs `flow compile` there and here on the same
models (the default digits model, and the compressed LeNet-5 on MNIST), and compares each pair of
builds: csim_outputs.npy byte for byte, and every number in estimates.json and memory.json. Text
fields (such as the estimator's file name in `basis`) are listed, not compared.

    python bench/same_outputs.py --baseline COMMIT [--shared ../shared] [--samples 200]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import git_commit, write_result

REPO = Path(__file__).resolve().parents[1]
MODELS = {"default": [], "lenet5-admm-joint": ["--model", "models/lenet5-admm-joint.pt"]}


def numbers(tree, path: str = "") -> dict:
    """Every numeric leaf of a JSON tree by its path (booleans count: they are decisions)."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in numbers(value, f"{path}.{key}").items()}
    if isinstance(tree, list):
        return {k: v for index, value in enumerate(tree) for k, v in numbers(value, f"{path}[{index}]").items()}
    return {path: tree} if isinstance(tree, (int, float, bool)) or tree is None else {}


def compile_in(tree: Path, args: list[str], build_dir: Path, shared: Path, samples: int) -> float:
    """`python -m flow compile` with `tree` as the working directory, so `tree`'s own flow package runs."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flow", "compile", *args, "--data-dir", str(shared / "data" / "mnist"),
                    "--n-samples", str(samples), "--out", str(build_dir), "--no-progress"],
                   cwd=tree, check=True, capture_output=True)
    return round(time.perf_counter() - started, 1)


def compare(before: Path, after: Path) -> dict:
    result = {"csim_outputs_identical": (before / "csim_outputs.npy").read_bytes()
              == (after / "csim_outputs.npy").read_bytes()}
    for name in ("estimates.json", "memory.json"):
        old, new = (numbers(json.loads((folder / name).read_text())) for folder in (before, after))
        result[name] = {"numbers": len(old), "differing": sorted(k for k in old.keys() | new.keys()
                                                                 if old.get(k) != new.get(k))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True, help="commit to compare with")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--samples", type=int, default=200)
    options = parser.parse_args()
    started, commit = time.perf_counter(), git_commit()
    baseline = subprocess.run(["git", "rev-parse", options.baseline], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    shared = options.shared.resolve()
    metrics = {"baseline": baseline, "models": {}}
    with tempfile.TemporaryDirectory() as scratch:
        worktree = Path(scratch) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), baseline], cwd=REPO, check=True,
                       capture_output=True)
        try:
            for name, args in MODELS.items():
                builds = {side: Path(scratch) / f"{name}-{side}" for side in ("before", "after")}
                walls = {side: compile_in(tree, args, builds[side], shared, options.samples)
                         for side, tree in (("before", worktree), ("after", REPO))}
                metrics["models"][name] = {**compare(builds["before"], builds["after"]), "wall_s": walls}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, capture_output=True)
    same = all(model["csim_outputs_identical"] and not model["estimates.json"]["differing"]
               and not model["memory.json"]["differing"] for model in metrics["models"].values())
    counts = ", ".join(f"{name}: {model['estimates.json']['numbers'] + model['memory.json']['numbers']:,} numbers"
                       for name, model in metrics["models"].items())
    rows = [{"key": "same_outputs", "label": "Same csim outputs and estimates as an earlier commit",
             "value": f"{'identical' if same else 'DIFFERENT'} vs {baseline[:10]}: csim outputs and estimate/memory "
                      f"numbers ({counts})"}]
    print(write_result("same_outputs", metrics, rows, seed=0, started=started, commit=commit))
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
