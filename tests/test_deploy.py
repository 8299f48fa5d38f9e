"""The deploy bundle and its board driver: fixed-point codec, integrity checks, bounded DMA waits, Python 3.10 + numpy/pynq only."""
import ast
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, run_flow, run_flow_in_process
from flow.boards import load_board
from flow.build.config import BuildConfig
from flow.build.step import StepContext
from flow.errors import FlowError
from flow.csim_overlay import csim_connection
from flow.deploy.pynq_driver import Accelerator, DMATimeoutError, FixedPoint, read_bundle

DRIVER = REPO / "flow" / "deploy" / "pynq_driver.py"


def reference_code(value: float, width: int, integer: int, signed: bool, rounding: str, overflow: str) -> int:
    """ap_fixed's float -> code conversion, one value at a time in exact rational arithmetic."""
    scaled = Fraction(value) * 2 ** (width - integer)
    floor = scaled.numerator // scaled.denominator
    if rounding == "TRN":
        code = floor
    else:  # RND_CONV: to nearest, ties to even
        rest = scaled - floor
        code = floor + (1 if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2) else 0)
    low, high = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if overflow == "SAT":
        return min(max(code, low), high)
    code %= 1 << width
    return code - (1 << width) if signed and code > high else code


@pytest.mark.parametrize("precision", ["fixed<16,6,TRN,WRAP,0>", "fixed<8,3,RND_CONV,SAT,0>", "ufixed<8,2,TRN,SAT,0>",
                                       "fixed<32,16,TRN,WRAP,0>", "ufixed<12,4,RND_CONV,WRAP,0>", "fixed<5,5>"])
def test_codec_matches_ap_fixed_conversion(precision):
    codec = FixedPoint(precision)
    values = np.random.default_rng(0).normal(scale=2.0 ** (codec.width - codec.fraction - 1), size=4000)
    values = np.concatenate([values, np.arange(-64, 64) / 2 ** (codec.fraction + 1)])  # exact ties
    codes = codec.encode(values)
    kind, rest = precision.split("<")
    width, integer = (int(x) for x in rest.rstrip(">").split(",")[:2])
    rounding, overflow = (rest.rstrip(">").split(",") + ["TRN", "WRAP"])[2:4]
    expected = [reference_code(float(v), width, integer, kind == "fixed", rounding, overflow) for v in values]
    assert codes.dtype.itemsize * 8 == codec.bits >= width
    assert codec.decode(codes).tolist() == [code * 2.0 ** -(width - integer) for code in expected]


def test_driver_is_python_310_with_numpy_and_pynq_only():
    tree = ast.parse(DRIVER.read_text(), feature_version=(3, 10))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"numpy", "pynq"}


def test_bundle_ships_the_driver_and_it_refuses_to_run_without_a_bitstream(default_build):
    bundle = default_build[0] / "bundle"
    assert (bundle / "driver.py").read_bytes() == DRIVER.read_bytes()
    result = subprocess.run([sys.executable, str(bundle / "driver.py"), "selftest"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "has no bitstream (it was built without Vivado)" in result.stderr and "Traceback" not in result.stderr
    pynq = run_flow("infer", "--bundle", str(bundle), "--target", "pynq")
    assert pynq.returncode == 2 and "has no bitstream" in pynq.stderr


def test_csim_target_cli_reproduces_compile_csim(default_build):
    result = run_flow("infer", "--bundle", str(default_build[0] / "bundle"), "--target", "csim")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "359 inputs on csim" in result.stdout and "bit for bit: True" in result.stdout


def test_a_stalled_dma_times_out_with_a_clear_error(default_build):
    bundle = default_build[0] / "bundle"
    device = Accelerator(bundle, connect=csim_connection(bundle, stalled=True), timeout_s=0.2)
    with pytest.raises(DMATimeoutError, match=r"DMA send \(MM2S\) did not finish within 0.2 s"):
        device.predict(np.load(bundle / "test_inputs.npy")[:2])


@pytest.mark.parametrize("damage, message", [
    ("tamper", "does not match its sha256 in manifest.json"),
    ("drop_driver", "lacks driver.py, listed in manifest.json"),
    ("drop_metadata", "holds no bundle (no metadata.json)"),
    ("corrupt_manifest", "unreadable manifest.json or metadata.json"),
])
def test_damaged_bundles_are_refused_before_anything_runs(default_build, tmp_path, damage, message):
    build = tmp_path / "build"
    shutil.copytree(default_build[0], build, ignore=shutil.ignore_patterns("hls4ml_prj", "layer_projects"))
    bundle = build / "bundle"
    if damage == "tamper":
        inputs = np.load(bundle / "test_inputs.npy")
        np.save(bundle / "test_inputs.npy", inputs + 1)
    elif damage == "drop_driver":
        (bundle / "driver.py").unlink()
    elif damage == "drop_metadata":
        (bundle / "metadata.json").unlink()
    else:
        (bundle / "manifest.json").write_text("{not json")
    result = run_flow("infer", "--bundle", str(bundle))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_wrong_input_shape_is_one_line(default_build, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 28, 28), dtype=np.float32))
    result = run_flow("infer", "--bundle", str(default_build[0]), "--input", str(tmp_path / "x.npy"))
    assert result.returncode == 2 and "shaped (N, 1, 8, 8)" in result.stderr and "Traceback" not in result.stderr


def test_metadata_names_what_the_driver_needs(default_build):
    metadata = json.loads((default_build[0] / "bundle" / "metadata.json").read_text())
    # both ends are quantizer types: the input's 8-bit QuantIdentity and the 8-bit output
    assert FixedPoint(metadata["input"]["precision"]).bits == 8 and FixedPoint(metadata["output"]["precision"]).bits == 8


def test_bitstream_step_writes_the_block_design_params(default_build, tmp_path):
    from flow.build.steps import bitstream as bitstream_step

    build_dir = default_build[0]
    summary = json.loads((build_dir / "summary.json").read_text())
    assert summary["steps"]["bitstream"]["status"] == "skipped: not requested (flow compile --bitstream runs Vivado)"
    params = (build_dir / "vivado" / "params.tcl").read_text()
    assert "set flow_part {xc7z020clg400-1}\n" in params and "set flow_in_width {8}\n" in params
    build = tmp_path / "build"
    shutil.copytree(build_dir, build, ignore=shutil.ignore_patterns("hls4ml_prj", "layer_projects"))
    ctx = StepContext(config=BuildConfig(out=build, bitstream=True), board=load_board("pynq-z2"), build_dir=build)
    assert bitstream_step.run(ctx)["status"] == "skipped: vivado not on PATH"


def test_routed_utilization_and_timing_are_read_back_from_real_reports(shared_dir, tmp_path):
    """What the bitstream step reports after Vivado, from real reports: a placed PYNQ-Z2 hls4ml design's
    utilization and the timing summary FINN published for its LFC on PYNQ-Z2 (Vivado 2018.2)."""
    from flow.build.steps.bitstream import TIMING_REPORT, UTILIZATION_REPORT, implementation_results

    reference = shared_dir / "reference"
    shutil.copyfile(reference / "hls_reports" / "jet_mlp_16-64-32-32-5_z7020_pynq_ap_fixed_vhls2019" / "vivado" /
                    "design_1_wrapper_utilization_placed.rpt", tmp_path / UTILIZATION_REPORT)
    with pytest.raises(FlowError, match="no timing report"):
        implementation_results(tmp_path)
    shutil.copyfile(reference / "finn_bnn_pynq" / "utilization_readmes" / "lfcW1A1-README.md", tmp_path / TIMING_REPORT)
    results = implementation_results(tmp_path)
    assert results["lut"] == 17654 and results["timing_met"]
    assert (results["wns_ns"], results["whs_ns"]) == (0.265, 0.012)


TESTBENCH = """#include <cstdio>
#include "myproject.h"
#include "flow_axis_top.h"
typedef hls::axis<ap_int<{in_bits}>, 0, 0, 0> in_word_t;
typedef hls::axis<ap_int<{out_bits}>, 0, 0, 0> out_word_t;
void flow_axis_top(hls::stream<in_word_t> &in_stream, hls::stream<out_word_t> &out_stream);
int main() {{
    unsigned samples, count, first_batch;  // two DMA transfers: the first ends after first_batch words
    if (std::scanf("%u %u %u", &samples, &count, &first_batch) != 3) return 1;
    hls::stream<in_word_t> in_stream;
    hls::stream<out_word_t> out_stream;
    for (unsigned i = 0; i < count; i++) {{
        long long value;
        if (std::scanf("%lld", &value) != 1) return 1;
        in_word_t word;
        word.data = value;
        word.last = i + 1 == count || i + 1 == first_batch;
        in_stream.write(word);
    }}
    for (unsigned sample = 0; sample < samples; sample++) flow_axis_top(in_stream, out_stream);  // free-running
    while (!out_stream.empty()) {{
        out_word_t word = out_stream.read();
        std::printf("%lld %d\\n", (long long)word.data.to_int64(), (int)word.last);
    }}
    std::printf("unread %d\\n", (int)in_stream.size());
    return 0;
}}
"""


def test_stream_top_speaks_the_drivers_format(default_build, tmp_path):
    """firmware/flow_axis_top.cpp compiled with g++ around the build's model, invoked once per sample as the
    free-running IP restarts: the driver's encoded test inputs in, as two DMA transfers of 3 and 4 samples, exactly
    the driver-encoded compile-time csim outputs out, TLAST on each transfer's last output word only, nothing left
    unread."""
    build_dir = default_build[0]
    bundle, firmware = build_dir / "bundle", build_dir / "hls4ml_prj" / "firmware"
    metadata = read_bundle(bundle)
    in_codec, out_codec = FixedPoint(metadata["input"]["precision"]), FixedPoint(metadata["output"]["precision"])
    (tmp_path / "tb.cpp").write_text(TESTBENCH.format(in_bits=in_codec.bits, out_bits=out_codec.bits))
    weights = build_dir / "hls4ml_prj" / "firmware" / "weights"
    compiled = subprocess.run(
        ["g++", "-O1", "-std=c++14", f"-I{firmware / 'ap_types'}", f"-I{firmware}", f"-I{REPO / 'hls' / 'csim'}",
         f'-DWEIGHTS_DIR="{weights}"', str(firmware / "myproject.cpp"), str(firmware / "flow_axis_top.cpp"),
         str(tmp_path / "tb.cpp"), "-o", str(tmp_path / "tb")], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    samples = 7
    inputs = np.load(bundle / "test_inputs.npy")[:samples]
    words = in_codec.encode(inputs.transpose(metadata["input"]["perm"]).reshape(samples, -1)).ravel()
    first = 3 * words.size // samples
    run = subprocess.run([str(tmp_path / "tb")], input=f"{samples} {words.size} {first}\n" + " ".join(map(str, words)),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    *lines, unread = run.stdout.splitlines()
    received = np.array([int(line.split()[0]) for line in lines])
    lasts = [int(line.split()[1]) for line in lines]
    expected = out_codec.encode(np.load(bundle / "test_outputs_csim.npy")[:samples]).ravel()
    assert unread == "unread 0" and np.array_equal(received, expected)
    per_sample = len(lasts) // samples
    assert [i for i, last in enumerate(lasts) if last] == [3 * per_sample - 1, samples * per_sample - 1]


def test_the_ip_answers_whole_samples_only(default_build):
    """The csim stand-in, like the free-running IP, completes a transfer of whole samples into a buffer for exactly
    their outputs; a transfer one word short waits for the rest of its last sample, and the driver times out."""
    bundle = default_build[0] / "bundle"
    device = Accelerator(bundle, connect=csim_connection(bundle), timeout_s=0.2)
    words = device.encode(np.load(bundle / "test_inputs.npy")[:2])
    assert device._transfer(words).shape == (2, device.output_size)
    with pytest.raises(DMATimeoutError):
        device._transfer(words.reshape(-1)[:-1])


def test_a_built_bitstream_joins_the_bundle_under_one_stem(default_build, tmp_path):
    """Where Vivado left flow_nn.bit and .hwh, the bundle ships both, lists them in the manifest and names the .bit;
    the driver then checks them and goes for pynq, which this machine lacks: one error line."""
    from flow.build.steps import bundle as bundle_step
    from flow.build.artifacts import BITSTREAM_OUTPUT

    build = tmp_path / "build"
    shutil.copytree(default_build[0], build, ignore=shutil.ignore_patterns("hls4ml_prj", "layer_projects"))
    (build / BITSTREAM_OUTPUT).mkdir(parents=True)
    (build / BITSTREAM_OUTPUT / "flow_nn.bit").write_bytes(b"\x00\x09bitstream")
    (build / BITSTREAM_OUTPUT / "flow_nn.hwh").write_text("<hwh/>")
    ctx = StepContext(config=BuildConfig(out=build), board=load_board("pynq-z2"), build_dir=build)
    bundle_step.run(ctx)
    bundle = build / "bundle"
    assert read_bundle(bundle)["bitstream"] == "flow_nn.bit"
    assert {"flow_nn.bit", "flow_nn.hwh"} <= set(json.loads((bundle / "manifest.json").read_text()))
    result = subprocess.run([sys.executable, str(bundle / "driver.py"), "selftest"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "pynq is not installed" in result.stderr or "cannot load flow_nn.bit" in result.stderr


# Stands in for pynq on the board, where the driver would import it: Overlay(bitstream) has the register map
# (ip_dict) PYNQ reads from the .hwh beside the bitstream, and, like PYNQ's, an attribute only for each cell listed.
FAKE_PYNQ = """
import json, os

class Overlay:
    def __init__(self, bitstream):
        self.ip_dict = json.loads(os.environ["FAKE_PYNQ_IP_DICT"])

    def __getattr__(self, name):
        if name in self.__dict__["ip_dict"]:
            return object()
        raise AttributeError(f"Could not find IP or hierarchy {name} in overlay")

def allocate(shape, dtype):
    raise RuntimeError("the stand-in moves no data")
"""


def test_a_bitstream_without_the_dma_is_one_error_line(default_build, tmp_path):
    """driver.py on a bundle whose .hwh register map lacks a cell the driver drives: one error line naming the cell,
    what the register map does list, and the fix, before any transfer."""
    from flow.build.steps import bundle as bundle_step
    from flow.build.artifacts import BITSTREAM_OUTPUT

    build = tmp_path / "build"
    shutil.copytree(default_build[0], build, ignore=shutil.ignore_patterns("hls4ml_prj", "layer_projects"))
    (build / BITSTREAM_OUTPUT).mkdir(parents=True)
    (build / BITSTREAM_OUTPUT / "flow_nn.bit").write_bytes(b"\x00\x09bitstream")
    (build / BITSTREAM_OUTPUT / "flow_nn.hwh").write_text("<hwh/>")
    bundle_step.run(StepContext(config=BuildConfig(out=build), board=load_board("pynq-z2"), build_dir=build))
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "pynq.py").write_text(FAKE_PYNQ)
    # a bitstream of another design: the free-running IP has no registers, so a register map lists DMAs at most
    ip_dict = {"axi_gpio_0": {"phys_addr": 0x41200000, "addr_range": 0x10000}}
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "board"), "FAKE_PYNQ_IP_DICT": json.dumps(ip_dict)}
    result = subprocess.run([sys.executable, str(build / "bundle" / "driver.py"), "selftest"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and "the overlay has no cell axi_dma_0 (the AXI DMA)" in result.stderr
    assert f"register map of its .hwh lists {', '.join(ip_dict)}." in result.stderr and "flow compile --bitstream" in result.stderr


HLS_STUBS = """
set log [open [lindex $argv 1] w]
proc record {args} { puts $::log [join $args |] }
foreach command {open_project set_top open_solution set_part create_clock csynth_design export_design} {
    proc $command {args} "record $command {*}\\$args"
}
proc add_files {path args} {
    if {![file isfile $path]} { error "stub: no such source $path" }
    record add_files $path {*}$args
}
source [lindex $argv 0]
close $log
"""


def test_ip_export_script_synthesizes_the_stream_top(default_build, tmp_path):
    """ip/export_ip.tcl (written by the synth step, run by vitis-run where installed) under tclsh with recording
    stubs: the stream top is the top, both sources exist, the board's part and clock, an IP-catalog export."""
    build_dir = default_build[0]
    synth = json.loads((build_dir / "summary.json").read_text())["steps"]["synth"]
    assert synth["ip_export"] == "ip/export_ip.tcl written, not run"
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        pytest.skip("tclsh not on PATH")
    (tmp_path / "stubs.tcl").write_text(HLS_STUBS)
    run = subprocess.run([tclsh, str(tmp_path / "stubs.tcl"), str(build_dir / "ip" / "export_ip.tcl"),
                          str(tmp_path / "calls.log")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    calls = [line.split("|") for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert ["set_top", "flow_axis_top"] in calls and ["set_part", "xc7z020clg400-1"] in calls
    assert {Path(c[1]).name for c in calls if c[0] == "add_files"} == {"myproject.cpp", "flow_axis_top.cpp"}
    # hls4ml's open-source ap_types (C simulation only) #error under __SYNTHESIS__: the tool's own must be found
    cflags = {c[3] for c in calls if c[0] == "add_files" and c[2] == "-cflags"}
    assert len(cflags) == 1 and "ap_types" not in cflags.pop()
    assert ["create_clock", "-period", "10.0", "-name", "default"] in calls
    assert calls[-2][0] == "csynth_design" and calls[-1][:3] == ["export_design", "-format", "ip_catalog"]


def test_deploy_packs_one_folder_that_the_driver_runs_from(default_build, tmp_path):
    import tarfile

    archive = tmp_path / "lenet.tar.gz"
    result = run_flow_in_process("deploy", "--bundle", str(default_build[0]), "--out", str(archive))
    assert result.returncode == 0, result.stderr[-2000:]
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    manifest = json.loads((default_build[0] / "bundle" / "manifest.json").read_text())
    assert names == sorted(f"lenet/{name}" for name in [*manifest, "manifest.json"])
    # unpacked for the call, manifest checked, then the driver stops where the board would be needed
    pynq = run_flow_in_process("infer", "--bundle", str(archive), "--target", "pynq")
    assert pynq.returncode == 2 and "lenet has no bitstream (it was built without Vivado)" in pynq.stderr


def board_extra() -> list[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["board"]


def test_board_extra_pins_the_pynq_of_the_board_images():
    """pyproject's `board` extra is what the default board's bundles tell the board user to install, and its pynq
    pin admits a board's PYNQ image exactly when that board's own pin is the same release's."""
    from packaging.requirements import Requirement

    from flow.boards import known_boards
    from flow.build.config import DEFAULT_BOARD
    from flow.deploy import board_requirements

    extra = {Requirement(line).name: Requirement(line).specifier for line in board_extra()}
    assert board_extra() == board_requirements(load_board(DEFAULT_BOARD)) and set(extra) == {"pynq", "numpy"}
    # 3.1.2: the newest pynq 3.1 on PyPI; 4.0 dropped the Zynq-7000 boards; 1.21.5: Ubuntu 22.04's numpy, the image's
    assert extra["pynq"].contains("3.1.2") and not extra["pynq"].contains("4.0.0")
    assert extra["numpy"].contains("1.21.5") and not extra["numpy"].contains("2.0.0")
    images = {name: load_board(name) for name in known_boards()}
    for name, board in images.items():
        if board.pynq_image is None:
            continue
        own = Requirement(board_requirements(board)[0]).specifier
        assert own.contains(board.pynq_image), name
        assert extra["pynq"].contains(board.pynq_image) == (own == extra["pynq"]), name


def test_bundle_readme_says_what_to_install_and_run(default_build, tmp_path, monkeypatch):
    """bundle/README.md as the bundle step wrote it: in the manifest, the board's image and the extra's pins, the
    commands as the driver takes them, no bitstream and how to get one; its own-inputs snippet runs as written."""
    build_dir = default_build[0]
    bundle = build_dir / "bundle"
    metadata = read_bundle(bundle)
    readme = (bundle / "README.md").read_text()
    files = [*json.loads((bundle / "manifest.json").read_text()), "manifest.json"]
    assert "README.md" in files and all(f"- `{name}`: " in readme for name in files)
    board = load_board(metadata["board"])
    assert f"The PYNQ {board.pynq_image} image for the {board.name} (Python {board.pynq_python};" in readme
    assert "python3 -m pip install " + " ".join(f'"{line}"' for line in board_extra()) + "\n" in readme
    assert f"flow deploy --bundle {build_dir} --host xilinx@BOARD:/home/xilinx\n" in readme
    assert f"tar xzf {build_dir.name}.tar.gz\ncd {build_dir.name}\n" in readme
    assert "python3 driver.py selftest " in readme and "python3 driver.py benchmark --batch 256 " in readme
    assert f"the {len(np.load(bundle / 'test_inputs.npy'))} test inputs" in readme
    assert metadata["bitstream"] is None and "**This bundle has no bitstream**" in readme and "`--bitstream`" in readme
    assert board.part in readme and metadata["input"]["precision"] in readme
    options = subprocess.run([sys.executable, str(bundle / "driver.py"), "--help"], capture_output=True, text=True)
    assert all(option in options.stdout for option in ("--batch", "--timeout", "--repeats", "--bundle"))

    # the own-inputs snippet, in a copy of the bundle, against a DMA that answers every transfer with zeros
    snippet = readme.split("```python\n")[1].split("```")[0]
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    np.save(copy / "inputs.npy", np.load(bundle / "test_inputs.npy")[:300])
    channel = type("Channel", (), {"idle": True, "transfer": lambda self, buffer: None})()
    dma = type("DMA", (), {"sendchannel": channel, "recvchannel": channel})()
    overlay = type("Overlay", (), {metadata["dma"]: dma})()
    driver = type(sys)("driver")
    driver.Accelerator = lambda folder: Accelerator(folder, connect=lambda _: (overlay, np.zeros))
    monkeypatch.setitem(sys.modules, "driver", driver)
    monkeypatch.chdir(copy)
    scope = {}
    exec(snippet, scope)
    assert scope["outputs"].shape == (300, int(np.prod(metadata["output"]["shape"][1:])))
