"""The estimate equals the schedule: an instrumented csim build of a real project counts the sparse
kernel's pipelined loop iterations (one per cycle at II=1), and estimates.json's sparse latency is
that count plus each call's fixed pipeline overhead.

The counts do not depend on the data (the entries walk has a fixed trip count), so the model runs
once on zeros. What stays unchecked without Vitis HLS: that synthesis reaches II=1 and the
pipeline depths flow assumes (SPARSE_CALL_OVERHEAD).
"""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import assert_sparse_configs_follow_memory_json, sparse_layer_configs
from flow.cost.kernels import SPARSE_CALL_OVERHEAD

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")

DRIVER = """#include "myproject.h"
// one inference on zeros; the kernel's loop counters print at exit (FLOW_COUNT_SPARSE_LOOPS)
int main() {
    hls::stream<input_t> in;
    hls::stream<result_t> out;
    for (unsigned p = 0; p < N_VALUES / input_t::size; p++) {
        input_t packet;
        for (unsigned i = 0; i < input_t::size; i++) packet[i] = 0;
        in.write(packet);
    }
    myproject(in, out);
    while (!out.empty()) out.read();
}
"""
COUNT_LINE = re.compile(r"flow-sparse-loops \S*?config(\d+)(?:_mult)?\S* calls=(\d+) entries=(\d+) rows=(\d+)")


def run_on_zeros(firmware, graph: dict, work, *flags: str) -> str:
    """The project in `firmware` compiled with `flags` and the driver, run once on zeros in `work`: its stdout."""
    (work / "driver.cpp").write_text(f"#define N_VALUES {int(np.prod(graph['input_shape']))}\n" + DRIVER)
    compiled = subprocess.run(
        ["g++", "-std=c++17", *flags, "-w", f"-I{firmware}", f"-I{firmware / 'ap_types'}",
         f'-DWEIGHTS_DIR="{firmware / "weights"}"', str(firmware / "myproject.cpp"), "driver.cpp", "-o", "driver"],
        cwd=work, capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    return subprocess.run(["bash", "-c", "ulimit -s unlimited && ./driver"], cwd=work, capture_output=True,
                          text=True, check=True).stdout


def loop_counts(build_dir, work) -> dict[str, dict]:
    """Per sparse layer name: the instrumented kernel's calls and loop iterations for one inference."""
    firmware = build_dir / "hls4ml_prj" / "firmware"
    source = (firmware / "myproject.cpp").read_text()
    layer_of_config = {index: name for index, name in
                       re.findall(r"nnet::\w+<[^>]*config(\d+)>\([^;]*\);\s*//\s*(\S+)", source)}
    graph = json.loads((build_dir / "graph.json").read_text())
    counts = {}
    for index, calls, entries, rows in COUNT_LINE.findall(run_on_zeros(firmware, graph, work,
                                                                       "-O1", "-DFLOW_COUNT_SPARSE_LOOPS")):
        # a convolution's kernel runs under configN_mult, named by the layer's configN
        counts[layer_of_config[index]] = {"calls": int(calls), "entries": int(entries), "rows": int(rows)}
    return counts


def test_sparse_latency_estimate_is_the_counted_loop_iterations_plus_fixed_overhead(digits_sparse_build, tmp_path):
    counts = loop_counts(digits_sparse_build, tmp_path)
    layers = json.loads((digits_sparse_build / "estimates.json").read_text())["layers"]
    sparse = [layer for layer in layers if layer["kernel"] == "sparse"]
    assert set(counts) == {layer["name"] for layer in sparse}
    pes = set()
    for layer in sparse:
        shape, kernel = layer["shape"], layer["sparse"]["kernel"]
        count = counts[layer["name"]]
        pes.add((shape["positions"] > 1, kernel["pes"]))
        assert count["calls"] == shape["positions"]  # one product per output pixel, one per vector
        # the P PEs share each iteration: n_entries per call, not P x n_entries
        assert count["entries"] == count["calls"] * kernel["entries"]
        assert count["rows"] == count["calls"] * kernel["rows"]
        cycles = count["entries"] + count["rows"]
        if shape["positions"] == 1:
            cycles += shape["stream_packets"]
        else:
            cycles += shape["input_positions"] - shape["positions"]  # line-buffer steps that produce no output
        assert layer["sparse"]["estimate"]["latency"] - cycles == count["calls"] * SPARSE_CALL_OVERHEAD
    assert {(True, 1), (True, 16), (False, 16), (False, 5)} <= pes  # conv and fully connected, several P


def test_digits_build_binds_its_small_entry_roms_to_lutram(digits_sparse_build):
    configs = sparse_layer_configs(digits_sparse_build)
    assert_sparse_configs_follow_memory_json(digits_sparse_build, configs)
    assert {config["kernel"]["storage"] for config in configs.values()} == {"nnet::sparse_lutram"}
