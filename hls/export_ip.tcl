# Vitis HLS: C-synthesize the stream top (flow_axis_top around the hls4ml model) and export it as
# Vivado IP for boards/block_design.tcl.
#
#   cd BUILD && vitis-run --mode hls --tcl ip/export_ip.tcl
#
# Written for Vitis HLS 2023.2 or newer, the first release whose vitis-run runs a Tcl script (UG1399
# 2023.2, "vitis, v++, and vitis-run Commands"); the tool versions are in boards/README.md.
# ip/export_ip.tcl (written by the synth step) sets the flow_* variables and sources this file.

open_project -reset $flow_hls_project
set_top $flow_top
# the tool's own ap_types and hls_stream: firmware/ap_types is hls4ml's open-source copy for C
# simulation, which stops with #error under __SYNTHESIS__ (hls4ml's build_prj.tcl leaves it out too)
set cflags "-std=c++14 -I$flow_firmware"
foreach source [list $flow_firmware/$flow_model.cpp $flow_firmware/$flow_top.cpp] {
    add_files $source -cflags $cflags
}
open_solution -reset solution1 -flow_target vivado
set_part $flow_part
create_clock -period $flow_clock_ns -name default
csynth_design
export_design -format ip_catalog -vendor xilinx.com -library hls -version 1.0
