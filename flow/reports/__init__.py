"""Parsers of vendor reports: Vivado/Vitis HLS C-synthesis and Vivado utilization and timing."""
