# Runs boards/block_design.tcl under plain tclsh with the Vivado commands it uses replaced by stubs that
# record each call ("kind|field|field..." lines) and refuse pins of cells that were never created.
#
#   tclsh tests/vivado_stub.tcl BLOCK_DESIGN.tcl PARAMS.tcl LOG HWH

lassign $argv block_design params log_path stub_hwh
set log [open $log_path w]
set cells {}
proc record {args} { puts $::log [join $args |] }

proc create_project {name dir args} { record project $name $dir [lindex $args [expr {[lsearch $args -part] + 1}]] }
proc get_board_parts {args} { return [list "vendor.com:[lindex [split [lindex $args end] :] 1]:part0:1.0"] }
proc current_project {} { return project }
proc update_ip_catalog {} {}
proc create_bd_design {name} { record design $name }
proc get_ipdefs {args} {
    set name [string map {:* ""} [lindex $args end]]
    return [list $name:1.0 $name:10.2 $name:9.1]
}
proc create_bd_cell {args} {
    set name [lindex $args end]
    lappend ::cells $name
    record cell [lindex $args [expr {[lsearch $args -vlnv] + 1}]] $name
    return /$name
}
proc set_property {args} {
    if {[lindex $args 0] eq "-dict"} {
        foreach {key value} [lindex $args 1] { record property [lindex $args 2] $key $value }
    } else {
        record property [lindex $args 2] [lindex $args 0] [lindex $args 1]
    }
}
proc pin {path} {
    set cell [lindex [split [string trimleft $path /] /] 0]
    if {$cell ni $::cells} { error "stub: pin $path of a cell that does not exist" }
    return /[string trimleft $path /]
}
proc get_bd_intf_pins {path} { return [pin $path] }
proc get_bd_pins {path} { return [pin $path] }
proc connect_bd_intf_net {from to} { record connect $from $to }
proc apply_bd_automation {args} {
    set rule [lindex $args [expr {[lsearch $args -rule] + 1}]]
    set config [lindex $args [expr {[lsearch $args -config] + 1}]]
    set target [lindex $args end]
    if {[dict exists $config Master]} {
        foreach end [list [dict get $config Master] [dict get $config Slave]] { pin $end }
        record axi $rule [dict get $config Master] [dict get $config Slave] $target
    } else {
        record automation $rule $target [dict get $config [lindex [dict keys $config] 0]]
    }
}
proc validate_bd_design {} { record validate }
proc save_bd_design {} {}
proc get_files {args} {
    if {[string match *.hwh [lindex $args end]]} { return [list $::stub_hwh] }
    return flow.bd
}
proc make_wrapper {args} { return flow_wrapper.v }
proc add_files {args} { record add_files [lindex $args end] }
proc launch_runs {args} { record launch [lindex $args 0] [lindex $args [expr {[lsearch $args -to_step] + 1}]] }
proc wait_on_run {run} {}
proc get_runs {run} { return $run }
proc get_property {name object} { return 100% }
proc open_run {run} { record open_run $run }
foreach report {report_utilization report_timing_summary} {
    proc $report {-file path} "record $report \$path; close \[open \$path w\]"
}

set argv [list $params]
source $block_design
close $log
