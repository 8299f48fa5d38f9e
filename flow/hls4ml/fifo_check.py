"""The FIFO check: the stream top and its model as a process network whose FIFOs block at their declared depths.

Vitis HLS gives every FIFO of a dataflow region the depth its `#pragma HLS STREAM` declares (2
without one), and a network whose FIFOs fill up waits forever on the board; C simulation, with
unbounded sequential streams, never shows it. This module copies firmware/myproject.cpp and
firmware/flow_axis_top.cpp into a scratch folder and rewrites them:

- after each local `hls::stream` declaration, `flow_fifo::bound(...)` gives the stream its
  declared depth (or 2);
- in each `#pragma HLS DATAFLOW` body whose channels are streams, each process call runs on its
  own thread, joined at the end of the body. A body whose channels are arrays (ping-pong buffers:
  a process starts on a block only once its producer finished it) runs in order, as it is.

Then it compiles them with hls/fifo_check/hls_stream.h first on the include path (FIFOs that block
when full or empty, and a watchdog that reports a deadlock), drives the top with a few samples and
compares what comes out with the build's C simulation.

It shows deadlock freedom of this C++ process network at the declared depths, for these samples.
It does not show RTL timing, Vitis's own FIFO sizing, or the FIFOs inside hls4ml's library
functions (unbounded here, their dataflow regions run in order).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..deploy.pynq_driver import FixedPoint
from ..paths import HLS_DIR, atomic_write_text
from .stream_top import TOP

STREAM_HEADER_DIR = HLS_DIR / "fifo_check"  # holds the blocking hls_stream.h
CSIM_HEADER_DIR = HLS_DIR / "csim"  # holds the stand-in ap_axi_sdata.h
DEFAULT_DEPTH = 2  # Vitis HLS's depth for a stream without a STREAM pragma
DEADLINE_MS = 3000  # every thread waiting and no stream moved for this long: a deadlock
RUN_TIMEOUT_S = 300
# -O0: g++ spends its time compiling, not running, 3 samples (LeNet-5: 16 s compiling, 1.3 s running;
# -O1 takes 23 s in all)
COMPILE_FLAGS = ("-std=c++14", "-O0", "-pthread")
GROUP = "flow_fifo_processes"

PRAGMA = re.compile(r"^[ \t]*#[ \t]*pragma[ \t]+HLS[ \t]+(\w+)(.*)$", re.IGNORECASE | re.MULTILINE)
CALL = re.compile(r"([A-Za-z_]\w*(?:\s*::\s*[A-Za-z_]\w*)*)\s*")
KEYWORDS = {"return", "if", "for", "while", "switch", "do", "sizeof", "delete", "throw"}

DRIVER = """// Written by flow (flow/hls4ml/fifo_check.py): drives {top} with the words on stdin.
#include <cstdio>
#include "hls_stream.h"
#include "ap_axi_sdata.h"
#include "ap_int.h"

typedef hls::axis<ap_int<{in_bits}>, 0, 0, 0> in_word_t;
typedef hls::axis<ap_int<{out_bits}>, 0, 0, 0> out_word_t;
void {top}(hls::stream<in_word_t> &in_stream, hls::stream<out_word_t> &out_stream);

int main() {{
    unsigned samples, count;
    if (std::scanf("%u %u", &samples, &count) != 2) return 1;
    // the DMA ends: a source that has the whole batch ready and a sink that takes every word
    hls::stream<in_word_t> in_stream("in_stream");
    hls::stream<out_word_t> out_stream("out_stream");
    for (unsigned i = 0; i < count; i++) {{
        long long value;
        if (std::scanf("%lld", &value) != 1) return 1;
        in_word_t word;
        word.data = value;
        word.last = i + 1 == count;
        in_stream.write(word);
    }}
    flow_fifo::watch({deadline_ms});
    flow_fifo::process_group top;
    // the free-running IP restarts for each sample: one invocation per sample, as long as words come
    top.spawn([&] {{ for (unsigned sample = 0; sample < samples; sample++) {top}(in_stream, out_stream); }});
    top.join();
    while (!out_stream.empty()) {{
        out_word_t word = out_stream.read();
        std::printf("out %lld %d\\n", (long long)word.data.to_int64(), (int)word.last);
    }}
    std::printf("unread %zu\\n", in_stream.size());
    return 0;
}}
"""


class FifoCheckError(Exception):
    """The project holds a construct the FIFO check does not model, or does not compile."""


@dataclass
class Statement:
    start: int
    end: int  # one past its ';' or closing '}'
    conditional: bool  # inside #if/#ifdef/#ifndef: host-only code such as hls4ml's weight loading


def mask(source: str) -> str:
    """`source` with comments and the insides of string and character literals blanked, same length and lines."""
    out, i, n = list(source), 0, len(source)

    def blank(start: int, end: int) -> None:
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        if source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2
            blank(i, end)
            i = end
        elif source[i] in "\"'":
            end = i + 1
            while end < n and source[end] != source[i]:
                end += 2 if source[end] == "\\" else 1
            blank(i + 1, min(end, n))
            i = end + 1
        else:
            i += 1
    return "".join(out)


def _closing(text: str, start: int, pair: str) -> int:
    """Index of the bracket closing the one at `start` (pair: "()", "[]", "{}" or "<>")."""
    depth = 0
    for k in range(start, len(text)):
        if text[k] == pair[0]:
            depth += 1
        elif text[k] == pair[1]:
            depth -= 1
            if depth == 0:
                return k
    raise FifoCheckError(f"unbalanced {pair} from offset {start}")


def _blocks(masked: str) -> list[tuple[int, int]]:
    """Every brace pair (open, close), in order of the opening brace."""
    opened, pairs = [], []
    for k, char in enumerate(masked):
        if char == "{":
            opened.append(k)
        elif char == "}":
            pairs.append((opened.pop(), k))
    return sorted(pairs)


def _enclosing(blocks: list[tuple[int, int]], position: int, outermost: bool) -> tuple[int, int]:
    around = [block for block in blocks if block[0] < position < block[1]]
    if not around:
        raise FifoCheckError(f"offset {position} lies outside any function body")
    return around[0] if outermost else around[-1]


def _statements(masked: str, block: tuple[int, int]) -> list[Statement]:
    """The statements directly inside a brace block, and whether each sits under a preprocessor conditional."""
    statements, conditionals, i, close = [], 0, block[0] + 1, block[1]
    while i < close:
        if masked[i].isspace():
            i += 1
            continue
        if masked[i] == "#":
            end = masked.find("\n", i)
            directive = masked[i + 1:end].split()
            if directive and directive[0] in {"if", "ifdef", "ifndef"}:
                conditionals += 1
            elif directive and directive[0] == "endif":
                conditionals -= 1
            i = end + 1
            continue
        k, parens = i, 0
        while k < close:
            if masked[k] in "([":
                parens += 1
            elif masked[k] in ")]":
                parens -= 1
            elif masked[k] == "{" and parens == 0:
                k = _closing(masked, k, "{}")
                break
            elif masked[k] == ";" and parens == 0:
                break
            k += 1
        statements.append(Statement(i, k + 1, conditionals > 0))
        i = k + 1
    return statements


def _call_name(text: str) -> str | None:
    """The function a process-call statement `name<...>(...);` calls, else None."""
    match = CALL.match(text)
    if not match or match.group(1) in KEYWORDS:
        return None
    k = match.end()
    if text[k:k + 1] == "<":
        k = _closing(text, k, "<>") + 1
        k += len(text[k:]) - len(text[k:].lstrip())
    if text[k:k + 1] != "(":
        return None
    return match.group(1) if text[_closing(text, k, "()") + 1:].strip() == ";" else None


def _stream_declaration(text: str) -> str | None:
    """The variable a local `hls::stream<...> name(...);` statement declares, else None."""
    match = re.match(r"(?:static\s+)?hls\s*::\s*stream\s*<", text)
    if not match:
        return None
    rest = text[_closing(text, match.end() - 1, "<>") + 1:]
    declared = re.match(r"\s*(\w+)\s*(\(.*\))?\s*(\[.*\])?\s*;\s*$", rest, re.DOTALL)
    if declared and declared.group(3):
        raise FifoCheckError(f"array of streams {declared.group(1)}: the FIFO check bounds single streams only")
    return declared.group(1) if declared else None


def _stream_depths(masked: str, block: tuple[int, int]) -> dict[str, int]:
    """variable -> depth from the `#pragma HLS STREAM` lines of a function body."""
    depths = {}
    for pragma in PRAGMA.finditer(masked, block[0], block[1]):
        if pragma.group(1).lower() != "stream":
            continue
        variable = re.search(r"variable\s*=\s*(\w+)", pragma.group(2), re.IGNORECASE)
        depth = re.search(r"depth\s*=\s*(\d+)", pragma.group(2), re.IGNORECASE)
        if variable and depth:
            depths[variable.group(1)] = int(depth.group(1))
    return depths


def rewrite(source: str) -> str:
    """`source` with bounded local streams and threaded dataflow processes (see the module docstring)."""
    masked = mask(source)
    blocks = _blocks(masked)
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement), never overlapping
    for block in blocks:
        depths = _stream_depths(masked, _enclosing(blocks, block[0] + 1, outermost=True))
        for statement in _statements(masked, block):
            name = _stream_declaration(masked[statement.start:statement.end])
            if name:
                depth = depths.get(name, DEFAULT_DEPTH)
                edits.append((statement.end, statement.end, f' flow_fifo::bound({name}, {depth}, "{name}");'))
    for pragma in PRAGMA.finditer(masked):
        if pragma.group(1).lower() == "dataflow":
            edits += _thread_region(source, masked, _enclosing(blocks, pragma.start(), outermost=False), pragma.end())
    for start, end, replacement in sorted(edits, reverse=True):
        source = source[:start] + replacement + source[end:]
    return source


def _thread_region(source: str, masked: str, block: tuple[int, int], pragma_end: int) -> list[tuple[int, int, str]]:
    """The edits that run each process call of a dataflow body on its own thread, joined before the body ends."""
    statements = [s for s in _statements(masked, block) if not s.conditional]
    texts = [masked[s.start:s.end] for s in statements]
    calls = [s for s, text in zip(statements, texts) if _call_name(text)]
    has_streams = any(_stream_declaration(text) for text in texts)
    has_arrays = any(re.search(r"\w\s*\[[^\]]*\]\s*;\s*$", text) for text in texts if not _call_name(text))
    if not calls or not has_streams:
        # array channels: a process takes a block only once its producer is done with it, as in order
        return []
    if has_arrays:
        raise FifoCheckError(f"the dataflow region at offset {block[0]} mixes stream and array channels; "
                             "the FIFO check models stream channels only")
    edits = [(pragma_end, pragma_end, f"\n    flow_fifo::process_group {GROUP};"),
             (block[1], block[1], f"    {GROUP}.join();\n")]
    edits += [(s.start, s.end, f"{GROUP}.spawn([&] {{ {source[s.start:s.end]} }});") for s in calls]
    return edits


def _compile(firmware: Path, scratch: Path, in_bits: int, out_bits: int) -> Path:
    """The rewritten project and top plus the driver, compiled into scratch/check."""
    top_source = (firmware / f"{TOP}.cpp").read_text()
    project = re.search(r'#include\s+"(\w+)\.h"', top_source).group(1)
    sources = {f"{project}.cpp": rewrite((firmware / f"{project}.cpp").read_text()), f"{TOP}.cpp": rewrite(top_source),
               "driver.cpp": DRIVER.format(top=TOP, in_bits=in_bits, out_bits=out_bits, deadline_ms=DEADLINE_MS)}
    for name, text in sources.items():
        atomic_write_text(scratch / name, text)
    # one translation unit: g++ spends most of its time parsing ap_types, so it parses them once
    atomic_write_text(scratch / "check.cpp", "".join(f'#include "{name}"\n' for name in sources))
    includes = [f"-I{path}" for path in (STREAM_HEADER_DIR, firmware, firmware / "ap_types", CSIM_HEADER_DIR)]
    result = subprocess.run(["g++", *COMPILE_FLAGS, *includes, f'-DWEIGHTS_DIR="{firmware.resolve() / "weights"}"',
                             str(scratch / "check.cpp"), "-o", str(scratch / "check")], capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.splitlines()
        first_error = next((line for line in lines if "error" in line), lines[0] if lines else "no message")
        raise FifoCheckError(f"the FIFO check did not compile ({first_error.strip()}); see {scratch}")
    return scratch / "check"


def parse(stdout: str) -> dict:
    """The check program's records: outputs, unread inputs, FIFO depths and fills, leftovers, deadlock waits."""
    parsed = {"outputs": [], "lasts": [], "unread": None, "fifos": {}, "leftover": {}, "deadlock": None}
    for line in stdout.splitlines():
        kind, *fields = line.split()
        if kind == "out":
            parsed["outputs"].append(int(fields[0]))
            parsed["lasts"].append(int(fields[1]))
        elif kind == "unread":
            parsed["unread"] = int(fields[0])
        elif kind == "fifo":
            # one record per instance (myproject's streams live one sample): keep the fullest
            name, depth, max_fill = fields[0], int(fields[1]), int(fields[2])
            seen = parsed["fifos"].get(name, {"max_fill": 0})
            parsed["fifos"][name] = {"depth": depth, "max_fill": max(max_fill, seen["max_fill"])}
        elif kind == "leftover":
            parsed["leftover"][fields[0]] = parsed["leftover"].get(fields[0], 0) + int(fields[1])
        elif kind == "deadlock":
            parsed["deadlock"] = []
        elif kind == "blocked":
            parsed["deadlock"].append({"fifo": fields[0], "waits_while": fields[1], "fill": int(fields[2]),
                                       "depth": int(fields[3])})
    return parsed


def run(firmware: Path, scratch: Path, inputs: np.ndarray, expected: np.ndarray, in_precision: str,
        out_precision: str) -> dict:
    """Compile the check in `scratch` and stream `inputs` (n_samples x n_in values, in the model's own
    layout) through the top; `expected` are its C simulation outputs. Returns the report, "passed" and
    "problems" included; a failure to compile raises FifoCheckError."""
    in_codec, out_codec = FixedPoint(in_precision), FixedPoint(out_precision)
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    binary = _compile(firmware, scratch, in_codec.bits, out_codec.bits)
    compiled = time.monotonic()
    words = in_codec.encode(inputs.reshape(len(inputs), -1)).ravel()
    try:
        result = subprocess.run([str(binary)], input=f"{len(inputs)} {words.size}\n" + " ".join(map(str, words)),
                                capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        stdout, returncode = result.stdout, result.returncode
    except subprocess.TimeoutExpired as timeout:
        stdout, returncode = (timeout.stdout or b"").decode(errors="replace"), None
    parsed = parse(stdout)
    # compared in float32, as hls4ml's C simulation reports float32 inputs' outputs: every bit of
    # an output up to 24 bits wide
    received = out_codec.decode(np.array(parsed["outputs"], dtype=np.int64)).astype(np.float32)
    outputs_match = (received.shape == (expected.size,)
                     and np.array_equal(received, expected.ravel().astype(np.float32))
                     and parsed["lasts"] == [0] * (len(parsed["lasts"]) - 1) + [1])
    problems = []
    if parsed["deadlock"] is not None:
        waits = ", ".join(f"{wait['fifo']} {wait['waits_while']} ({wait['fill']}/{wait['depth']})"
                          for wait in parsed["deadlock"])
        problems.append(f"deadlock: every process waits, on {waits or 'unbounded streams'}")
    elif returncode is None:
        problems.append(f"still running after {RUN_TIMEOUT_S} s without a deadlock")
    elif returncode != 0:
        last_words = (result.stderr.strip().splitlines() or ["no message"])[-1]
        problems.append(f"the check program failed (exit {returncode}: {last_words})")
    else:
        problems += [f"{count} value(s) left in {name}" for name, count in parsed["leftover"].items()]
        if parsed["unread"]:
            problems.append(f"{parsed['unread']} input word(s) left unread")
        if not outputs_match:
            problems.append("the stream top's output words differ from C simulation's (or TLAST is misplaced)")
    report = {"passed": not problems, "samples": len(inputs),
              "inputs": "the first verify inputs, encoded as the board driver sends them",
              "fifos": parsed["fifos"], "outputs_match_csim": outputs_match,
              "seconds": {"compile": round(compiled - started, 1), "run": round(time.monotonic() - compiled, 1)}}
    if parsed["deadlock"] is not None:
        report["deadlock"] = parsed["deadlock"]
    if parsed["leftover"]:
        report["leftover"] = parsed["leftover"]
    if problems:
        report["problems"] = problems
    return report


def skipped(firmware: Path) -> str | None:
    """Why the check cannot run here, or None."""
    if shutil.which("g++") is None:
        return "skipped: g++ not on PATH"
    if not (firmware / f"{TOP}.cpp").is_file():
        return f"skipped: no stream top (firmware/{TOP}.cpp was not written)"
    return None
