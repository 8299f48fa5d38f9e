"""The estimate's trip count for hls4ml's Resource strategy at a reuse factor above 1: a coverage-instrumented
csim build of a real project (gcov) counts the iterations of hls4ml's own ReuseLoop, which the kernel
pipelines at II=1, and design.json's interval for the Resource layer is that count.

The default digits build is the chooser's design, which puts one fully connected layer on
Resource at RF 64. The trip count does not depend on the data, so one inference on zeros is
enough. This shows the loop the estimator prices is the loop hls4ml's code runs for the chosen
config; it cannot show the II, whether Vitis keeps "rewind" with the InitAccum and Result loops
around it, or the pipeline depth the latency adds: those need synthesis. The stream packets an
io_stream Dense reads and writes around the kernel are in the estimate's latency, not its interval.
"""
import json
import re
import shutil
import subprocess

import pytest

from test_sparse_schedule import run_on_zeros

pytestmark = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("gcov") is None,
                                reason="g++ or gcov not on PATH")

REUSE_LOOP = re.compile(r"^\s*ReuseLoop:\s*$")


def reuse_loop_body_counts(gcov_text: str) -> list[int]:
    """Per ReuseLoop of a gcov'd nnet_dense_resource.h: how often the first statement of its body ran."""
    lines = gcov_text.splitlines()
    counts = []
    for number, line in enumerate(lines):
        source = line.split(":", 2)[-1]
        if not REUSE_LOOP.match(source):
            continue
        for body in lines[number + 2:]:  # past the for header
            count, _, text = body.split(":", 2)
            if text.strip() and not text.strip().startswith("#pragma"):
                counts.append(0 if count.strip() in {"-", "#####"} else int(count.strip().rstrip("*")))
                break
    return counts


def counted_reuse_loops(firmware, graph: dict, work) -> list[int]:
    """The project in `firmware` built with coverage and run once on zeros: each ReuseLoop's counted iterations."""
    work.mkdir()
    run_on_zeros(firmware, graph, work, "-O0", "--coverage")
    notes = sorted(work.glob("*myproject.gcno"))
    subprocess.run(["gcov", notes[0].name.removesuffix(".gcno")], cwd=work, check=True, capture_output=True)
    return [count for count in reuse_loop_body_counts((work / "nnet_dense_resource.h.gcov").read_text()) if count]


def test_resource_interval_is_hls4mls_counted_reuse_loop(default_build, tmp_path):
    build_dir = default_build[0]
    design = json.loads((build_dir / "design.json").read_text())
    resource = [layer for layer in design["layers"]
                if layer["chosen"]["kernel"] == "resource" and layer["chosen"]["reuse_factor"] > 1]
    # the check needs the one folded fully connected Resource layer the chooser picks for this model
    assert len(resource) == 1, [layer["label"] for layer in design["layers"]]
    chosen = resource[0]["chosen"]
    graph = json.loads((build_dir / "graph.json").read_text())
    firmware = build_dir / "hls4ml_prj" / "firmware"
    # one ReuseLoop ran (RF <= n_in: dense_resource_rf_leq_nin), once per pipelined cycle of its one call
    assert counted_reuse_loops(firmware, graph, tmp_path / "built") == [chosen["estimate"]["interval"]]
    assert chosen["estimate"]["interval"] == chosen["reuse_factor"]
    # the count follows the code: the same project at half the reuse factor runs half the iterations
    halved = tmp_path / "halved"
    shutil.copytree(firmware, halved)
    parameters = (halved / "parameters.h").read_text()
    rf = f"reuse_factor = {chosen['reuse_factor']};"
    assert parameters.count(rf) == 1
    (halved / "parameters.h").write_text(parameters.replace(rf, f"reuse_factor = {chosen['reuse_factor'] // 2};"))
    assert counted_reuse_loops(halved, graph, tmp_path / "halved-run") == [chosen["reuse_factor"] // 2]
