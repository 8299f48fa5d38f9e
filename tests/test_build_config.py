"""`flow compile --config`: a build config file, flags over it, per-layer pins the chooser keeps, and bad keys refused
in one line."""
import json
import re
import shutil

import numpy as np
import pytest
import yaml

from conftest import REPO, run_flow, run_flow_in_process

DIGITS_CONFIG = REPO / "models" / "builds" / "lenet-digits.yaml"


def test_print_config_is_the_file_with_the_given_flags_over_it():
    result = run_flow_in_process("compile", "--config", str(DIGITS_CONFIG), "--n-samples", "100", "--print-config")
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    in_file = yaml.safe_load(DIGITS_CONFIG.read_text())
    assert printed["n_samples"] == 100 and in_file["n_samples"] == 359  # the flag wins
    assert printed["target_fps"] == in_file["target_fps"] and printed["out"] == in_file["out"]
    assert printed["max_utilization"] == 0.8  # a flag's default given by neither stays the default
    assert printed["layers"]["classifier.2"] == {"Strategy": "Sparse"}
    assert not (REPO / in_file["out"]).exists()  # printing builds nothing


def test_every_shipped_build_config_reads():
    for path in sorted((REPO / "models" / "builds").glob("*.yaml")):
        result = run_flow_in_process("compile", "--config", str(path), "--print-config")
        assert result.returncode == 0, (path, result.stderr)


@pytest.mark.parametrize("text, named", [
    ("n_sample: 100\n", "unknown key 'n_sample'; valid keys: board, model, out"),
    ("n_samples: many\n", "n_samples must be a whole number, got 'many'"),
    ("layers:\n  fc1: {Strategie: Latency}\n", "layers: fc1: unknown key 'Strategie'; valid keys: Strategy, "),
    ("layers:\n  fc1: {Strategy: Fast}\n", "unknown Strategy 'Fast'; valid: Latency, Resource, "),
    ("layers:\n  fc1: {Strategy: Latency, ReuseFactor: 4}\n", "drop ReuseFactor or use Strategy: Resource"),
    ("layers:\n  fc1: {Precision: {acum: fixed<8,4>}}\n", "unknown variable 'acum'; valid: weight, bias, result"),
    ("sparse: all\nlayers:\n  fc1: {Strategy: Latency}\n", "which the design chooser keeps only with sparse: auto"),
    ('layers:\n  fc1: {Precision: "fixed<16>"}\n', "Precision 'fixed<16>' is no hls4ml type; write e.g."),
    ("clock_period_ns: -5\n", "clock-period-ns must be above 0"),
])
def test_bad_config_is_refused_in_one_line(tmp_path, text, named):
    config = tmp_path / "build.yaml"
    config.write_text(text)
    out = tmp_path / "build"
    result = run_flow_in_process("compile", "--config", str(config), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert named in result.stderr
    assert not out.exists()  # refused before the build dir is made


def test_a_config_made_in_python_is_checked_like_a_file(tmp_path):
    from flow import BuildConfig, FlowError, compile

    with pytest.raises(FlowError, match="layers: fc1: unknown key 'strategy'; valid keys: Strategy"):
        compile(BuildConfig(layers={"fc1": {"strategy": "Latency"}}, out=tmp_path / "build"))
    assert not (tmp_path / "build").exists()


def test_yaml_spellings_a_user_writes_are_read(tmp_path):
    config = tmp_path / "build.yaml"
    config.write_text("target_fps: 5e5\nsparse: []\nlayers:\n")  # YAML 1.1 reads 5e5 as text
    result = run_flow_in_process("compile", "--config", str(config), "--sparse", "auto", "--print-config")
    printed = yaml.safe_load(result.stdout)
    assert result.returncode == 0 and printed["target_fps"] == 500000.0 and printed["layers"] == {}


@pytest.fixture(scope="module")
def config_build(tmp_path_factory):
    """The shipped digits config as a user runs it from the repository root, with flags over it: up to the estimate
    step, which has the project written and the design estimated (csim of chosen designs: tests/test_target_fps.py)."""
    out = tmp_path_factory.mktemp("config") / "build"
    result = run_flow("compile", "--config", str(DIGITS_CONFIG.relative_to(REPO)), "--out", str(out),
                      "--n-samples", "100", "--to-step", "estimate", "--no-progress", cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_config_build_keeps_the_users_pins_and_flags(config_build):
    config = json.loads((config_build / "config.json").read_text())
    assert config["n_samples"] == 100 and config["out"] == str(config_build)  # the flags
    assert config["target_fps"] == 500000 and "features.1" in config["layers"]  # the file
    design = json.loads((config_build / "design.json").read_text())
    assert design["interval"] <= 200  # 500,000/s at 100 MHz
    layers = {layer["name"]: layer for layer in design["layers"]}
    pinned = {name for name, layer in layers.items() if layer["pinned_by_user"]}
    assert pinned == {"Conv2D_Conv_0", "Dense_MatMul_0", "Dense_MatMul_1"}  # features.1, classifier.2 mapped
    assert layers["Conv2D_Conv_0"]["chosen"]["kernel"] == "latency"
    assert layers["Dense_MatMul_0"]["chosen"]["kernel"] == "resource"
    assert layers["Dense_MatMul_1"]["chosen"]["kernel"] == "sparse"
    assert {c["kernel"] for c in layers["Dense_MatMul_1"]["candidates"]} == {"sparse"}  # the menu the pin left
    assert len({c["kernel"] for c in layers["Conv2D_Conv_1"]["candidates"]}) > 1  # unpinned: the whole menu
    # the user's accumulator type, not flow's exact fixed<16,8>
    defines = (config_build / "hls4ml_prj" / "firmware" / "defines.h").read_text()
    assert re.findall(r"typedef (\S+) dense_matmul_0_accum_t;", defines) == ["ap_fixed<18,9>"]
    assert re.findall(r"typedef (\S+) dense_matmul_1_accum_t;", defines) == ["ap_fixed<15,8>"]  # flow's exact
    assert list(json.loads((config_build / "summary.json").read_text())["steps"])[-1] == "estimate"


def test_config_naming_a_layer_the_model_lacks_is_refused(config_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(config_build, build)
    config = tmp_path / "build.yaml"
    config.write_text(f"model: {DIGITS_CONFIG.parent.parent.name}/lenet-digits.pt\nlayers:\n  fc9: {{Strategy: Latency}}\n")
    result = run_flow("compile", "--config", str(config), "--out", str(build), "--from-step", "hls4ml",
                      "--no-progress", cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.startswith("error: build config layers: unknown layer 'fc9'; layers with weights: Conv2D_Conv_0")
    assert len(result.stderr.strip().splitlines()) == 1 and "classifier.2 (= Dense_MatMul_1)" in result.stderr


@pytest.mark.parametrize("text", ["1", "2,1", "0,1,0", "a,b", "0,1,2,3", "-1,1,-2"])
def test_bad_input_range_is_one_line(text):
    from flow.build.config import parse_input_range
    from flow.errors import FlowError

    with pytest.raises(FlowError, match="--input-range") as caught:
        parse_input_range(text)
    assert "\n" not in str(caught.value)


def test_input_range_samples_its_grid():
    from flow.build.config import parse_input_range

    grid = parse_input_range("-1,1,2")
    values = grid.sample(np.random.default_rng(0), (1000,))
    assert set(np.unique(values)) == {-1.0, 1.0}
    uniform = parse_input_range("-3,3").sample(np.random.default_rng(0), (1000,))
    assert uniform.min() >= -3 and uniform.max() < 3 and len(np.unique(uniform)) > 900
    assert str(grid) == "random-grid[-1..1 step 2]" and str(parse_input_range("-3,3")) == "uniform-random[-3,3)"
