import io
import os
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only third-party material beside the clone; tests that need it skip without it."""
    path = Path(os.environ.get("FLOW_SHARED_DIR", REPO.parent / "shared"))
    if not path.is_dir():
        pytest.skip(f"shared material not found at {path}")
    return path


def run_flow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed `flow` console script, exactly as a user runs it (in a 200-column terminal, so tables don't wrap)."""
    script = Path(sys.executable).parent / "flow"
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd, timeout=900,
                          env={**os.environ, "COLUMNS": "200"})


def run_flow_in_process(*args: str) -> subprocess.CompletedProcess:
    """`flow ARGS` through the console script's own main(), in this interpreter: the same exit codes and output
    without a second start of torch and hls4ml. An exception main() lets through is reported as its traceback."""
    from flow.cli import main

    stdout, stderr, argv = io.StringIO(), io.StringIO(), sys.argv
    code = 0
    sys.argv = ["flow", *args]
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(["flow", *args], code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="session")
def default_build(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    build_dir = tmp_path_factory.mktemp("default") / "build"
    result = run_flow("compile", "--board", "pynq-z2", "--out", str(build_dir), "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir, result


@pytest.fixture(scope="session")
def digits_sparse_build(tmp_path_factory) -> Path:
    """The default digits model with every layer sparse, and a cycle target that gives three of its
    four layers several PEs (conv: 1 and 16, fully connected: 16 and 5)."""
    build_dir = tmp_path_factory.mktemp("digits-sparse") / "build"
    result = run_flow("compile", "--out", str(build_dir), "--sparse", "all", "--sparse-cycles", "100",
                      "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir
