"""The HLS IP's stream top: firmware/flow_axis_top.cpp around hls4ml's myproject (hls/flow_axis_top.h).

bundle/driver.py writes n_samples to the IP's AXI-Lite register, starts it, and streams one value per
word; this top reads and writes exactly that format, with TLAST on the batch's last output word.
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
# AXI-Lite map of an HLS top with ap_ctrl_hs and one scalar argument (Vitis HLS): control, then n_samples
CONTROL_OFFSET, N_SAMPLES_OFFSET = 0x00, 0x10

TEMPLATE = """// Written by flow (flow/hls4ml/stream_top.py): AXI-Stream top around {project}.
#include "{project}.h"
#include "flow_axis_top.h"

typedef hls::axis<ap_int<{in_container}>, 0, 0, 0> in_word_t;
typedef hls::axis<ap_int<{out_container}>, 0, 0, 0> out_word_t;

void {top}(hls::stream<in_word_t> &in_stream, hls::stream<out_word_t> &out_stream, unsigned n_samples) {{
    #pragma HLS INTERFACE axis port=in_stream
    #pragma HLS INTERFACE axis port=out_stream
    #pragma HLS INTERFACE s_axilite port=n_samples
    #pragma HLS INTERFACE s_axilite port=return
    for (unsigned sample = 0; sample < n_samples; sample++) {{
{body}
    }}
}}
"""

STREAM_BODY = """        hls::stream<{input_t}> model_in;
        hls::stream<{result_t}> model_out;
        flow::read_packets<{in_bits}, {input_t}, {n_in}>(in_stream, model_in);
        {project}(model_in, model_out);
        flow::write_packets<{out_bits}, {result_t}, {n_out}>(model_out, out_stream, sample + 1 == n_samples);"""

PARALLEL_BODY = """        {input_t} model_in[{n_in}];
        {result_t} model_out[{n_out}];
        flow::read_array<{in_bits}, {input_t}, {n_in}>(in_stream, model_in);
        {project}(model_in, model_out);
        flow::write_array<{out_bits}, {result_t}, {n_out}>(model_out, out_stream, sample + 1 == n_samples);"""


def _bits_type(precision: str) -> str:
    codec = FixedPoint(precision)
    return f"ap_{'' if codec.signed else 'u'}int<{codec.width}>"


def write_axis_top(hls_model, io_type: str) -> Path:
    """firmware/flow_axis_top.cpp and flow_axis_top.h next to the model's own firmware."""
    firmware = Path(hls_model.config.get_output_dir()) / "firmware"
    project = hls_model.config.get_project_name()
    inputs, outputs = hls_model.get_input_variables()[0], hls_model.get_output_variables()[0]
    in_precision, out_precision = str(inputs.type.precision), str(outputs.type.precision)
    names = {"project": project, "input_t": inputs.type.name, "result_t": outputs.type.name,
             "n_in": int(np.prod(inputs.shape)), "n_out": int(np.prod(outputs.shape)),
             "in_bits": _bits_type(in_precision), "out_bits": _bits_type(out_precision)}
    body = (STREAM_BODY if io_type == "io_stream" else PARALLEL_BODY).format(**names)
    source = TEMPLATE.format(project=project, top=TOP, body=body, in_container=FixedPoint(in_precision).bits,
                             out_container=FixedPoint(out_precision).bits)
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
