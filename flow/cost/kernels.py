"""Pre-synthesis estimates per layer: hls4ml's dense kernels (Latency, Resource) and flow's sparse kernel.

Every figure is derived from the kernel's loop structure (see hls4ml's nnet_dense_latency.h,
nnet_dense_resource.h, nnet_conv_stream.h and hls/nnet_sparse.h), with constants fitted to real
HLS reports by `bench/estimator_calibration.py` (`CALIBRATED` below). LUT and FF are sums of
structural terms (bits of LUT-built products, adder bits, multiplexer LUTs, register bits), each
weighted by a fitted coefficient. They estimate C synthesis (HLS-level), not placed designs:
flow/cost/design.py scales a whole design to the implementation level.

A layer is a matrix product of n_in x n_out per output position: 1 position for a dense layer,
one per output pixel for a convolution (n_in = kernel area x input channels).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..sparse.memory import array_footprint

# LUT and FF coefficients per structural term of dense_terms(), fitted by
# `python bench/estimator_calibration.py` on the layers' HLS C-synthesis LUT and FF.
LUT_COEFFICIENTS = {"lut_product_bits": 0.0, "lut_product_adder_bits": 0.111, "dsp_product_adder_bits": 1.6749,
                    "input_mux_luts": 1.6952, "accumulator_bits": 3.9921, "layer": 3.0238}
FF_COEFFICIENTS = {"dsp_product_bits": 0.0553, "output_bits": 2.717, "input_bits": 2.3927, "accumulator_bits": 4.6239,
                   "lut_product_bits": 0.1321, "layer": 0.0953}
# The structural terms counted once each (every coefficient 1): what the fit starts from, and the
# uncalibrated estimator the calibration test shows failing.
UNCALIBRATED_LUT = dict.fromkeys(LUT_COEFFICIENTS, 1.0)
UNCALIBRATED_FF = dict.fromkeys(FF_COEFFICIENTS, 1.0)

# Fitted by `python bench/estimator_calibration.py` (bench/results/estimator_calibration.json);
# refit after changing the model, and keep this table and that result in step.
CALIBRATED = {
    # fraction of a Latency-strategy layer's constant products that HLS maps to DSPs rather than
    # LUT shift-adds, for weights wider than CONSTANT_LUT_BITS
    "constant_product_dsp_fraction": 0.9,
    # cycles a fully unrolled product + adder tree takes beyond the reuse factor, per log2(n_in)
    "adder_tree_cycles_per_level": 0.0,
    "pipeline_fill_cycles": 0,
    # io_stream wrappers read the input vector and write the result once per call
    "stream_overhead_cycles": 2,
    # LUTs per unit of each structural term of hls4ml's dense kernels (dense_terms below)
    "lut_coefficients": LUT_COEFFICIENTS,
    # FFs per unit of each structural term
    "ff_coefficients": FF_COEFFICIENTS,
}
CONSTANT_LUT_BITS = 8  # constant products with weights this narrow become LUT logic
DSP_MIN_PRODUCT_BITS = 20  # a variable product narrower than this (w + a bits) stays in LUTs
DSP_A_BITS, DSP_B_BITS = 25, 18  # DSP48E1 multiplier; DSP48E2 is 27 x 18, within a DSP of this here
# hls/nnet_sparse.h per call: the Entries pipeline (entry read, column step, input mux, level
# lookup, multiply, accumulate) and the Rows pipeline (acc read, bias add, cast) fill once each
SPARSE_ENTRIES_DEPTH, SPARSE_ROWS_DEPTH = 6, 3
SPARSE_CALL_OVERHEAD = SPARSE_ENTRIES_DEPTH + SPARSE_ROWS_DEPTH
UNROLLED_ADDER_LEVELS_PER_STAGE = 4  # flow/rtl/adder_graph.py pipelines its adder graph at this depth
UNROLLED = "distributed_arithmetic"  # hls4ml's strategy name for da4ml's adder graph at RF 1


@dataclass(frozen=True)
class LayerShape:
    name: str
    n_in: int
    n_out: int
    positions: int = 1  # output positions per inference (pixels of a convolution)
    input_positions: int | None = None  # pixels an io_stream convolution reads (its line buffer's loop); None: positions
    nonzeros: int | None = None  # None: unknown, taken as dense
    stream_packets: int = 0  # packets an io_stream fully connected layer reads plus writes per call
    weight_bits: int = 16
    input_bits: int = 16
    accum_bits: int | None = None  # accum_t's width as hls4ml's config sets it; None: the exact sum's
    output_bits: int | None = None  # the result type's width; None: the accumulator's

    @property
    def weights(self) -> int:
        return self.n_in * self.n_out

    @property
    def kept(self) -> int:
        return self.weights if self.nonzeros is None else self.nonzeros


@dataclass(frozen=True)
class DenseKernel:
    """hls4ml's dense product: `strategy` latency or resource, at `reuse_factor`."""

    reuse_factor: int = 1
    strategy: str = "latency"
    io_type: str = "io_parallel"


@dataclass(frozen=True)
class SparseKernel:
    """flow's sparse product: `pes` PEs, each walking `entries` words (the slowest PE's count, fillers
    included) and then writing out its `rows` output rows."""

    pes: int
    entries: int
    rows: int
    index_bits: int
    code_bits: int


@dataclass(frozen=True)
class Estimate:
    latency: int  # cycles, one inference through the layer
    interval: int  # cycles between inferences
    dsp: int
    bram18: int
    lut: int  # LUTs in all, LUTRAM included (as Vivado's "Slice LUTs")
    ff: int
    lutram: int = 0  # of those LUTs, the ones used as memory (distributed ROM/RAM, SRL shift registers)

    def to_json(self) -> dict:
        return asdict(self)


def dsp_per_product(weight_bits: int, input_bits: int) -> int:
    """DSP slices one variable product needs: none when narrow, several when wider than the multiplier."""
    if weight_bits + input_bits < DSP_MIN_PRODUCT_BITS:
        return 0
    wide, narrow = max(weight_bits, input_bits), min(weight_bits, input_bits)
    return math.ceil(wide / DSP_A_BITS) * math.ceil(narrow / DSP_B_BITS)


def lut_product_cost(weight_bits: int, input_bits: int) -> int:
    """LUT6s of a product built in fabric: about one per partial-product bit pair, halved by LUT packing."""
    return max(1, weight_bits * input_bits // 2)


def input_mux_luts(choices: int, input_bits: int) -> int:
    """A multiplexer picking one of `choices` inputs of input_bits: a LUT6 muxes 4 (F7/F8 muxes join them)."""
    return 0 if choices <= 1 else input_bits * math.ceil(choices / 4)


def adder_tree_cycles(n_in: int, constants: dict = CALIBRATED) -> int:
    return int(math.ceil(constants["adder_tree_cycles_per_level"] * math.ceil(math.log2(max(n_in, 2)))))


def accumulator_bits(shape: LayerShape) -> int:
    """accum_t's width: the node's own where known, else the exact sum of n_in products."""
    if shape.accum_bits:
        return shape.accum_bits
    return shape.weight_bits + shape.input_bits + int(math.ceil(math.log2(max(shape.n_in, 2))))


@dataclass(frozen=True)
class DenseProducts:
    """How hls4ml's dense kernel builds its products: parallel multipliers, how many of them in DSPs,
    and the Resource strategy's weight ROM."""

    multipliers: int
    dsp_products: int
    dsp: int
    bram18: int
    rom_lutram: int


def dense_products(shape: LayerShape, kernel: DenseKernel, constants: dict = CALIBRATED) -> DenseProducts:
    reuse = max(1, kernel.reuse_factor)
    per_product = dsp_per_product(shape.weight_bits, shape.input_bits)
    if kernel.strategy == "latency":
        # weights are constants: zero products vanish when fully unrolled (hls4ml: n_zeros at RF 1)
        products = shape.kept if reuse == 1 else shape.weights
        multipliers = math.ceil(products / reuse)
        constant_dsp = constants["constant_product_dsp_fraction"] if shape.weight_bits > CONSTANT_LUT_BITS else 0.0
        dsp_products = int(round(multipliers * constant_dsp)) if per_product else 0
        return DenseProducts(multipliers, dsp_products, dsp_products * max(1, per_product), 0, 0)
    # weights in a ROM reshaped into block_factor words of depth reuse_factor
    multipliers = math.ceil(shape.weights / reuse)
    rom = array_footprint(reuse, multipliers * shape.weight_bits) if reuse > 1 else None
    return DenseProducts(multipliers, multipliers if per_product else 0, multipliers * per_product,
                         rom.bram18 if rom else 0, rom.lutram_luts if rom else 0)


def dense_input_muxes(shape: LayerShape, kernel: DenseKernel, multipliers: int) -> tuple[int, int]:
    """The input multiplexers of a dense layer, as the HLS reports build them: (how many, inputs each).

    hls4ml's Resource walk (nnet_dense_resource.h) at RF >= n_in reads one input per step, data[ir]
    or data[in_index], for every multiplier: one n_in:1 multiplexer (the jet-tagging 64 x 32 layer at
    RF 64: one mux_646 instance in its Vivado HLS 2019 report). At RF < n_in each unrolled multiplier
    computes its own index, which HLS does not narrow: an n_in:1 multiplexer per multiplier (64 x 32
    at RF 32: 64 mux_646 instances, 9,280 of 12,691 LUTs, Vivado HLS 2020; a 16 x 64 layer at RF 8
    got shifters instead). The Latency strategy at RF > 1 leaves the sharing to HLS: an RF:1
    multiplexer before each multiplier. At RF 1 none. The accumulators' own multiplexers at RF > n_in
    are in the accumulator term."""
    reuse = max(1, kernel.reuse_factor)
    if reuse == 1:
        return 0, 1
    if kernel.strategy != "resource":
        return multipliers, min(shape.n_in, reuse)
    return (1 if reuse >= shape.n_in else multipliers), shape.n_in


def dense_terms(shape: LayerShape, kernel: DenseKernel, constants: dict = CALIBRATED) -> tuple[dict, dict]:
    """The structural LUT and FF terms of one hls4ml dense product (nnet_dense_latency.h, nnet_dense_resource.h).

    LUT: partial-product bits of the products built in fabric, and their adders (narrower operand x
    accumulator bits); one accumulator-wide adder per DSP product (the adder tree); the input
    multiplexers of the Resource walk (dense_input_muxes); the Resource strategy's
    accumulators (one per output, read and written each cycle); a per-layer constant (control).
    FF: the pipeline registers of the products (accumulator-wide), the registered inputs and
    outputs (io_stream's data[] / res[] arrays, io_parallel's partitioned ports), the Resource
    strategy's accumulators.
    """
    built = dense_products(shape, kernel, constants)
    acc_bits = accumulator_bits(shape)
    lut_products = built.multipliers - built.dsp_products
    muxes, mux_inputs = dense_input_muxes(shape, kernel, built.multipliers)
    resource = kernel.strategy == "resource"
    lut = {"lut_product_bits": lut_products * shape.weight_bits * shape.input_bits,
           "lut_product_adder_bits": lut_products * min(shape.weight_bits, shape.input_bits) * acc_bits,
           "dsp_product_adder_bits": built.dsp_products * acc_bits,
           "input_mux_luts": muxes * input_mux_luts(mux_inputs, shape.input_bits),
           "accumulator_bits": shape.n_out * acc_bits if resource else 0, "layer": 1}
    ff = {"dsp_product_bits": built.dsp_products * acc_bits, "output_bits": shape.n_out * acc_bits,
          "input_bits": shape.n_in * shape.input_bits,
          "accumulator_bits": built.multipliers * acc_bits if resource else 0,
          "lut_product_bits": lut_products * acc_bits, "layer": 1}
    return lut, ff


def weighted(terms: dict, coefficients: dict) -> int:
    return int(round(sum(coefficients[name] * value for name, value in terms.items())))


def dense_schedule(shape: LayerShape, reuse: int, fill: int, io_type: str) -> tuple[int, int]:
    """(latency, interval) of an hls4ml dense product taking `reuse` cycles per output position and `fill` more
    per call (its pipeline, and io_stream's packets)."""
    # a convolution's line buffer takes one input pixel per reuse_factor cycles (hls4ml nnet_conv_stream.h)
    steps = shape.input_positions or shape.positions
    latency = int(steps * reuse + fill)
    # an io_stream fully connected layer (nnet_dense_stream.h, and nnet_da_wrappers.h alike) reads its packets,
    # runs the kernel and writes its packets one after another in one process: the next call starts when the
    # last packet is out
    interval = latency if shape.stream_packets and io_type == "io_stream" else int(steps * reuse)
    return latency, interval


def estimate_dense(shape: LayerShape, kernel: DenseKernel, constants: dict = CALIBRATED) -> Estimate:
    if kernel.strategy == UNROLLED:
        return estimate_unrolled(shape, kernel.io_type, constants)
    reuse = max(1, kernel.reuse_factor)
    built = dense_products(shape, kernel, constants)
    fill = constants["pipeline_fill_cycles"] + adder_tree_cycles(math.ceil(shape.n_in / reuse), constants)
    if kernel.io_type == "io_stream":
        # nnet::dense's stream wrapper reads every input packet, then writes every output packet, one per cycle
        fill += constants["stream_overhead_cycles"] + shape.stream_packets
    lut_terms, ff_terms = dense_terms(shape, kernel, constants)
    latency, interval = dense_schedule(shape, reuse, fill, kernel.io_type)
    return Estimate(latency=latency, interval=interval, dsp=built.dsp,
                    bram18=built.bram18, lut=weighted(lut_terms, constants["lut_coefficients"]) + built.rom_lutram,
                    ff=weighted(ff_terms, constants["ff_coefficients"]), lutram=built.rom_lutram)


def sparse_call_cycles(kernel: SparseKernel) -> int:
    """Cycles of one nnet::SparseDense::dense call: both loops at II=1, PEs in parallel inside them."""
    return kernel.entries + kernel.rows + SPARSE_CALL_OVERHEAD


def sparse_memories(kernel: SparseKernel, acc_bits: int):
    """The sparse kernel's two memories: every PE's entry ROM, and its finished row sums acc[pe][row]."""
    return (array_footprint(kernel.entries, kernel.index_bits + kernel.code_bits, copies=kernel.pes),
            array_footprint(kernel.rows, acc_bits, copies=kernel.pes))


def sparse_terms(shape: LayerShape, kernel: SparseKernel, weight_bits: int | None = None) -> tuple[dict, dict]:
    """The structural LUT and FF terms of flow's sparse kernel (hls/nnet_sparse.h), per layer.

    LUT, per PE: the input multiplexer (every PE may read any input), the column and row logic
    (column add, compare, subtract; row counter), the level table, the accumulator's adder, the
    product where it is built in fabric; then the entry ROMs and finished row sums where they are
    LUTRAM, and the output write. FF: each PE's running sum, column and row registers, and the
    fully partitioned arrays (res[n_out], and an io_stream layer's data[n_in]).
    """
    bits = weight_bits or shape.weight_bits
    acc_bits = accumulator_bits(shape)
    product_dsp = dsp_per_product(bits, shape.input_bits)
    column_bits = int(math.ceil(math.log2(max(2 * shape.n_in, 2)))) + 1
    row_bits = int(math.ceil(math.log2(max(kernel.rows + 1, 2))))
    memory, finished_rows = sparse_memories(kernel, acc_bits)
    # the Rows loop reads its row's bias from a fully partitioned array of constants, indexed through the
    # constant row table (a ROM of the PE's rows once Vivado folds them: 64 values per LUT6), and writes
    # res[out] at a variable index (a write enable per output); several PEs own rows by the row table, so
    # any PE may write any output, a P:1 mux per output instead
    output_bits = shape.output_bits or acc_bits
    bias_rom = kernel.pes * acc_bits * math.ceil(kernel.rows / 64)
    lut = {"input_mux_luts": kernel.pes * input_mux_luts(shape.n_in, shape.input_bits),
           "position_luts": kernel.pes * (3 * column_bits + row_bits),
           "level_luts": kernel.pes * ((2 ** kernel.code_bits) * bits // 6 + 1),
           "accumulator_bits": kernel.pes * acc_bits,
           "lut_product_luts": 0 if product_dsp else kernel.pes * lut_product_cost(bits, shape.input_bits),
           "entry_rom_luts": memory.lutram_luts, "row_sum_luts": finished_rows.lutram_luts,
           "output_write_luts": bias_rom + (shape.n_out if kernel.pes == 1 else
                                            shape.n_out * input_mux_luts(kernel.pes, output_bits))}
    # the fully partitioned res[n_out] the Rows loop writes and an io_stream layer's data[n_in] its stream wrapper
    # fills (io_parallel's data[] is its producer's output array; a convolution's window is its line buffer's)
    ff = {"pe_register_bits": kernel.pes * (acc_bits + column_bits + row_bits),
          "array_bits": shape.n_out * output_bits + (shape.n_in * shape.input_bits if shape.stream_packets else 0)}
    return lut, ff


# The sparse kernel's terms as derived, each counted once: no HLS report of it exists to fit them to
SPARSE_LUT_COEFFICIENTS = dict.fromkeys(("input_mux_luts", "position_luts", "level_luts", "accumulator_bits",
                                         "lut_product_luts", "entry_rom_luts", "row_sum_luts", "output_write_luts"),
                                        1.0)
SPARSE_FF_COEFFICIENTS = dict.fromkeys(("pe_register_bits", "array_bits"), 1.0)
MEMORY_LUT_TERMS = ("entry_rom_luts", "row_sum_luts")  # the LUTs that are LUTRAM


def estimate_sparse(shape: LayerShape, kernel: SparseKernel, weight_bits: int | None = None,
                    lut_coefficients: dict = SPARSE_LUT_COEFFICIENTS,
                    ff_coefficients: dict = SPARSE_FF_COEFFICIENTS) -> Estimate:
    """flow's sparse kernel: per PE one entry per cycle; the level table makes each product a variable one."""
    bits = weight_bits or shape.weight_bits
    acc_bits = accumulator_bits(shape)
    per_vector = sparse_call_cycles(kernel)
    if shape.positions == 1:
        per_vector += shape.stream_packets  # nnet::sparse_dense's stream loops, one packet per cycle
    # the line buffer reads every input pixel (not pipelined around the call: one pixel step each);
    # the product runs at each output pixel
    cycles = shape.positions * per_vector + max(0, (shape.input_positions or shape.positions) - shape.positions)
    memory, finished_rows = sparse_memories(kernel, acc_bits)
    lut_terms, ff_terms = sparse_terms(shape, kernel, weight_bits)
    memory_luts = {name: lut_terms[name] for name in MEMORY_LUT_TERMS}
    return Estimate(latency=int(cycles), interval=int(cycles),
                    dsp=int(kernel.pes * dsp_per_product(bits, shape.input_bits)),
                    bram18=int(memory.bram18 + finished_rows.bram18),
                    lut=weighted(lut_terms, lut_coefficients), ff=weighted(ff_terms, ff_coefficients),
                    lutram=weighted(memory_luts, {name: lut_coefficients[name] for name in MEMORY_LUT_TERMS}))


def csd_digits(value: int) -> int:
    """Nonzero digits of value's canonical signed-digit form: the adds a product by it takes, plus one."""
    digits = 0
    while value:
        if value & 1:
            value -= 2 - (value & 3)  # ...01 takes digit +1, ...11 digit -1 (and carries)
            digits += 1
        value >>= 1
    return digits


def mean_csd_digits(weight_bits: int) -> float:
    """Mean nonzero CSD digits of the magnitudes a signed weight_bits-bit weight can take, taken as uniform."""
    magnitudes = range(1, 2 ** max(1, weight_bits - 1))
    return sum(csd_digits(m) for m in magnitudes) / len(magnitudes)


def adder_graph_counts(shape: LayerShape) -> tuple[float, float, float]:
    """(inputs read, outputs computed, signed digits) of a constant-weight adder graph, the mask taken as uniformly
    random: an input is read if any of its n_out weights is kept, an output computed if any of its n_in is."""
    density = shape.kept / shape.weights
    inputs_read = shape.n_in * (1 - (1 - density) ** shape.n_out)
    outputs_computed = shape.n_out * (1 - (1 - density) ** shape.n_in)
    return inputs_read, outputs_computed, shape.kept * mean_csd_digits(shape.weight_bits)


def _stages(outputs_computed: float, digits: float) -> int:
    depth = math.ceil(math.log2(max(2.0, digits / max(outputs_computed, 1.0))))
    return math.ceil(depth / UNROLLED_ADDER_LEVELS_PER_STAGE)


def unrolled_stages(shape: LayerShape) -> int:
    """Pipeline stages of the adder graph: a tree as deep as an output's signed digits need, one stage per
    UNROLLED_ADDER_LEVELS_PER_STAGE adder levels."""
    _, outputs_computed, digits = adder_graph_counts(shape)
    return _stages(outputs_computed, digits)


def unrolled_terms(shape: LayerShape) -> tuple[dict, dict]:
    """The structural LUT and FF terms of a constant-weight adder graph (da4ml; hls4ml's distributed_arithmetic
    at RF 1), pipelined with registered inputs and outputs (flow/rtl/adder_graph.py), counted by adder_graph_counts.

    LUT: one adder per signed digit of each kept weight beyond an output's first, as wide as the input plus the
    weight's growth; each computed output's cast. FF: the registered inputs read and outputs, and the stage
    registers of a tree as deep as an output's digits need, one stage per UNROLLED_ADDER_LEVELS_PER_STAGE levels."""
    inputs_read, outputs_computed, digits = adder_graph_counts(shape)
    adders = max(0.0, digits - outputs_computed)
    output_bits = shape.output_bits or accumulator_bits(shape)
    stages = _stages(outputs_computed, digits)
    lut = {"adder_input_bits": adders * shape.input_bits, "adder_growth_bits": adders * shape.weight_bits,
           "output_cast_bits": outputs_computed * output_bits, "layer": 1}
    ff = {"input_bits": inputs_read * shape.input_bits, "output_bits": outputs_computed * output_bits,
          "stage_bits": max(0, stages - 1) * outputs_computed * accumulator_bits(shape), "layer": 1}
    return lut, ff


# The estimator's coefficients per kernel and resource at two levels, never mixed in one fit (gate_level.py):
# HLS C synthesis (what Vitis HLS builds), and yosys synth_xilinx cells of flow's own RTL forms (flow/rtl),
# fitted by `python bench/rtl_calibration.py` (bench/results/rtl_calibration.json)
HLS_LEVEL = {"dense_constant": {"lut": LUT_COEFFICIENTS, "ff": FF_COEFFICIENTS},
             "sparse": {"lut": SPARSE_LUT_COEFFICIENTS, "ff": SPARSE_FF_COEFFICIENTS}}
GATE_LEVEL = {"dense_constant": {"lut": {"adder_input_bits": 0.6427, "adder_growth_bits": 0.171,
                                         "output_cast_bits": 0.3887, "layer": 0.91},
                                 "ff": {"input_bits": 0.4132, "output_bits": 0.6239, "stage_bits": 3.9781,
                                        "layer": 11.2711}},
              "sparse": {"lut": {"input_mux_luts": 2.8914, "position_luts": 4.1441, "level_luts": 1.4021,
                                 "accumulator_bits": 1.6439, "lut_product_luts": 0.0005, "entry_rom_luts": 0.1237,
                                 "row_sum_luts": 0.0404, "output_write_luts": 0.3214},
                         "ff": {"pe_register_bits": 1.4739, "array_bits": 0.9943}}}


def estimate_unrolled(shape: LayerShape, io_type: str = "io_parallel", constants: dict = CALIBRATED) -> Estimate:
    """hls4ml's distributed_arithmetic strategy: da4ml's adder graph of the constant weights at RF 1, in the
    Latency kernel's place (nnet_da_wrappers.h, nnet_conv2d_stream.h), so one output position per cycle.

    No DSP, no memory. LUT: the adder graph's terms (unrolled_terms) at GATE_LEVEL, the yosys fit of flow's
    Verilog of the same graph (flow/rtl/adder_graph.py), taken as an HLS-level figure, an untested assumption:
    no HLS report of the DA kernel exists here; on the measured layers the HLS-level price of the Latency
    kernel for the same layer is within about a quarter of yosys' count (median, docs/rtl.md), below it on
    the shipped ones; if yosys is near what Vivado places, these LUTs are low by up to the HLS-to-placed
    LUT ratio (docs/estimates.md). FF: the Latency kernel's at the HLS level, on the same kept weights:
    Vitis registers an unrolled constant-weight product by its own schedule either way, and yosys' FFs of
    flow's pipelined Verilog are no guide to it (131% median off the HLS-level price). Latency: flow's RTL
    pipeline (a stage per UNROLLED_ADDER_LEVELS_PER_STAGE levels, registered outputs); Vitis HLS schedules
    the inlined graph against its own clock target, which nothing here checks. A convolution's line buffer
    is hls4ml's own: its window registers are in the Latency FFs taken here, its shift registers and
    counters are added with the node (flow/cost/design.py)."""
    lut_terms, _ = unrolled_terms(shape)
    fill = unrolled_stages(shape) + 1
    if io_type == "io_stream":
        fill += constants["stream_overhead_cycles"] + shape.stream_packets
    latency, interval = dense_schedule(shape, 1, fill, io_type)
    _, latency_ff_terms = dense_terms(shape, DenseKernel(1, "latency", io_type), constants)
    return Estimate(latency=latency, interval=interval, dsp=0, bram18=0,
                    lut=weighted(lut_terms, GATE_LEVEL["dense_constant"]["lut"]),
                    ff=weighted(latency_ff_terms, constants["ff_coefficients"]))
