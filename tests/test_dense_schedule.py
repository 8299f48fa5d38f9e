"""The estimate's trip counts for hls4ml's dense kernels, counted in hls4ml's own code: a coverage-instrumented
csim build of a real project (gcov) counts the iterations of the loops the estimator prices, and
design.json's intervals are those counts.

- Resource at a reuse factor above 1: the ReuseLoop, pipelined at II=1, once per cycle of a call.
- Latency (and distributed_arithmetic) convolutions: the line buffer's ReadInputWidth loop, pipelined
  at II = RF = 1, once per input pixel (tests/test_distributed_arithmetic.py counts the DA kernel's
  calls).

The default digits build is the chooser's design: two Latency convolutions, one fully connected
layer on Resource at RF 64, one sparse. Trip counts do not depend on the data, so one inference on
zeros is enough. What synthesis alone can show stays unchecked: the II reached, whether Vitis keeps
"rewind" with the InitAccum and Result loops around the ReuseLoop, and the pipeline depths the
latency adds. An io_stream Dense reads its packets, runs the kernel and writes its packets in one
process, so its estimated interval is its latency, the counted loop plus those.
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from test_sparse_schedule import run_on_zeros

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("gcov") is None,
                                reason="g++ or gcov not on PATH")

def loop_body_counts(gcov_text: str, label: str) -> list[int]:
    """Per loop labelled `label` in a gcov'd header: how often the first executable line of its body ran.

    gcov lists each source line as "count:line:source" ("-": no code, such as an `if` on a template constant
    or a template never instantiated; "#####": never run), all instantiations merged, then again per
    instantiation: the first listing of each line is the merged one. A loop whose next few lines hold no code
    was not instantiated."""
    first = {}
    for row in gcov_text.splitlines():
        parts = row.split(":", 2)
        if len(parts) == 3 and parts[1].strip().isdigit():
            first.setdefault(int(parts[1]), (parts[0].strip(), parts[2]))
    counts = []
    for number, (_, source) in sorted(first.items()):
        if source.strip() != f"{label}:":
            continue
        body = [first[n][0] for n in range(number + 2, number + 10) if n in first and first[n][0] != "-"]
        if body:
            counts.append(0 if body[0] == "#####" else int(body[0].rstrip("*")))
    return counts


def coverage_run(firmware, graph: dict, work) -> Path:
    """The project in `firmware` built with coverage and run once on zeros in `work`, then gcov'd: `work`, which
    holds a `<header>.gcov` per nnet_utils header."""
    work.mkdir()
    run_on_zeros(firmware, graph, work, "-O0", "--coverage")
    notes = sorted(work.glob("*myproject.gcno"))
    subprocess.run(["gcov", notes[0].name.removesuffix(".gcno")], cwd=work, check=True, capture_output=True)
    return work


def counted(work: Path, header: str, label: str) -> list[int]:
    """The counted iterations of each loop labelled `label` in `header` that ran."""
    return [count for count in loop_body_counts((work / f"{header}.gcov").read_text(), label) if count]


@pytest.fixture(scope="module")
def digits(default_build, tmp_path_factory):
    """The default digits build: its design.json, its graph, its firmware and one coverage run of it."""
    build_dir = default_build[0]
    graph = json.loads((build_dir / "graph.json").read_text())
    firmware = build_dir / "hls4ml_prj" / "firmware"
    return (json.loads((build_dir / "design.json").read_text()), graph, firmware,
            coverage_run(firmware, graph, tmp_path_factory.mktemp("coverage") / "run"))


def test_resource_interval_is_hls4mls_counted_reuse_loop(digits, tmp_path):
    design, graph, firmware, run = digits
    resource = [layer for layer in design["layers"]
                if layer["chosen"]["kernel"] == "resource" and layer["chosen"]["reuse_factor"] > 1]
    # the check needs the one folded fully connected Resource layer the chooser picks for this model
    assert len(resource) == 1, [layer["label"] for layer in design["layers"]]
    chosen = resource[0]["chosen"]
    # one ReuseLoop ran (RF <= n_in: dense_resource_rf_leq_nin), once per pipelined cycle of its one call: the
    # kernel's part of the estimate; the io_stream process around it reads and writes its packets in series, so
    # its interval is its whole latency
    assert counted(run, "nnet_dense_resource.h", "ReuseLoop") == [chosen["reuse_factor"]]
    estimate = chosen["estimate"]
    assert estimate["interval"] == estimate["latency"] > chosen["reuse_factor"]
    # the count follows the code: the same project at half the reuse factor runs half the iterations
    halved = tmp_path / "halved"
    shutil.copytree(firmware, halved)
    parameters = (halved / "parameters.h").read_text()
    rf = f"reuse_factor = {chosen['reuse_factor']};"
    assert parameters.count(rf) == 1
    (halved / "parameters.h").write_text(parameters.replace(rf, f"reuse_factor = {chosen['reuse_factor'] // 2};"))
    assert counted(coverage_run(halved, graph, tmp_path / "halved-run"), "nnet_dense_resource.h", "ReuseLoop") == [
        chosen["reuse_factor"] // 2]


UNROLLED_KERNELS = ("latency", "distributed_arithmetic")  # every product at once, one output position per cycle


def test_unrolled_convolution_interval_is_hls4mls_counted_pixel_loop(digits):
    """hls4ml's Latency and distributed_arithmetic convolutions share one line buffer (nnet_conv2d_stream.h) that
    reads one input pixel per cycle (ReadInputWidth, pipelined at II = RF = 1): the chooser's RF-1 convolutions'
    intervals add up to that loop's counted iterations."""
    design, _, _, run = digits
    convolutions = [layer["chosen"] for layer in design["layers"]
                    if layer["name"].startswith("Conv2D") and layer["chosen"]["kernel"] in UNROLLED_KERNELS]
    assert len(convolutions) == 2, [layer["label"] for layer in design["layers"]]
    # both layers run the same template line: the first ReadInputWidth (conv_2d_buffer_latency_cl) counts them all
    assert counted(run, "nnet_conv2d_stream.h", "ReadInputWidth") == [
        sum(chosen["estimate"]["interval"] for chosen in convolutions)]
