"""The FIFO check (flow/hls4ml/fifo_check.py): it finds the deadlock of the stream top flow wrote before
the top became a dataflow region, and real builds pass it, io_stream and io_parallel."""
import json
import re
import shutil

import pytest

from conftest import run_flow_in_process
from flow.hls4ml import fifo_check

# flow's io_stream top before the dataflow region, with today's ports: read, model and write one after another per
# sample, through local streams of Vitis's default depth (2)
SEQUENTIAL_TOP = """// Written by flow (flow/hls4ml/stream_top.py): AXI-Stream top around {project}.
#include "{project}.h"
#include "flow_axis_top.h"

typedef hls::axis<ap_int<{in_container}>, 0, 0, 0> in_word_t;
typedef hls::axis<ap_int<{out_container}>, 0, 0, 0> out_word_t;

void {top}(hls::stream<in_word_t> &in_stream, hls::stream<out_word_t> &out_stream) {{
    #pragma HLS INTERFACE axis port=in_stream
    #pragma HLS INTERFACE axis port=out_stream
    #pragma HLS INTERFACE ap_ctrl_none port=return
{body}
}}
"""

SEQUENTIAL_STREAM_BODY = """    hls::stream<{input_t}> model_in;
    hls::stream<{result_t}> model_out;
    hls::stream<bool> last;
    flow::read_packets<{in_bits}, {input_t}, {n_in}>(in_stream, model_in, last);
    {project}(model_in, model_out);
    flow::write_packets<{out_bits}, {result_t}, {n_out}>(model_out, out_stream, last);"""


def sequential_top(dataflow_top: str) -> str:
    """The old top for the build whose dataflow top is `dataflow_top`, filled in from that top's own names."""
    words = {end: bits for bits, end in re.findall(r"ap_int<(\d+)>, 0, 0, 0> (\w+)_word_t", dataflow_top)}
    read = re.search(r"read_packets<(.+), (\w+), (\d+)>", dataflow_top).groups()
    write = re.search(r"write_packets<(.+), (\w+), (\d+)>", dataflow_top).groups()
    names = {"project": re.search(r'#include "(\w+)\.h"', dataflow_top).group(1), "in_bits": read[0],
             "input_t": read[1], "n_in": read[2], "out_bits": write[0], "result_t": write[1], "n_out": write[2]}
    return SEQUENTIAL_TOP.format(project=names["project"], top="flow_axis_top", in_container=words["in"],
                                 out_container=words["out"], body=SEQUENTIAL_STREAM_BODY.format(**names))


def test_the_old_sequential_top_deadlocks_and_fails_the_build(default_build, tmp_path):
    """Read pushes a whole sample into model_in before the model starts: the third packet finds it full."""
    build_dir = tmp_path / "build"
    shutil.copytree(default_build[0], build_dir)
    top = build_dir / "hls4ml_prj" / "firmware" / "flow_axis_top.cpp"
    top.write_text(sequential_top(top.read_text()))
    result = run_flow_in_process("compile", "--out", str(build_dir), "--from-step", "verify", "--no-progress")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(errors) == 1  # exit 1: a verification failure
    assert "FIFO check of the stream top: deadlock: every process waits, on model_in full (2/2)" in errors[0]
    report = json.loads((build_dir / "csim.json").read_text())["fifo_check"]
    assert report["passed"] is False and not report["outputs_match_csim"]
    assert report["deadlock"] == [{"fifo": "model_in", "waits_while": "full", "fill": 2, "depth": 2}]


def test_io_stream_build_passes_with_every_fifo_at_its_declared_depth(default_build):
    build_dir = default_build[0]
    report = json.loads((build_dir / "csim.json").read_text())["fifo_check"]
    assert report["passed"] and report["samples"] == 3 and report["outputs_match_csim"]
    firmware = build_dir / "hls4ml_prj" / "firmware"
    declared = {}
    for name in ("myproject.cpp", "flow_axis_top.cpp"):
        declared |= {variable: int(depth) for variable, depth in
                     re.findall(r"#pragma HLS STREAM variable=(\w+) depth=(\d+)", (firmware / name).read_text())}
    assert {name: fifo["depth"] for name, fifo in report["fifos"].items()} == declared
    assert all(0 < fifo["max_fill"] <= fifo["depth"] for fifo in report["fifos"].values())
    assert report["fifos"]["model_in"]["depth"] == 64  # a whole sample: 64 channels-last pixels of one channel
    # the rewritten copy threads every layer call; hls4ml's weight loading stays on the caller's thread
    rewritten = (build_dir / "fifo_check" / "myproject.cpp").read_text()
    original = (firmware / "myproject.cpp").read_text()
    assert rewritten.count("flow_fifo_processes.spawn(") == original.count("nnet::") - original.count(
        "nnet::load_weights_from_txt") == 8  # no input quantizer (the input has its type), no input transpose, no
    # Relu before an unsigned quantizer (the qonnx step removes them: the quantizer clips at 0)
    loading = rewritten[rewritten.index("#ifndef __SYNTHESIS__"):rewritten.index("#endif")]
    assert "load_weights_from_txt" in loading and "spawn" not in loading


@pytest.mark.parametrize("source, message", [
    ("void f() {\n#pragma HLS DATAFLOW\n  hls::stream<int> s[4];\n  g(s);\n}\n", "array of streams s"),
    ("void f() {\n#pragma HLS DATAFLOW\n  hls::stream<int> s;\n  int a[4];\n  g(s, a);\n  h(a);\n}\n",
     "mixes stream and array channels"),
])
def test_networks_the_check_does_not_model_are_refused(source, message):
    with pytest.raises(fifo_check.FifoCheckError, match=message):
        fifo_check.rewrite(source)
