import io
import json
import os
import re
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


def run_flow(*args: str, cwd: Path | None = None, columns: int = 200) -> subprocess.CompletedProcess:
    """The installed `flow` console script, exactly as a user runs it (by default in a 200-column terminal, so
    tables don't wrap)."""
    script = Path(sys.executable).parent / "flow"
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd, timeout=900,
                          env={**os.environ, "COLUMNS": str(columns)})


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
    # an 80-column terminal, as a user's: tests/test_compile_default.py checks its output reads there
    result = run_flow("compile", "--board", "pynq-z2", "--out", str(build_dir), "--no-progress", columns=80)
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir, result


LENET5 = REPO / "models" / "lenet5-admm-joint.pt"
LENET5_SAMPLES = 50  # compared to the LSB against QONNX; bench/sparse_lenet5.py and infer_csim_mnist.py run more


def lenet5_compile_args(shared_dir: Path, build_dir: Path, *extra: str) -> list[str]:
    return ["compile", "--model", str(LENET5), "--data-dir", str(shared_dir / "data" / "mnist"),
            "--n-samples", str(LENET5_SAMPLES), "--out", str(build_dir), "--no-progress", *extra]


@pytest.fixture(scope="session")
def lenet5_sparse_build(tmp_path_factory, shared_dir) -> Path:
    """The shipped compressed LeNet-5 with its three most pruned layers pinned to the sparse kernel (conv2 95%,
    fc1 99.7%, fc2 94%; conv1, 70% pruned, dense)."""
    build_dir = tmp_path_factory.mktemp("lenet5") / "sparse"
    result = run_flow(*lenet5_compile_args(shared_dir, build_dir, "--sparse", "conv2,fc1,fc2"))
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir


TFC = "reference/onnx/qonnx_model_zoo/MNIST__Brevitas_FINN_TFC__TFC__TFC_2W2A.onnx"
TFC_SAMPLES = 200


def tfc_compile_args(shared_dir: Path, build_dir: Path) -> list[str]:
    return ["compile", "--model", str(shared_dir / TFC), "--board", "pynq-z2", "--data-dir",
            str(shared_dir / "data" / "mnist"), "--n-samples", str(TFC_SAMPLES), "--out", str(build_dir), "--no-progress"]


@pytest.fixture(scope="session")
def tfc_build(tmp_path_factory, shared_dir) -> Path:
    """FINN's TFC_2W2A, a dense-only MLP (io_parallel), built as `flow compile` builds it by default."""
    build_dir = tmp_path_factory.mktemp("tfc") / "build"
    result = run_flow(*tfc_compile_args(shared_dir, build_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir


@pytest.fixture(scope="session")
def digits_sparse_build(tmp_path_factory) -> Path:
    """The default digits model with every layer sparse, and a cycle target that gives three of its
    four layers several PEs (conv: 1 and 16, fully connected: 16 and 5)."""
    build_dir = tmp_path_factory.mktemp("digits-sparse") / "build"
    result = run_flow("compile", "--out", str(build_dir), "--sparse", "all", "--sparse-cycles", "100",
                      "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir


def sparse_layer_configs(build_dir: Path) -> dict[str, dict]:
    """Per sparse layer of a build's project: the nnet function called, the kernel's config fields
    (a convolution's configN_mult) and, for a convolution, its own configN's."""
    firmware = build_dir / "hls4ml_prj" / "firmware"
    parameters = (firmware / "parameters.h").read_text()

    def fields(struct: str) -> dict[str, str]:
        body = re.search(rf"struct {struct} : [^{{]*{{(.*?)\n}};", parameters, re.S).group(1)
        return dict(re.findall(r"static const unsigned (\w+) = ([\w:]+);", body))

    configs = {}
    calls = re.findall(r"nnet::(\w+)<[^>]*config(\d+)>\([^;]*\);\s*//\s*(\S+)", (firmware / "myproject.cpp").read_text())
    for function, index, name in calls:
        if function == "sparse_dense":
            configs[name] = {"function": function, "kernel": fields(f"config{index}")}
        elif f"struct config{index}_mult : nnet::sparse_dense_config" in parameters:
            configs[name] = {"function": function, "kernel": fields(f"config{index}_mult"),
                             "layer": fields(f"config{index}")}
    return configs


def assert_sparse_configs_follow_memory_json(build_dir: Path, configs: dict[str, dict]) -> None:
    memory = {layer["name"]: layer for layer in json.loads((build_dir / "memory.json").read_text())["layers"]}
    assert set(configs) == {name for name, layer in memory.items() if layer["kernel"] == "sparse"}
    for name, config in configs.items():
        # the entry ROMs are bound where memory.json counted them
        assert config["kernel"]["storage"] == f"nnet::sparse_{memory[name]['entries_storage']}"
        if "layer" in config:  # hls4ml's line buffer must not pipeline its pixel loop around the entries walk
            assert config["layer"]["strategy"] == "nnet::resource"


# The files with the longest fixtures and tests first: pytest-xdist (--dist loadfile) hands each file to the next
# free worker in collection order, so a long file collected last would end the run on one worker alone.
SLOWEST_FIRST = ("test_other_models.py", "test_sparse_hls4ml.py", "test_rtl.py", "test_plan.py",
                 "test_gate_level.py", "test_resume.py", "test_breakeven.py", "test_estimates.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: SLOWEST_FIRST.index(item.path.name) if item.path.name in SLOWEST_FIRST
               else len(SLOWEST_FIRST))
