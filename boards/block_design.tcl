# Vivado block design for a flow bundle: Zynq PS + AXI DMA + the model's HLS IP, then the bitstream.
#
#   vivado -mode batch -source boards/block_design.tcl -tclargs BUILD/vivado/params.tcl
#
# params.tcl (written by the bitstream step from boards/<board>.yaml and bundle/metadata.json) sets
# the flow_* variables below. Per-family differences live in the table, not in branches: the PS
# IP, its automation rule and that rule's config, the PS settings the design relies on (set
# explicitly, whatever the board preset did: the one PS master that reaches the DMA's registers on,
# every other PS master off, since an enabled master whose clock pin is left open
# fails validation; the slave port the DMA writes DDR through; the PL clock and its reset), the
# names of those ports, and the PL clock's frequency setting.
# Every clock and reset comes from the axi4 automations, with Auto clocks: the design has one PL
# clock. The IP is free-running (ap_ctrl_none, as hls4ml's axi_stream IP) and has no AXI-Lite port,
# so it joins the clock and reset nets the DMA's automation made. Each automation maps its slave
# into the master's address space, which is what the .hwh lists and PYNQ's ip_dict is built from.
# The driver finds the DMA by its cell name (flow_dma_name), at the top of the design, and PYNQ
# needs the .bit and .hwh under one stem, so both are copied to flow_output_dir/flow_output_stem.{bit,hwh}.

source [lindex $argv 0]

set families {
    zynq-7000 {
        ps_ip xilinx.com:ip:processing_system7 ps_cell processing_system7_0
        rule xilinx.com:bd_rule:processing_system7 rule_config {make_external "FIXED_IO, DDR" apply_board_preset "1"}
        ps_settings {
            CONFIG.PCW_USE_M_AXI_GP0 {1} CONFIG.PCW_USE_M_AXI_GP1 {0} CONFIG.PCW_USE_S_AXI_HP0 {1}
            CONFIG.PCW_EN_CLK0_PORT {1} CONFIG.PCW_EN_RST0_PORT {1}
        }
        master M_AXI_GP0 slave S_AXI_HP0 clock_setting CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ
    }
    zynq-ultrascale+ {
        ps_ip xilinx.com:ip:zynq_ultra_ps_e ps_cell zynq_ultra_ps_e_0
        rule xilinx.com:bd_rule:zynq_ultra_ps_e rule_config {apply_board_preset "1"}
        ps_settings {
            CONFIG.PSU__USE__M_AXI_GP0 {1} CONFIG.PSU__USE__M_AXI_GP1 {0} CONFIG.PSU__USE__M_AXI_GP2 {0}
            CONFIG.PSU__USE__S_AXI_GP2 {1} CONFIG.PSU__FPGA_PL0_ENABLE {1} CONFIG.PSU__USE__FABRIC__RST {1}
        }
        master M_AXI_HPM0_FPD slave S_AXI_HP0_FPD clock_setting CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ
    }
}
if {![dict exists $families $flow_family]} {
    error "flow: no block design for family '$flow_family'; add it to the table in [info script]"
}
set family [dict get $families $flow_family]
proc family {key} { return [dict get $::family $key] }
# the newest installed version of an IP, so one script serves several Vivado releases
proc latest_ip {name} { return [lindex [lsort -dictionary [get_ipdefs -all ${name}:*]] end] }

create_project flow_bd $flow_project_dir -part $flow_part -force
set board_parts [get_board_parts -quiet -latest_file_version $flow_board_part_pattern]
if {[llength $board_parts]} {
    set_property board_part [lindex $board_parts 0] [current_project]
}
set_property ip_repo_paths [list $flow_ip_repo] [current_project]
update_ip_catalog

create_bd_design flow
set ps [create_bd_cell -type ip -vlnv [latest_ip [family ps_ip]] [family ps_cell]]
apply_bd_automation -rule [family rule] -config [family rule_config] $ps
set_property -dict [concat [family ps_settings] [list [family clock_setting] $flow_clock_mhz]] $ps

set dma [create_bd_cell -type ip -vlnv [latest_ip xilinx.com:ip:axi_dma] $flow_dma_name]
set_property -dict [list \
    CONFIG.c_include_sg {0} \
    CONFIG.c_sg_length_width {26} \
    CONFIG.c_m_axi_mm2s_data_width $flow_mm_width \
    CONFIG.c_m_axis_mm2s_tdata_width $flow_in_width \
    CONFIG.c_m_axi_s2mm_data_width $flow_mm_width \
    CONFIG.c_s_axis_s2mm_tdata_width $flow_out_width \
    CONFIG.c_mm2s_burst_size {16} \
    CONFIG.c_s2mm_burst_size {16}] $dma

create_bd_cell -type ip -vlnv $flow_ip_vlnv $flow_ip_cell
connect_bd_intf_net [get_bd_intf_pins $flow_dma_name/M_AXIS_MM2S] [get_bd_intf_pins $flow_ip_cell/$flow_ip_in]
connect_bd_intf_net [get_bd_intf_pins $flow_ip_cell/$flow_ip_out] [get_bd_intf_pins $flow_dma_name/S_AXIS_S2MM]

set ps_master "/[family ps_cell]/[family master]"
# run on the end that is not connected yet: Vivado offers no automation on a connected port
proc connect_axi {master slave interconnect new_end} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
        -config [list Clk_master {Auto} Clk_slave {Auto} Clk_xbar {Auto} Master $master Slave $slave intc_ip $interconnect] \
        [get_bd_intf_pins $new_end]
}
# the driver starts the DMA through S_AXI_LITE; the IP has no registers
connect_axi $ps_master /$flow_dma_name/S_AXI_LITE {New AXI Interconnect} /$flow_dma_name/S_AXI_LITE
connect_bd_net [get_bd_pins $flow_dma_name/s_axi_lite_aclk] [get_bd_pins $flow_ip_cell/ap_clk]
connect_bd_net [get_bd_pins $flow_dma_name/axi_resetn] [get_bd_pins $flow_ip_cell/ap_rst_n]
foreach channel {M_AXI_MM2S M_AXI_S2MM} {
    connect_axi /$flow_dma_name/$channel "/[family ps_cell]/[family slave]" {Auto} /$flow_dma_name/$channel
}
validate_bd_design
save_bd_design

set wrapper [make_wrapper -files [get_files flow.bd] -top]
add_files -norecurse $wrapper
launch_runs impl_1 -to_step write_bitstream -jobs $flow_jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "flow: implementation did not finish; see $flow_project_dir/flow_bd.runs/impl_1/runme.log"
}

file mkdir $flow_output_dir
open_run impl_1
report_utilization -file $flow_output_dir/utilization_routed.rpt
report_timing_summary -file $flow_output_dir/timing_summary.rpt
file copy -force [lindex [glob $flow_project_dir/flow_bd.runs/impl_1/*.bit] 0] $flow_output_dir/$flow_output_stem.bit
file copy -force [lindex [get_files -all -of_objects [get_files flow.bd] *.hwh] 0] $flow_output_dir/$flow_output_stem.hwh
