"""The HLS IP's stream top: firmware/flow_axis_top.cpp around hls4ml's myproject (hls/flow_axis_top.h).

bundle/driver.py sends a batch as one DMA transfer of one value per word and receives it as one; the
top is free-running (ap_ctrl_none, no AXI-Lite port), as hls4ml's VivadoAccelerator axi_stream top:
each invocation carries one sample through a dataflow region of read, model and write processes
joined by FIFOs of declared depth, and the next invocation starts while the last one's model and
write still run. TLAST ends a sample's output where it ended its input. flow/hls4ml/fifo_check.py
runs the top with FIFOs that block at those depths.
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
# samples a `last` flag may run ahead of the write process: the model's samples in flight (one per
# layer process and FIFO at most) stay below it, and 32 one-bit slots are one SRL32 per bit
LAST_DEPTH = 32

TEMPLATE = """// Written by flow (flow/hls4ml/stream_top.py): AXI-Stream top around {project}.
#include "{project}.h"
#include "flow_axis_top.h"

typedef hls::axis<ap_int<{in_container}>, 0, 0, 0> in_word_t;
typedef hls::axis<ap_int<{out_container}>, 0, 0, 0> out_word_t;

{model_process}// Free-running (ap_ctrl_none), one sample per invocation: a dataflow region of three processes
// restarts as soon as read is free, so read decodes sample s + 1 while the model runs s and write
// sends s - 1; {model_overlap}. Each FIFO holds one whole
// sample, as hls4ml sizes its own layer FIFOs (one frame), so read can finish the next sample
// before the model takes it. `last` carries each sample's TLAST from read to write.
void {top}(hls::stream<in_word_t> &in_stream, hls::stream<out_word_t> &out_stream) {{
    #pragma HLS INTERFACE axis port=in_stream
    #pragma HLS INTERFACE axis port=out_stream
    #pragma HLS INTERFACE ap_ctrl_none port=return
    #pragma HLS DATAFLOW
    hls::stream<{input_t}> model_in("model_in");
    #pragma HLS STREAM variable=model_in depth={in_depth}
    hls::stream<{result_t}> model_out("model_out");
    #pragma HLS STREAM variable=model_out depth={out_depth}
    hls::stream<bool> last("last");
    #pragma HLS STREAM variable=last depth={last_depth}
    flow::{read}<{in_bits}, {input_t}, {n_in}>(in_stream, model_in, last);
    {model_call}
    flow::{write}<{out_bits}, {result_t}, {n_out}>(model_out, out_stream, last);
}}
"""

# hls4ml's io_stream model reads and writes packets, a dataflow region of its own: called in the top's region, as
# hls4ml's axi_stream wrapper calls it, its layer processes restart for the next sample as each is free
STREAM_MODEL = "{project}(model_in, model_out);"

# hls4ml's io_parallel model is one function of two arrays (pipelined, or under the Resource
# strategy a dataflow region of arrays). The FIFOs between the processes carry one value per slot,
# as the wire does, and only this process holds the arrays: a FIFO of whole vectors would need
# N x W-bit registers per slot on top of the model's own (fully partitioned) input, and arrays
# passed between processes would be ping-pong buffers of that size, two per array.
PARALLEL_MODEL = """// The model process of an io_parallel model: one sample between the FIFOs and the model's arrays.
static void run_model(hls::stream<{input_t}> &model_in, hls::stream<{result_t}> &model_out) {{
    {input_t} inputs[{n_in}];
    {result_t} outputs[{n_out}];
    flow::read_array<{input_t}, {n_in}>(model_in, inputs);
    {project}(inputs, outputs);
    flow::write_array<{result_t}, {n_out}>(outputs, model_out);
}}

"""


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
                    "read": "read_packets", "write": "write_packets", "model_process": "",
                    "model_overlap": "the model's own layers overlap samples the same way",
                    "model_call": STREAM_MODEL.format(**names)}
    else:
        channels = {"in_depth": n_in, "out_depth": n_out,
                    "read": "read_values", "write": "write_values", "model_process": PARALLEL_MODEL.format(**names),
                    "model_overlap": "run_model takes one sample at a time through the model's arrays",
                    "model_call": "run_model(model_in, model_out);"}
    source = TEMPLATE.format(**names, **channels, top=TOP, last_depth=LAST_DEPTH,
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
