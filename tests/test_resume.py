"""Nothing lost, nothing stale: SIGKILL in any training phase resumes to the uninterrupted result, and a killed
or repeated `flow compile` reuses exactly the steps whose inputs are unchanged (content hashes)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from conftest import REPO, run_flow
from flow.deploy import DRIVER_SOURCE
from flow.build.fingerprint import build_fingerprint
from flow.build.steps import STEP_NAMES

KEEP = {"conv1": 150, "conv2": 3000, "fc1": 8000, "fc2": 500}
BITS = {"conv1": 3, "conv2": 3, "fc1": 2, "fc2": 2}


def _start(*args) -> subprocess.Popen:
    # own process group: SIGKILL reaches the children too (g++ under hls4ml's compile)
    return subprocess.Popen([sys.executable, "-m", "flow", *args, "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _kill_when(process: subprocess.Popen, ready, what: str, timeout_s: float = 300) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline and process.poll() is None:
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, f"finished before it could be killed {what}"


def _json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def test_sigkill_in_every_training_phase_then_resume_equals_the_uninterrupted_run(shared_dir, tmp_path):
    stages = [{"kind": "pretrain", "epochs": 2, "lr": 0.002},
              {"kind": "admm_prune", "epochs": 3, "keep": KEEP, "rho": 0.1, "reachable": True},
              {"kind": "retrain", "epochs": 2, "distill": 0.5},  # the resumed run must distill from the same teacher
              {"kind": "admm_quantize", "epochs": 2, "bits": BITS, "equalize": True},  # equalized once, not on resume
              {"kind": "retrain", "epochs": 2, "learn_step": True}]  # the steps train: they must resume too
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"arch": "lenet5", "dataset": "mnist", "seed": 3, "batch_size": 64,
                                  "train_subset": 1200, "test_subset": 300, "stages": stages}))
    common = ["train", "--recipe", str(recipe), "--data-dir", str(shared_dir / "data" / "mnist")]
    straight = _start(*common, "--out", str(tmp_path / "straight"))
    killed = tmp_path / "killed"
    history = killed / "history.json"
    # epochs logged when the kill comes: inside pretrain, ADMM prune, retrain, ADMM quantize and learn_step retrain
    for index, epochs_logged in enumerate((1, 3, 6, 8, 10)):
        process = _start(*(common if index == 0 else ["train"]), "--out", str(killed), *(["--resume"] if index else []))
        _kill_when(process, lambda: len(_json(history, [])) >= epochs_logged, f"after {epochs_logged} epochs")
        assert not (killed / "model.pt").exists()
        saved = torch.load(killed / "checkpoint.pt", weights_only=True)["run"]
        # the checkpoint holds every epoch the log shows: only the epoch running at the kill is lost
        assert saved["history"][:len(_json(history, []))] == _json(history, [])
        assert len(saved["history"]) >= epochs_logged
    resumed = _start("train", "--out", str(killed), "--resume")
    for process in (straight, resumed):
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    b = torch.load(killed / "model.pt", weights_only=True)
    assert a["weight_levels"] == b["weight_levels"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["metrics"]["test_accuracy"] == b["metrics"]["test_accuracy"]
    without_wall_time = [{k: v for k, v in blob["metrics"].items() if k != "wall_s"} for blob in (a, b)]
    assert without_wall_time[0] == without_wall_time[1]


def test_killed_compile_reruns_only_unfinished_steps_and_a_tampered_artifact_is_rebuilt(tmp_path):
    build = tmp_path / "build"
    summary = build / "summary.json"
    process = _start("compile", "--out", str(build))
    _kill_when(process, lambda: _json(summary, {}).get("steps", {}).get("csim", {}).get("status") == "running",
               "inside the csim step")
    assert _json(summary, {})["steps"]["csim"]["status"] == "running"  # half-done work is marked, not taken as done
    assert not (build / "bundle").exists()

    rerun = run_flow("compile", "--out", str(build), "--no-progress")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    steps = _json(summary, {})["steps"]
    finished_before_kill = STEP_NAMES[:STEP_NAMES.index("csim")]
    assert [name for name in STEP_NAMES if steps[name].get("reused")] == finished_before_kill
    assert _json(summary, {})["verification"]["passed"]

    (build / "bundle" / "driver.py").write_text("# edited by hand\n")
    again = run_flow("compile", "--out", str(build), "--no-progress")
    assert again.returncode == 0, again.stderr[-2000:]
    steps = _json(summary, {})["steps"]
    assert [name for name in STEP_NAMES if not steps[name].get("reused")] == ["bundle"]
    assert (build / "bundle" / "driver.py").read_bytes() == DRIVER_SOURCE.read_bytes()
    assert "reused: inputs unchanged" in again.stdout


def test_the_build_fingerprint_sees_every_input(tmp_path, monkeypatch):
    model = tmp_path / "model.pt"
    model.write_bytes((REPO / "models" / "lenet-digits.pt").read_bytes())
    data = tmp_path / "mnist"
    data.mkdir()
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(b"labels")
    config = {"board": "pynq-z2", "sparse": "auto", "n_samples": 500}
    base = build_fingerprint(config, model, data)
    assert build_fingerprint(dict(config), model, data) == base
    assert build_fingerprint({**config, "sparse": "all"}, model, data) != base
    model.write_bytes(model.read_bytes() + b"\0")
    assert build_fingerprint(config, model, data) != base
    base = build_fingerprint(config, model, data)
    (data / "t10k-labels-idx1-ubyte.gz").write_bytes(b"other labels")
    assert build_fingerprint(config, model, data) != base
    base = build_fingerprint(config, model, data)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "vitis-run").write_text("#!/bin/sh\n")
    (tools / "vitis-run").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    assert build_fingerprint(config, model, data) != base  # synthesis can run now: its skipped record is stale
