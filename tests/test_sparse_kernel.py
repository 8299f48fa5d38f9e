"""hls/nnet_sparse.h compiled with g++ against hls4ml's ap_types, checked against numpy on random layers."""
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hls4ml
from flow.sparse.encoding import encode

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = Path(hls4ml.__file__).parent / "templates" / "vivado"
# (n_in, n_out, sparsity, pes, index_bits): single PE, odd PE counts, gaps far beyond 2**k (fillers), all zero
LAYERS = [(16, 8, 0.5, 1, 3), (50, 13, 0.9, 3, 2), (64, 31, 0.97, 7, 1), (9, 5, 0.0, 5, 3), (30, 4, 1.0, 2, 3),
          (200, 10, 0.995, 1, 2)]
DATA_TYPE = "ap_fixed<16,8>"  # inputs on a 1/16 grid, levels on 1/8: every product and sum below is exact
ACCUM_TYPE = "ap_fixed<40,20>"


def layer_case(rng, n_in, n_out, sparsity):
    codes = rng.integers(1, 5, size=(n_in, n_out)) * rng.choice([-1, 1], size=(n_in, n_out))
    matrix = codes * 0.125
    matrix[rng.random((n_in, n_out)) < sparsity] = 0
    return matrix, rng.integers(-64, 64, size=n_out) / 8, rng.integers(-64, 64, size=(3, n_in)) / 16


def config_source(index, encoding) -> str:
    levels = ", ".join(repr(float(v)) for v in encoding.levels) or "0"
    rows = ", ".join(str(int(r)) for r in encoding.rows.reshape(-1))
    return f"""
struct config{index} : nnet::sparse_dense_config {{
    static const unsigned n_in = {encoding.n_in}, n_out = {encoding.n_out}, n_pe = {encoding.pes};
    static const unsigned n_entries = {encoding.entries_per_pe}, n_rows = {encoding.rows.shape[1]};
    static const unsigned index_bits = {encoding.index_bits}, code_bits = {encoding.code_bits};
    static const unsigned n_levels = {max(len(encoding.levels), 1)};
    typedef {ACCUM_TYPE} accum_t;
    typedef {ACCUM_TYPE} bias_t;
    typedef ap_uint<{encoding.entry_bits}> weight_t;
    typedef ap_fixed<8,4> level_t;
    typedef ap_uint<{encoding.row_bits}> row_t;
    static const level_t levels[{max(len(encoding.levels), 1)}];
    static const row_t rows[{encoding.rows.size}];
    template <class x_T, class y_T> using product = nnet::product::mult<x_T, y_T>;
}};
const config{index}::level_t config{index}::levels[] = {{{levels}}};
const config{index}::row_t config{index}::rows[] = {{{rows}}};
"""


def run_case(index, encoding, biases, inputs) -> str:
    # plain-number tables converted at run time: g++ takes minutes over long ap_* initializer lists
    entries = ", ".join(str(int(e)) for e in encoding.entries.reshape(-1))
    bias_values = ", ".join(repr(float(b)) for b in biases)
    samples = ", ".join(repr(float(v)) for v in inputs.reshape(-1))
    cfg = f"config{index}"
    return f"""    {{
        static const unsigned raw_entries[] = {{{entries}}};
        static const double raw_biases[] = {{{bias_values}}};
        static const double raw_inputs[] = {{{samples}}};
        static {cfg}::weight_t entries[{encoding.entries.size}];
        static {cfg}::bias_t biases[{cfg}::n_out];
        for (unsigned e = 0; e < {encoding.entries.size}; e++) entries[e] = raw_entries[e];
        for (unsigned j = 0; j < {cfg}::n_out; j++) biases[j] = raw_biases[j];
        for (unsigned s = 0; s < {len(inputs)}; s++) {{
            {DATA_TYPE} data[{cfg}::n_in];
            for (unsigned i = 0; i < {cfg}::n_in; i++) data[i] = raw_inputs[s * {cfg}::n_in + i];
            {ACCUM_TYPE} res[{cfg}::n_out];
            nnet::sparse_dense<{DATA_TYPE}, {ACCUM_TYPE}, {cfg}>(data, res, entries, biases);
            for (unsigned j = 0; j < {cfg}::n_out; j++) std::printf("%.10f ", res[j].to_double());
            std::printf("\\n");
            hls::stream<nnet::array<{DATA_TYPE}, 1>> in;
            hls::stream<nnet::array<{ACCUM_TYPE}, 1>> out;
            for (unsigned i = 0; i < {cfg}::n_in; i++) {{ nnet::array<{DATA_TYPE}, 1> v; v[0] = data[i]; in.write(v); }}
            nnet::sparse_dense<nnet::array<{DATA_TYPE}, 1>, nnet::array<{ACCUM_TYPE}, 1>, {cfg}>(in, out, entries, biases);
            for (unsigned j = 0; j < {cfg}::n_out; j++) std::printf("%.10f ", out.read()[0].to_double());
            std::printf("\\n");
        }}
    }}"""


@pytest.fixture(scope="module")
def kernel_run(tmp_path_factory):
    rng = np.random.default_rng(0)
    cases = []
    configs, calls = [], []
    for index, (n_in, n_out, sparsity, pes, index_bits) in enumerate(LAYERS):
        matrix, biases, inputs = layer_case(rng, n_in, n_out, sparsity)
        encoding = encode(matrix, pes, index_bits)
        cases.append((matrix, biases, inputs))
        configs.append(config_source(index, encoding))
        calls.append(run_case(index, encoding, biases, inputs))
    source = ('#include <cstdio>\n#include "ap_fixed.h"\n#include "hls_stream.h"\n#include "nnet_types.h"\n'
              '#include "nnet_sparse.h"\n' + "".join(configs) + "int main() {\n" + "\n".join(calls) + "\n}\n")
    folder = tmp_path_factory.mktemp("kernel")
    (folder / "test.cpp").write_text(source)
    compiled = subprocess.run(
        # loop labels name the loops in HLS reports; g++ has no use for them
        ["g++", "-std=c++14", "-O0", "-Wall", "-Wextra", "-Wno-unknown-pragmas", "-Wno-unused-label",
         "-isystem", str(TEMPLATES / "ap_types"), "-isystem", str(TEMPLATES / "nnet_utils"),
         "-I", str(REPO / "hls"), "test.cpp", "-o", "test"],
        cwd=folder, capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    ran = subprocess.run(["./test"], cwd=folder, capture_output=True, text=True, check=True)
    lines = [np.array(line.split(), dtype=float) for line in ran.stdout.splitlines()]
    return cases, lines, compiled.stderr


def test_kernel_header_compiles_warning_free(kernel_run):
    # HLS pragmas are for the HLS compiler; ap_types' own warnings are not ours to fix
    *_, warnings = kernel_run
    assert "nnet_sparse.h" not in warnings, warnings[-3000:]


def test_kernel_matches_numpy_exactly_in_both_io_types(kernel_run):
    cases, lines, _ = kernel_run
    line = 0
    for matrix, biases, inputs in cases:
        for sample in inputs:
            expected = sample @ matrix + biases
            array_result, stream_result = lines[line], lines[line + 1]
            line += 2
            assert np.array_equal(array_result, expected)
            assert np.array_equal(stream_result, expected)
    assert line == len(lines)
