"""Verilator testbenches: a module fed integer vectors, its outputs and cycles read back.

The testbench is C++ that verilator builds with the module: it reads one vector per line from
stdin (count integers, each a port field's value x 2^fraction), sets the input bits, runs the
model, and prints the output fields as integers (sign-extended where signed), then the cycles
the vector took. A pipelined module (clk only) gets its latency's clock edges with the vector held;
a clocked one (clk, start, done) gets one start cycle and clock edges until done. Ports wider than 64 bits are
Verilator's VlWide word arrays; the same bit-level helpers serve both.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from ..errors import FlowError
from .adder_graph import PortFormat

TESTBENCH = """// written by flow (flow/rtl/verilator.py): one vector per stdin line in; its outputs and cycles out
#include <cstdio>
#include "V{top}.h"
#include "verilated.h"

template <std::size_t N> static void put_bit(VlWide<N>& port, int bit, bool value) {{
    if (value) port[bit / 32] |= (1u << (bit % 32)); else port[bit / 32] &= ~(1u << (bit % 32));
}}
template <std::size_t N> static bool get_bit(const VlWide<N>& port, int bit) {{
    return (port[bit / 32] >> (bit % 32)) & 1u;
}}
template <class T> static void put_bit(T& port, int bit, bool value) {{
    if (value) port |= (T(1) << bit); else port &= ~(T(1) << bit);
}}
template <class T> static bool get_bit(const T& port, int bit) {{ return (port >> bit) & 1; }}

int main() {{
    VerilatedContext context;
    V{top} model{{&context}};
    long long value;
    long cycles = 1;
    {setup}
    for (;;) {{
        for (int i = 0; i < {n_in}; ++i) {{
            if (std::scanf("%lld", &value) != 1) return 0;
            for (int b = 0; b < {in_bits}; ++b) put_bit(model.{in_port}, i * {in_bits} + b, (value >> b) & 1);
        }}
        {run}
        for (int j = 0; j < {n_out}; ++j) {{
            long long field = 0;
            for (int b = 0; b < {out_bits}; ++b) field |= (long long)get_bit(model.{out_port}, j * {out_bits} + b) << b;
            if ({signed} && ((field >> ({out_bits} - 1)) & 1)) field -= 1LL << {out_bits};
            std::printf("%lld ", field);
        }}
        std::printf("%ld\\n", cycles);
    }}
}}
"""
# a pipelined one: its latency's edges with the vector held fill every stage with it
PIPELINED = {"setup": "model.clk = 0; model.eval();",
             "run": ("cycles = {latency}; "
                     "for (int edge = 0; edge < {latency}; ++edge) {{ model.clk = 1; model.eval(); model.clk = 0; "
                     "model.eval(); }}")}
# a clocked one: start high for the first edge, then edges until done, each counted
CLOCKED = {"setup": "model.clk = 0; model.start = 0; model.eval();",
           "run": ("model.start = 1; cycles = 0; "
                   "do {{ model.clk = 1; model.eval(); model.clk = 0; model.start = 0; model.eval(); ++cycles; }} "
                   "while (!model.done && cycles < {limit});")}

# lint pragmas: the build turns lint off anyway, and Verilator before 5.008 (Debian's 5.006) stops at a code it does
# not know, such as the WIDTHTRUNC that da4ml's library modules name
LINT_PRAGMA = re.compile(r"/\*\s*verilator\s+lint_(?:on|off)\b[^*]*\*/|//\s*verilator\s+lint_(?:on|off)\b.*$", re.M)


def version() -> str:
    return subprocess.run(["verilator", "--version"], capture_output=True, text=True).stdout.strip()


def build(sources: tuple[Path, ...], top: str, inputs: PortFormat, outputs: PortFormat, work: Path,
          in_port: str = "model_inp", out_port: str = "model_out", latency: int | None = None,
          cycle_limit: int | None = None) -> Path:
    """Verilate `top` with the testbench into `work`; the simulator binary's path. Log: work/verilator.log.

    With latency the module is a pipeline (clk) answering after that many edges; with cycle_limit it is
    clocked (clk, start, done), and a vector that has not raised done after cycle_limit edges is answered as
    it stands."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    copies = work / "sources"
    copies.mkdir(exist_ok=True)
    for source in sources:
        (copies / Path(source).name).write_text(LINT_PRAGMA.sub("", Path(source).read_text()))
    if (latency is None) == (cycle_limit is None):
        raise ValueError("a testbench needs a pipeline's latency or a clocked module's cycle limit")
    timing = {"setup": PIPELINED["setup"], "run": PIPELINED["run"].format(latency=latency)} if latency else \
        {"setup": CLOCKED["setup"], "run": CLOCKED["run"].format(limit=cycle_limit)}
    bench = work / "testbench.cpp"
    bench.write_text(TESTBENCH.format(top=top, n_in=inputs.count, in_bits=inputs.width, n_out=outputs.count,
                                      out_bits=outputs.width, signed=int(outputs.signed), in_port=in_port,
                                      out_port=out_port, **timing))
    command = ["verilator", "--cc", "--exe", "--build", "-j", "1", "-Wno-fatal", "-Wno-lint", "-Wno-style",
               "--top-module", top, "-Mdir", str(work / "obj"), "-o", "simulate",
               *(str((copies / Path(source).name).resolve()) for source in sources), str(bench.resolve())]
    with open(work / "verilator.log", "w") as log:
        finished = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if finished.returncode != 0:
        raise FlowError(f"verilator could not build {top} (exit {finished.returncode}); see {work / 'verilator.log'}")
    return work / "obj" / "simulate"


def simulate(simulator: Path, vectors: np.ndarray, outputs: PortFormat,
             cwd: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run the verilated testbench in `cwd` (where the module's $readmemh files are) on integer `vectors` (one row
    per vector): the (rows, outputs.count) integer outputs and each vector's cycles."""
    vectors = np.asarray(vectors, dtype=np.int64)
    text = "\n".join(" ".join(map(str, row)) for row in vectors) + "\n"
    finished = subprocess.run([str(Path(simulator).resolve())], input=text, capture_output=True, text=True, cwd=cwd)
    if finished.returncode != 0:
        raise FlowError(f"the verilated testbench {simulator} failed (exit {finished.returncode}): "
                        f"{finished.stderr.strip()[:200]}")
    rows = [line.split() for line in finished.stdout.splitlines()]
    result = np.array(rows, dtype=np.int64).reshape(len(rows), outputs.count + 1)
    if len(result) != len(vectors):
        raise FlowError(f"the verilated testbench {simulator} answered {len(result)} of {len(vectors)} vectors")
    return result[:, :-1], result[:, -1]
