"""Gate-level checks with open tools: each weight layer as Verilog, simulated by verilator, counted by yosys.

- layers.py: per weight layer, the exported weights, the hls4ml types and QONNX's own input and output
  vectors on the verify inputs;
- adder_graph.py: the fully unrolled constant-weight form (da4ml's adder graph) as Verilog;
- sparse_kernel.py: flow's sparse kernel (hls/nnet_sparse.h) as Verilog, from the layer's encoding;
- verilator.py: a testbench that feeds a module fixed-point vectors and reads its outputs and cycles;
- yosys.py: `synth_xilinx` and its cell counts;
- checks.py: a form written, run against QONNX's vectors bit for bit, and synthesized.

yosys counts cells before placement and routing, and the Verilog here is a reference implementation
of each layer, not what Vitis HLS makes of the hls4ml project.
"""
