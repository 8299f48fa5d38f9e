"""Gate-level checks with open tools: each weight layer as Verilog, simulated by verilator, counted by yosys.

- layers.py: per weight layer, the exported weights, the hls4ml types and QONNX's own input and output
  vectors on the verify inputs;
- adder_graph.py: the fully unrolled constant-weight form (da4ml's adder graph) as Verilog;
- verilator.py: a testbench that feeds a module fixed-point vectors and reads its outputs;
- yosys.py: `synth_xilinx` and its cell counts.

yosys counts cells before placement and routing, and the Verilog here is a reference implementation
of each layer, not what Vitis HLS makes of the hls4ml project.
"""
