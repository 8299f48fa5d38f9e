"""The HLS IP's stream top: firmware/flow_axis_top.cpp around hls4ml's myproject (hls/flow_axis_top.h).

bundle/driver.py writes n_samples to the IP's AXI-Lite register, starts it, and streams one value per
word; this top reads and writes exactly that format, with TLAST on the batch's last output word. The
top is a dataflow region of read, model and write processes joined by FIFOs of declared depth;
flow/hls4ml/fifo_check.py runs it with FIFOs that block at those depths.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..deploy.pynq_driver import FixedPoint
from ..paths import HLS_DIR, atomic_write_text
from ..tools import tcl_assignments

TOP = "flow_axis_top"
EXPORT_SCRIPT = "ip/export_ip.tcl"  # in the build dir; sources hls/export_ip.tcl
IP_PROJECT = "ip/flow_ip"
IP_REPO = f"{IP_PROJECT}/solution1/impl/ip"  # where export_design -format ip_catalog leaves the IP
# AXI-Lite map of an HLS top with ap_ctrl_hs (declared in TEMPLATE) and one scalar argument (Vitis HLS):
# control, then n_samples
CONTROL_OFFSET, N_SAMPLES_OFFSET = 0x00, 0x10

TEMPLATE = """// Written by flow (flow/hls4ml/stream_top.py): AXI-Stream top around {project}.
#include "{project}.h"
#include "flow_axis_top.h"

typedef hls::axis<ap_int<{in_container}>, 0, 0, 0> in_word_t;
typedef hls::axis<ap_int<{out_container}>, 0, 0, 0> out_word_t;

// The model process: {project} once per sample. Each call runs to its end before the next starts,
// so a sample takes the model's whole latency; only read and write overlap with it.
static void run_model(hls::stream<{input_t}> &model_in, hls::stream<{result_t}> &model_out, unsigned n_samples) {{
    for (unsigned sample = 0; sample < n_samples; sample++) {{
{model_body}
    }}
}}

// A dataflow region of three processes that each loop over the batch, so samples overlap: read
// decodes sample s + 1 while the model runs s and write sends s - 1. Each FIFO holds one whole
// sample, as hls4ml sizes its own layer FIFOs (one frame), so read can finish the next sample
// before the model takes it. On this chain any depth is free of deadlock; the depth buys overlap.
// Every process reads the scalar n_samples: Vitis HLS limits only non-scalar variables to one
// reader and one writer in a dataflow region (UG1399, canonical body).
void {top}(hls::stream<in_word_t> &in_stream, hls::stream<out_word_t> &out_stream, unsigned n_samples) {{
    #pragma HLS INTERFACE axis port=in_stream
    #pragma HLS INTERFACE axis port=out_stream
    #pragma HLS INTERFACE s_axilite port=n_samples
    #pragma HLS INTERFACE ap_ctrl_hs port=return
    #pragma HLS INTERFACE s_axilite port=return
    #pragma HLS DATAFLOW
    hls::stream<{input_t}> model_in("model_in");
    #pragma HLS STREAM variable=model_in depth={in_depth}
    hls::stream<{result_t}> model_out("model_out");
    #pragma HLS STREAM variable=model_out depth={out_depth}
    flow::{read}<{in_bits}, {input_t}, {n_in}>(in_stream, model_in, n_samples);
    run_model(model_in, model_out, n_samples);
    flow::{write}<{out_bits}, {result_t}, {n_out}>(model_out, out_stream, n_samples);
}}
"""

# hls4ml's io_stream model reads and writes packets: it is the whole model process
STREAM_MODEL = "        {project}(model_in, model_out);"

# hls4ml's io_parallel model is one function of two arrays (pipelined, or under the Resource
# strategy a dataflow region of arrays). The FIFOs between the processes carry one value per slot,
# as the wire does, and only this process holds the arrays: a FIFO of whole vectors would need
# N x W-bit registers per slot on top of the model's own (fully partitioned) input, and arrays
# passed between processes would be ping-pong buffers of that size, two per array.
PARALLEL_MODEL = """        {input_t} inputs[{n_in}];
        {result_t} outputs[{n_out}];
        flow::read_array<{input_t}, {n_in}>(model_in, inputs);
        {project}(inputs, outputs);
        flow::write_array<{result_t}, {n_out}>(outputs, model_out);"""


def _bits_type(precision: str) -> str:
    codec = FixedPoint(precision)
    return f"ap_{'' if codec.signed else 'u'}int<{codec.width}>"


def write_axis_top(hls_model, io_type: str) -> Path:
    """firmware/flow_axis_top.cpp and flow_axis_top.h next to the model's own firmware."""
    firmware = Path(hls_model.config.get_output_dir()) / "firmware"
    project = hls_model.config.get_project_name()
    inputs, outputs = hls_model.get_input_variables()[0], hls_model.get_output_variables()[0]
    in_precision, out_precision = str(inputs.type.precision), str(outputs.type.precision)
    n_in, n_out = int(np.prod(inputs.shape)), int(np.prod(outputs.shape))
    names = {"project": project, "input_t": inputs.type.name, "result_t": outputs.type.name,
             "n_in": n_in, "n_out": n_out}
    if io_type == "io_stream":
        # a FIFO slot is one packet of the model's stream: n_elem values
        channels = {"in_depth": n_in // inputs.type.n_elem, "out_depth": n_out // outputs.type.n_elem,
                    "read": "read_samples", "write": "write_samples", "model_body": STREAM_MODEL.format(**names)}
    else:
        channels = {"in_depth": n_in, "out_depth": n_out,
                    "read": "read_values", "write": "write_values", "model_body": PARALLEL_MODEL.format(**names)}
    source = TEMPLATE.format(**names, **channels, top=TOP,
                             in_bits=_bits_type(in_precision), out_bits=_bits_type(out_precision),
                             in_container=FixedPoint(in_precision).bits, out_container=FixedPoint(out_precision).bits)
    shutil.copyfile(HLS_DIR / "flow_axis_top.h", firmware / "flow_axis_top.h")
    atomic_write_text(firmware / f"{TOP}.cpp", source)
    return firmware / f"{TOP}.cpp"


def write_export_script(build_dir: Path, hls_model, part: str, clock_ns: float) -> Path:
    """ip/export_ip.tcl: the variables hls/export_ip.tcl reads, then the script itself."""
    build_dir = Path(build_dir).resolve()
    settings = {"flow_hls_project": build_dir / IP_PROJECT, "flow_top": TOP,
                "flow_firmware": Path(hls_model.config.get_output_dir()).resolve() / "firmware",
                "flow_model": hls_model.config.get_project_name(), "flow_part": part, "flow_clock_ns": clock_ns}
    script = tcl_assignments(settings) + f"source {{{HLS_DIR / 'export_ip.tcl'}}}\n"
    path = build_dir / EXPORT_SCRIPT
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(path, script)
    return path
