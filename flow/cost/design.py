"""The whole design's resources: every node of the hls4ml project, its FIFOs or partitioned arrays, and the stream top.

Each node's cost follows the hls4ml kernel it calls (the nnet_utils header named at each cost
function) with the types, depths and partitioning of the written project: the node's own
precisions, the `#pragma HLS STREAM ... depth=N` and `ARRAY_PARTITION ... complete` lines of
firmware/myproject.cpp, and the FIFO depths of firmware/flow_axis_top.cpp. Weight layers take
their kernel's estimate (flow/cost/kernels.py), which carries the fitted LUT and FF coefficients.

Building blocks (7-series / UltraScale fabric):
- a register bit is one FF; an n:1 multiplexer of w bits w * ceil(n / 4) LUTs (kernels.input_mux_luts);
- a comparator or an adder of w bits w LUTs (one LUT per bit on the carry chain);
- an `ap_shift_reg` of depth d and w bits is w SRL32s per 32 of depth (LUTRAM);
- a FIFO follows Vitis HLS's default storage (UG1399 config_storage: SRL up to depth 2 or 1,024
  bits, else memory), plus its read and write pointers. Vivado builds a shift chain shorter than 3
  in FFs (synth_design -shreg_min_size), so depth 1-2 FIFOs are registers. A memory FIFO is priced
  as BRAM18, an upper bound: Vivado may build a shallow one in LUTRAM.

Two levels: `hls_csynth` is the sum of the nodes (what C synthesis would report), `implementation`
scales it by the routed / HLS ratios fitted on the reference designs that have both reports
(flow/cost/calibration.py: IMPLEMENTATION_PAIRS). The fit is judged at the implementation level.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..hls4ml.accumulators import fraction_bits
from ..sparse.memory import LUTRAM_LIMIT_BITS, bram18_blocks
from .kernels import UNROLLED, DenseKernel, Estimate, LayerShape, dense_products, input_mux_luts, lut_product_cost

RESOURCES = ("dsp", "bram18", "lut", "ff", "lutram")
BUDGETED = ("dsp", "bram18", "lut", "ff")  # what a board file gives a budget for; LUTRAM is inside LUT

# routed / HLS per resource, the median over calibration.IMPLEMENTATION_PAIRS (three jet MLP builds
# of nicologhielmetti/hls4ml-pynq, Vivado HLS 2019.2 -> Vivado 2019.2 routed, kernel only; the UCI-HAR
# Conv1D of seanlipps/ECE226_CoDesign, Vitis HLS 2024.1 -> Vivado 2024.1 routed out of context).
# Refit with `python bench/estimator_calibration.py`, which checks these against the reports.
IMPLEMENTATION_RATIOS = {"lut": 0.3871, "ff": 1.077, "dsp": 1.0, "bram18": 0.2}
# Block RAM is not scaled down: the fitted 0.2 is Vivado moving the jet MLPs' small ROMs into LUTs, which
# the LUT ratio does not add back, so a design's BRAM18 is judged at its HLS count (an upper bound).
APPLIED_RATIOS = {**IMPLEMENTATION_RATIOS, "bram18": 1.0}
IMPLEMENTATION_SOURCE = ("HLS estimate x routed/HLS ratio per resource (median of 4 designs with both reports: "
                         "3 jet MLPs, Vivado HLS 2019.2 -> Vivado 2019.2 routed; 1 Conv1D, Vitis HLS 2024.1 -> "
                         "Vivado 2024.1 routed; bench/estimator_calibration.py); BRAM18 unscaled; LUTRAM kept")
HLS_SOURCE = ("sum of the nodes: hls4ml nnet_utils kernels' structure, LUT/FF coefficients fitted to HLS "
              "C-synthesis reports per layer (bench/estimator_calibration.py)")

SRL_DEPTH = 32  # SRLC32E: 32 bits of depth per LUT
REGISTER_FIFO_DEPTH = 2  # UG1399 config_storage auto_srl_max_depth: shallower FIFOs are registers
INT_BITS = 32  # hls4ml's line buffers and loop counters are `static int`


@dataclass(frozen=True)
class NodeCost:
    name: str  # the hls4ml node, FIFO or part of the stream top
    kind: str  # weight layer, activation, pooling, rescale, line buffer, fifo, array, stream top, ...
    source: str  # the kernel the figures follow
    dsp: int = 0
    bram18: int = 0
    lut: int = 0  # LUTRAM included
    ff: int = 0
    lutram: int = 0
    detail: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def shift_register_luts(depth: int, width: int, copies: int = 1) -> int:
    return width * math.ceil(depth / SRL_DEPTH) * copies


def counter(bits: int) -> dict:
    """An incrementing counter with its compare: bits FFs, 2 x bits LUTs."""
    return {"ff": bits, "lut": 2 * bits}


def fifo_cost(name: str, kind: str, source: str, depth: int, width: int) -> NodeCost:
    """A FIFO of depth x width bits as Vitis HLS binds it by default: registers up to depth 2, SRL up to
    1,024 bits, else memory (BRAM18, the upper bound)."""
    pointer = max(1, math.ceil(math.log2(depth + 1)))
    control = counter(2 * pointer)  # read and write pointers, full and empty from their compare
    detail = f"depth {depth} x {width} bits"
    if depth <= REGISTER_FIFO_DEPTH:  # at depth 2 a read multiplexer picks the older word
        return NodeCost(name, kind, source, lut=control["lut"] + (width if depth == 2 else 0),
                        ff=depth * width + control["ff"], detail=f"{detail}, registers")
    if depth * width <= LUTRAM_LIMIT_BITS:
        srl = shift_register_luts(depth, width)
        return NodeCost(name, kind, source, lut=srl + control["lut"], ff=width + control["ff"], lutram=srl,
                        detail=f"{detail}, SRL")
    return NodeCost(name, kind, source, bram18=bram18_blocks(depth, width), lut=control["lut"], ff=control["ff"],
                    detail=f"{detail}, memory (BRAM18 at most)")


def _bits(variable) -> int:
    return int(variable.type.precision.width)


def _elements(node, variable) -> int:
    """Values a node handles per cycle: a stream packet's n_elem (io_stream), or the whole tensor (io_parallel)."""
    if node.model.config.get_config_value("IOType") == "io_stream":
        return int(variable.type.n_elem)
    return int(math.prod(variable.shape))


def no_cost(node, context) -> list[NodeCost]:
    """Input, Reshape/Flatten: the project's port, or an alias of the input stream (`auto& layerN_out = ...`)."""
    return [NodeCost(node.name, "wiring", "myproject.cpp", detail="no logic")]


def transpose_cost(node, context) -> list[NodeCost]:
    """nnet_transpose_stream.h: the whole tensor in a fully partitioned data_array, written by index and read
    out through a multiplexer per output value; io_parallel (nnet_transpose.h) is wiring."""
    if not context.stream:
        return [NodeCost(node.name, "transpose", "nnet_transpose.h", detail="wiring")]
    inputs, outputs = node.get_input_variable(), node.get_output_variable()
    total, bits = int(math.prod(inputs.shape)), _bits(inputs)
    out_size = int(outputs.type.n_elem)
    lut = total + out_size * input_mux_luts(total // out_size, bits)  # write enables, read multiplexers
    return [NodeCost(node.name, "transpose", "nnet_transpose_stream.h", lut=lut, ff=total * bits,
                     detail=f"{total} x {bits}-bit buffer")]


def activation_cost(node, context) -> list[NodeCost]:
    """nnet_activation(_stream).h: per value one compare and select (relu), a cast (linear), or a table look-up
    (sigmoid, tanh, ...: table_size entries of table_t in a ROM); the output registered."""
    outputs = node.get_output_variable()
    values, bits = _elements(node, outputs), _bits(outputs)
    activation = str(node.get_attr("activation", node.class_name)).lower()
    registers = values * bits
    cast = values * bits if casts(node.get_input_variable().type.precision, outputs.type.precision) else 0
    if activation == "linear":
        return [NodeCost(node.name, "activation", "nnet_activation_stream.h: linear",
                         lut=cast, ff=registers, detail=f"cast x {values}")]
    if activation in ("relu", "leaky_relu", "leakyrelu", "relu6", "thresholdedrelu"):
        return [NodeCost(node.name, "activation", f"nnet_activation_stream.h: {activation}",
                         lut=values * bits + cast, ff=registers,
                         detail=f"compare/select{' and cast' if cast else ''} x {values}")]
    table_size, table_bits = int(node.get_attr("table_size", 1024)), _bits_of(node.get_attr("table_t"))
    rom = table_size * table_bits
    bram = 0 if rom < LUTRAM_LIMIT_BITS else bram18_blocks(table_size, table_bits)
    lutram = 0 if bram else shift_register_luts(table_size, table_bits)
    index = values * math.ceil(math.log2(table_size))  # each value's table index from its top bits
    return [NodeCost(node.name, "activation", f"nnet_activation_stream.h: {activation} (table)",
                     bram18=bram, lut=lutram + index, ff=registers, lutram=lutram,
                     detail=f"{table_size} x {table_bits}-bit table")]


def casts(source, target) -> bool:
    """Whether converting source to target rounds (fewer fraction bits, any mode but TRN) or saturates (fewer
    magnitude bits, or a sign to clear, under SAT): an increment and an overflow check per value; otherwise
    the cast is wiring. Types are anything with width, integer (default: width) and signed (default: True)."""
    integer = lambda kind: int(getattr(kind, "integer", kind.width))  # noqa: E731
    signed = lambda kind: bool(getattr(kind, "signed", True))  # noqa: E731
    fraction = lambda kind: int(kind.width) - integer(kind)  # noqa: E731
    magnitude = lambda kind: integer(kind) - signed(kind)  # noqa: E731
    rounds = str(getattr(target, "rounding_mode", "TRN")) not in ("TRN", "None") and fraction(target) < fraction(source)
    saturates = "SAT" in str(getattr(target, "saturation_mode", "")) and (
        magnitude(target) < magnitude(source) or (signed(source) and not signed(target)))
    return rounds or saturates


def constant_span(values: np.ndarray, precision) -> tuple[int, int]:
    """(integer bits with the sign, fraction bits) the constants really use: from the largest magnitude's top bit
    down to the lowest set bit over all of them, at most the type's fraction bits."""
    values = np.abs(np.asarray(values, dtype=float).ravel())
    values = values[values > 0]
    if not values.size:
        return 1, 0
    limit = max(0, int(precision.width) - int(getattr(precision, "integer", precision.width)))
    return math.floor(math.log2(float(values.max()))) + 2, fraction_bits(values, limit)


def _bits_of(named_type) -> int:
    return int(named_type.precision.width) if named_type is not None else 18


def padding_cost(node, context) -> list[NodeCost]:
    """nnet_padding_stream.h: each output packet is a read or zeros (an AND per bit), two loop counters."""
    outputs = node.get_output_variable()
    values, bits = _elements(node, outputs), _bits(outputs)
    loops = counter(2 * math.ceil(math.log2(max(2, int(math.prod(outputs.shape[:-1]))))))
    return [NodeCost(node.name, "padding", "nnet_padding_stream.h", lut=values * bits + loops["lut"],
                     ff=values * bits + loops["ff"], detail=f"{values} values per cycle")]


def line_buffer_cost(name: str, source: str, lines: int, channels: int, width: int, window: int, bits: int) -> NodeCost:
    """The line buffer of nnet_conv_stream.h / nnet_pooling_stream.h: `ap_shift_reg<.., in_width>
    line_buffer[lines][channels]` (SRLs), the fully partitioned window `kernel_data`, and the four
    `static int` pixel and stride counters."""
    srl = shift_register_luts(width, bits, copies=lines * channels)
    counters = counter(4 * INT_BITS)
    return NodeCost(name, "line buffer", source, lut=srl + counters["lut"], ff=window * bits + counters["ff"],
                    lutram=srl, detail=f"{lines}x{channels} lines of {width}, window {window}")


def pooling_cost(node, context) -> list[NodeCost]:
    """nnet_pooling_stream.h (io_stream: line buffer, then per channel pool_size - 1 compare/select or add) and
    nnet_pooling.h (io_parallel: every output at once)."""
    inputs = node.get_input_variable()
    bits = _bits(inputs)
    pool = int(node.get_attr("pool_height", 1)) * int(node.get_attr("pool_width", node.get_attr("pool_size", 1)))
    channels = int(node.get_attr("n_filt"))
    outputs = channels if context.stream else int(math.prod(node.get_output_variable().shape))
    reduce = NodeCost(node.name, "pooling", "nnet_pooling_stream.h" if context.stream else "nnet_pooling.h",
                      lut=outputs * (pool - 1) * 2 * bits, ff=outputs * bits,
                      detail=f"{outputs} x max/avg of {pool}")
    if not context.stream:
        return [reduce]
    lines = max(int(node.get_attr("pool_height", 1)) - 1, 1)
    buffer = line_buffer_cost(f"{node.name} line buffer", "nnet_pooling_stream.h: compute_pool_buffer_2d", lines,
                              channels, int(node.get_attr("in_width")), pool * channels, bits)
    return [buffer, reduce]


def conv_line_buffer(node) -> NodeCost:
    """An io_stream convolution's line buffer (nnet_conv_stream.h: compute_output_buffer_2d)."""
    lines = max(int(node.get_attr("filt_height", 1)) - 1, 1)
    channels = int(node.get_attr("n_chan"))
    window = int(node.get_attr("filt_height", 1)) * int(node.get_attr("filt_width")) * channels
    return line_buffer_cost(f"{node.name} line buffer", "nnet_conv_stream.h: compute_output_buffer_2d", lines,
                            channels, int(node.get_attr("in_width")), window, _bits(node.get_input_variable()))


def line_buffer_left_out(node, kernel: str) -> NodeCost | None:
    """What an io_stream convolution's estimate for `kernel` leaves out of its line buffer: hls4ml's own conv
    modules, the Latency and Resource calibration points, include it; the sparse estimate is the product
    alone; the distributed_arithmetic one takes the Latency kernel's FFs (its window registers among them), so
    it leaves out the buffer's LUTs only. None where nothing is left out."""
    if "Conv" not in node.class_name or kernel not in ("sparse", UNROLLED):
        return None
    buffer = conv_line_buffer(node)
    return buffer if kernel == "sparse" else replace(buffer, ff=0)


def weight_layer_cost(node, context) -> list[NodeCost]:
    """The chosen kernel's estimate (flow/cost/kernels.py), and the line buffer of an io_stream convolution whose
    estimate leaves it out."""
    estimate = context.weight_estimates[node.name]
    kernel = "sparse" if node.class_name.startswith("Sparse") else "dense"
    strategy = node.get_attr("strategy", context.strategy)
    source = ("hls/nnet_sparse.h" if kernel == "sparse" else "da4ml adder graph (nnet_da_wrappers.h)"
              if strategy == UNROLLED else f"nnet_dense_{strategy}.h")
    parts = [NodeCost(node.name, "weight layer", source, dsp=estimate.dsp, bram18=estimate.bram18, lut=estimate.lut,
                      ff=estimate.ff, lutram=estimate.lutram, detail=f"{kernel} kernel")]
    left_out = line_buffer_left_out(node, "sparse" if kernel == "sparse" else strategy) if context.stream else None
    return parts if left_out is None else [left_out, *parts]


def constant_bits(values: np.ndarray, precision) -> int:
    """Bits a product with these constants really takes: HLS drops the type's leading bits that no value uses,
    so it spans the largest value's top bit down to the type's LSB, plus the sign (fixed<32,16> at 0.26: 16)."""
    largest = float(np.max(values)) if values.size else 0.0
    if largest == 0:
        return 1
    top_bit = math.floor(math.log2(largest))
    fraction = int(precision.width) - int(precision.integer)
    return max(1, min(int(precision.width), top_bit + fraction + 2))


def rescale_cost(node, context) -> list[NodeCost]:
    """nnet_batchnorm(_stream).h normalize (ApplyAlpha too): per value a product with its constant scale, a
    bias add and the cast to the output type, all values of a packet in one pipelined iteration. A scale
    of zero or a power of two is a shift and a bias of zero no adder (a Sub or Add rescale has scales of
    1). Counted structurally, not with the dense kernel's coefficients, which absorb deep product
    pipelines: a constant product as the dense Latency kernel builds it (DSP or LUT shift-adds); an
    adder over the uncast sum's bits from the higher of the two operands' lowest bits up (in fabric
    unless a DSP's post-adder takes it); a rounding or saturating cast to the output type, an increment
    over its bits and a check of the dropped ones; the output register."""
    inputs, outputs = node.get_input_variable(), node.get_output_variable()
    values, input_bits, output_bits = _elements(node, inputs), _bits(inputs), _bits(outputs)
    scale, bias = node.get_weights("scale"), node.get_weights("bias")
    scales = np.abs(np.asarray(scale.data, dtype=float).ravel())
    shifts = (scales == 0) | (np.exp2(np.round(np.log2(np.where(scales > 0, scales, 1)))) == scales)
    products = math.ceil(values * float(np.mean(~shifts))) if scales.size else 0
    biases = np.asarray(bias.data, dtype=float).ravel()
    adders = math.ceil(values * float(np.mean(biases != 0))) if biases.size else 0
    reuse = 1 if context.stream else max(1, int(node.get_attr("reuse_factor", 1)))
    shape = LayerShape(node.name, 1, values, nonzeros=products, weight_bits=constant_bits(scales, scale.type.precision),
                       input_bits=input_bits, accum_bits=output_bits)
    built = dense_products(shape, DenseKernel(reuse_factor=reuse))
    # the sum's binary point: the product spans the input's bits moved by the scale (a shift) or widened by the
    # constant's span; the bias adds its own span. Below the lower of the two lowest bits the sum is wiring.
    in_integer = int(getattr(inputs.type.precision, "integer", input_bits))
    in_fraction = input_bits - in_integer
    if products:
        scale_integer, scale_fraction = constant_span(scales, scale.type.precision)
        product_integer, product_fraction = in_integer + scale_integer, in_fraction + scale_fraction
    else:
        powers = np.log2(scales[scales > 0]) if np.any(scales > 0) else np.zeros(1)
        product_integer, product_fraction = in_integer + int(powers.max()), in_fraction - int(powers.min())
    bias_integer, bias_fraction = constant_span(biases, bias.type.precision)
    sum_integer = max(product_integer, bias_integer) + 1 if adders else product_integer
    sum_fraction = max(product_fraction, bias_fraction) if adders else product_fraction
    adder_bits = sum_integer + min(product_fraction, bias_fraction)
    sum_type = SimpleNamespace(width=sum_integer + sum_fraction, integer=sum_integer)
    cast = (values * (output_bits + math.ceil(max(0, sum_type.width - output_bits) / 5))
            if casts(sum_type, outputs.type.precision) else 0)
    lut = ((built.multipliers - built.dsp_products) * lut_product_cost(shape.weight_bits, input_bits)
           + max(0, adders - built.dsp_products) * adder_bits + cast)
    return [NodeCost(node.name, "rescale", "nnet_batchnorm_stream.h" if context.stream else "nnet_batchnorm.h",
                     dsp=built.dsp, lut=lut, ff=values * output_bits,
                     detail=f"{products} of {values} values scaled, {adders} biased ({adder_bits}-bit adders)")]


NODE_COSTS = {
    "Input": no_cost, "Reshape": no_cost,
    "Transpose": transpose_cost,
    "Activation": activation_cost, "ReLU": activation_cost, "LeakyReLU": activation_cost,
    "ThresholdedReLU": activation_cost, "Softmax": activation_cost,
    "ZeroPadding1D": padding_cost, "ZeroPadding2D": padding_cost,
    "Pooling1D": pooling_cost, "Pooling2D": pooling_cost,
    "Dense": weight_layer_cost, "Conv1D": weight_layer_cost, "Conv2D": weight_layer_cost,
    "SparseDense": weight_layer_cost, "SparseConv2D": weight_layer_cost,
    "BatchNormalization": rescale_cost, "ApplyAlpha": rescale_cost,
}

CHANNEL = re.compile(r"#pragma HLS STREAM variable=(\w+) depth=(\d+)")


@dataclass(frozen=True)
class DesignContext:
    stream: bool
    strategy: str  # latency | resource
    weight_estimates: dict  # node name -> Estimate of its chosen kernel


def channel_costs(hls_model, firmware: Path) -> list[NodeCost]:
    """The inter-layer FIFOs (io_stream) as myproject.cpp declares them. io_parallel's fully partitioned
    arrays are the registers their producers write, already counted with each producer (the weight
    layers' output FFs are in the calibrated figure)."""
    variables = {}
    for node in hls_model.get_layers():
        variables.update({variable.name: variable for variable in node.variables.values()})
    costs = []
    project = hls_model.config.get_project_name()
    for name, depth in CHANNEL.findall((firmware / f"{project}.cpp").read_text()):
        variable = variables.get(name)
        if variable is None or not hasattr(variable.type, "precision"):
            continue
        costs.append(fifo_cost(name, "fifo", "myproject.cpp: #pragma HLS STREAM", int(depth),
                               int(variable.type.n_elem) * _bits(variable)))
    return costs


STREAM_TOP_FIFO = re.compile(r"#pragma HLS STREAM variable=(model_in|model_out|last) depth=(\d+)")


def stream_top_costs(hls_model, firmware: Path, stream: bool) -> list[NodeCost]:
    """flow_axis_top.cpp (flow/hls4ml/stream_top.py, hls/flow_axis_top.h): its FIFOs at their written depth
    (model_in, model_out and the one-bit `last` flags), the read and write processes (a value counter, the
    AXI-Stream word), and io_parallel's model process arrays. Free-running: no AXI-Lite adapter."""
    source = firmware / "flow_axis_top.cpp"
    if not source.is_file():
        return []
    inputs, outputs = hls_model.get_input_variables()[0], hls_model.get_output_variables()[0]
    ends = {"model_in": inputs, "model_out": outputs}
    costs = []
    for name, depth in STREAM_TOP_FIFO.findall(source.read_text()):
        variable = ends.get(name)
        width = 1 if variable is None else _bits(variable) * (int(variable.type.n_elem) if stream else 1)
        costs.append(fifo_cost(f"top {name}", "stream top", "flow_axis_top.cpp: #pragma HLS STREAM", int(depth), width))
    for label, variable in (("read", inputs), ("write", outputs)):
        values, bits = int(math.prod(variable.shape)), _bits(variable)
        word = 8 * math.ceil(bits / 8)
        loops = counter(math.ceil(math.log2(values + 1)))
        # the word's data, keep and strobe bytes and last; the packet or value it converts
        registers = word + 2 * (word // 8) + 1 + bits * (int(variable.type.n_elem) if stream else 1)
        costs.append(NodeCost(f"top {label}", "stream top", "hls/flow_axis_top.h", lut=loops["lut"] + bits,
                              ff=loops["ff"] + registers, detail=f"{values} values per sample"))
        if not stream:  # run_model's inputs[] / outputs[], fully partitioned by the model's ports, written by index
            costs.append(NodeCost(f"top {label} array", "stream top", "flow_axis_top.cpp: read_array/write_array",
                                  lut=values + input_mux_luts(values, bits) * (label == "write"), ff=values * bits,
                                  detail=f"{values} x {bits} bits"))
    return costs


def node_costs(hls_model, weight_estimates: dict[str, Estimate], strategy: str) -> list[NodeCost]:
    """Every node of the model, then its FIFOs or arrays, then the stream top."""
    stream = hls_model.config.get_config_value("IOType") == "io_stream"
    context = DesignContext(stream=stream, strategy=strategy, weight_estimates=weight_estimates)
    costs = []
    for node in hls_model.get_layers():
        cost = NODE_COSTS.get(node.class_name)
        costs += cost(node, context) if cost else [NodeCost(node.name, "not modelled", node.class_name,
                                                            detail="no cost model: counted as zero")]
    firmware = Path(hls_model.config.get_output_dir()) / "firmware"
    return costs + channel_costs(hls_model, firmware) + stream_top_costs(hls_model, firmware, stream)


def other_node_totals(hls_model) -> dict:
    """HLS-level totals of the nodes other than weight layers (activations, pooling, rescales, line buffers),
    before the FIFOs and the stream top, which the written project sets: what a kernel choice leaves fixed."""
    stream = hls_model.config.get_config_value("IOType") == "io_stream"
    context = DesignContext(stream=stream, strategy="latency", weight_estimates={})
    costs = [cost for node in hls_model.get_layers() if NODE_COSTS.get(node.class_name) not in (None, weight_layer_cost)
             for cost in NODE_COSTS[node.class_name](node, context)]
    return totals(costs)


def totals(costs: list[NodeCost]) -> dict:
    return {name: sum(getattr(cost, name) for cost in costs) for name in RESOURCES}


def implementation(hls: dict) -> dict:
    """The HLS-level totals at the implementation level: logic LUTs, FFs and DSPs scaled, LUTRAM kept."""
    logic = hls["lut"] - hls["lutram"]
    return {"dsp": int(math.ceil(hls["dsp"] * APPLIED_RATIOS["dsp"])),
            "bram18": int(math.ceil(hls["bram18"] * APPLIED_RATIOS["bram18"])),
            "lut": int(math.ceil(logic * APPLIED_RATIOS["lut"])) + hls["lutram"],
            "ff": int(math.ceil(hls["ff"] * APPLIED_RATIOS["ff"])), "lutram": hls["lutram"]}


def design_report(costs: list[NodeCost], budget: dict) -> dict:
    """estimates.json's `design`: both levels with their sources, the fit at the implementation level."""
    hls = totals(costs)
    placed = implementation(hls)
    over = [{"resource": name, "estimate": placed[name], "budget": budget[name],
             "share": round(placed[name] / budget[name], 4)}
            for name in BUDGETED if placed[name] > budget[name]]
    return {
        "levels": {"hls_csynth": {**hls, "source": HLS_SOURCE},
                   "implementation": {**placed, "source": IMPLEMENTATION_SOURCE, "ratios": IMPLEMENTATION_RATIOS,
                                      "applied_ratios": APPLIED_RATIOS}},
        "fit_level": "implementation",
        "fits": not over,
        "over_budget": sorted(over, key=lambda entry: -entry["share"]),
        "utilization": {name: round(placed[name] / budget[name], 4) for name in BUDGETED if budget.get(name)},
        "not_modelled": [cost.name for cost in costs if cost.kind == "not modelled"],
        "nodes": [cost.to_json() for cost in costs],
    }
