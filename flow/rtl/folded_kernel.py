"""A dense folded kernel as Verilog: every weight stored and multiplied, PE output rows and SIMD inputs at a time.

The dense reference that flow's sparse kernel is weighed against at equal area (ADMM-NN section 5):
FINN's matrix-vector unit (MVAU) at (PE, SIMD), which is hls4ml's Resource strategy at reuse factor
n_in * n_out / (PE * SIMD). In nnet_dense_resource.h a reuse factor RF <= n_in that divides n_in is
PE = n_out, SIMD = n_in / RF; an RF that is a multiple of n_in is SIMD = 1; other foldings are
FINN's only (hls4ml refuses their reuse factor). Zero weights are stored and multiplied like any
other: a dense kernel does not skip them, though yosys trims a ROM bit that is zero at every step
and the product logic behind it.

One vector, R = n_out / PE rows per PE and F = n_in / SIMD folds per row:
- on `start` the step t runs 0 .. R * F - 1. Step t reads ROM word t (SIMD weights per PE, all PEs
  in one word, as hls4ml reshapes its weight array into block_factor columns) and fold t % F's
  SIMD inputs, both into registers. Every PE reads the same inputs: one F:1 multiplexer serves
  them all, where each of the sparse kernel's PEs has its own n_in:1 multiplexer;
- the next cycle each PE adds its SIMD products (each cast to accum_t: floor, wrap) to its running
  sum and, on a row's last fold, writes bias + sum cast to the result type into res[row * PE + pe]
  (FINN's order: PE p computes outputs p, p + PE, ...);
- `done` rises with the last row's write: R * F + 2 cycles from `start`; res holds the outputs
  until the next start.
The products are in LUTs where flow's cost model puts them there (kernels.dsp_per_product), marked
use_dsp = "no"; the ROM is BRAM or LUT logic by flow's memory rule (sparse/memory.py), as the
estimator prices hls4ml's Resource strategy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..sparse.memory import array_footprint
from .adder_graph import PortFormat
from .layers import FixedType, FormNotBuilt, grid_integers
from .verilog import (LUT_PRODUCT, accum_biases, counter_bits, literal, module_header, result_function, rom,
                      shift, signed_operand)


@dataclass(frozen=True)
class Folding:
    """PE output rows in parallel, SIMD inputs per cycle; PE divides n_out and SIMD divides n_in.

    Example::

        Folding.largest(n_in=25, n_out=20, multipliers=55)   # Folding(pe=20, simd=1): hls4ml's RF 25
    """

    pe: int
    simd: int

    @property
    def multipliers(self) -> int:
        return self.pe * self.simd

    def cycles(self, n_in: int, n_out: int) -> int:
        """Steps per vector: the rows each PE walks times the folds per row (hls4ml's reuse factor)."""
        return (n_out // self.pe) * (n_in // self.simd)

    @classmethod
    def at_reuse_factor(cls, n_in: int, n_out: int, reuse_factor: int) -> "Folding":
        """hls4ml Resource's walk at a reuse factor it accepts: below n_in every output at once on
        n_in / RF inputs, from n_in on one input a cycle for n_in * n_out / RF outputs."""
        if (n_in * n_out) % reuse_factor or (n_in % reuse_factor if reuse_factor < n_in else reuse_factor % n_in):
            raise ValueError(f"hls4ml refuses reuse factor {reuse_factor} for a {n_in} x {n_out} layer")
        if reuse_factor < n_in:
            return cls(pe=n_out, simd=n_in // reuse_factor)
        return cls(pe=n_in * n_out // reuse_factor, simd=1)

    @classmethod
    def largest(cls, n_in: int, n_out: int, multipliers: int) -> "Folding":
        """The folding with the most products per cycle, at most `multipliers`, among the reuse factors
        hls4ml's Resource strategy accepts for the layer (the largest RF, one product a cycle, always fits)."""
        from ..cost.candidates import legal_reuse_factors

        foldings = [cls.at_reuse_factor(n_in, n_out, rf) for rf in legal_reuse_factors(n_in, n_out)]
        return max((f for f in foldings if f.multipliers <= max(1, multipliers)), key=lambda f: f.multipliers)


@dataclass(frozen=True)
class FoldedLayerRTL:
    sources: tuple[Path, ...]
    top: str
    inputs: PortFormat
    outputs: PortFormat
    steps: int  # ROM words: cycles of the walk
    storage: str  # bram | lutram


def rom_storage(steps: int, word_bits: int) -> str:
    """Where flow's memory rule puts the reshaped weight ROM (steps words of word_bits): bram or lutram."""
    return "bram" if array_footprint(steps, word_bits).bram18 else "lutram"


def write_folded_layer(weights: np.ndarray, bias: np.ndarray, folding: Folding, input_type: FixedType,
                       weight_type: FixedType, accum_type: FixedType, result_type: FixedType, folder: Path,
                       product_in_luts: bool = False, module: str = "folded_layer") -> FoldedLayerRTL:
    """Write the kernel for weights (n_in, n_out) at `folding` into folder/<module>.v."""
    n_in, n_out = weights.shape
    pe, simd = folding.pe, folding.simd
    if n_out % pe or n_in % simd:
        raise FormNotBuilt(f"folding PE={pe}, SIMD={simd} does not divide the {n_in} x {n_out} layer")
    if not accum_type.signed or not weight_type.signed:
        raise FormNotBuilt("the folded RTL form needs signed weight and accumulator types")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows, folds = n_out // pe, n_in // simd
    steps = rows * folds
    in_w, w_w, acc_w, res_w = input_type.width, weight_type.width, accum_type.width, result_type.width
    codes = grid_integers(weights, weight_type.fraction, "the weights") % (1 << w_w)  # two's complement fields
    # word t = (row r, fold f): PE p's SIMD weights W[f * SIMD + s, r * PE + p] at bits (p * SIMD + s) * w_w
    words = []
    for row in range(rows):
        for fold in range(folds):
            word = 0
            for p in range(pe):
                for s in range(simd):
                    word |= int(codes[fold * simd + s, row * pe + p]) << ((p * simd + s) * w_w)
            words.append(word)
    storage = rom_storage(steps, pe * simd * w_w)
    biases = accum_biases(bias, accum_type)
    product_w = in_w + 1 + w_w
    product_right = input_type.fraction + weight_type.fraction - accum_type.fraction
    step_w, fold_w, row_w = counter_bits(steps), counter_bits(folds), counter_bits(rows)
    lines = [
        *module_header("written by flow (flow/rtl/folded_kernel.py): a dense folded kernel, every weight stored and "
                       "multiplied", module, n_in, in_w, n_out, res_w),
        f"    localparam STEPS = {steps}, FOLDS = {folds};",
        "    reg walking = 1'b0;",
        f"    reg [{step_w - 1}:0] step = 0;",
        f"    reg [{fold_w - 1}:0] fold = 0;",
        f"    reg [{row_w - 1}:0] row = 0;",
        *rom("weights", pe * simd * w_w, words, storage, folder),
        "    // the registered read: this step's weights and inputs, and where it stands in its row",
        f"    reg [{pe * simd * w_w - 1}:0] word;",
        f"    reg [{simd * in_w - 1}:0] slice;",
        f"    reg [{row_w - 1}:0] row_q;",
        "    reg valid_q = 1'b0, first_q = 1'b0, last_q = 1'b0, final_q = 1'b0;",
        "    initial done = 1'b0;",
        "    always @(posedge clk) begin",
        "        valid_q <= 1'b0;",
        "        done <= valid_q && final_q;",
        "        if (!walking) begin",
        "            if (start) begin walking <= 1'b1; step <= 0; fold <= 0; row <= 0; end",
        "        end else begin",
        "            word <= weights[step];",
        f"            slice <= data[fold * {simd * in_w} +: {simd * in_w}];",
        "            valid_q <= 1'b1; first_q <= fold == 0; last_q <= fold == FOLDS - 1; final_q <= step == STEPS - 1;",
        "            row_q <= row;",
        "            step <= step + 1;",
        "            if (fold == FOLDS - 1) begin fold <= 0; row <= row + 1; end else fold <= fold + 1;",
        "            if (step == STEPS - 1) walking <= 1'b0;",
        "        end",
        "    end",
        *result_function(accum_type, result_type),
    ]
    for p in range(pe):
        lines += _pe_lines(p, folding, rows, biases[p::pe], input_type, w_w, acc_w, res_w, product_w, product_right,
                           product_in_luts)
    lines.append("endmodule")
    source = folder / f"{module}.v"
    source.write_text("\n".join(lines) + "\n")
    return FoldedLayerRTL(sources=(source,), top=module,
                          inputs=PortFormat(n_in, in_w, input_type.fraction, input_type.signed),
                          outputs=PortFormat(n_out, res_w, result_type.fraction, result_type.signed),
                          steps=steps, storage=storage)


def _pe_lines(p: int, folding: Folding, rows: int, biases: list[int], input_type: FixedType, w_w: int, acc_w: int,
              res_w: int, product_w: int, product_right: int, product_in_luts: bool) -> list[str]:
    """PE p: SIMD products into its running sum, its rows' biases, its outputs (p, p + PE, ...) as registers."""
    pe, simd, in_w = folding.pe, folding.simd, input_type.width
    name = f"pe{p}_"
    products = [f"{name}product{s}" for s in range(simd)]
    lines = ["", f"    // PE {p}: outputs {p}, {p} + {pe}, ...",
             *(f"    {LUT_PRODUCT if product_in_luts else ''}wire signed [{product_w - 1}:0] {product} = "
               f"{signed_operand('slice', str(s * in_w), in_w, input_type.signed)} * "
               f"$signed(word[{(p * simd + s) * w_w} +: {w_w}]);" for s, product in enumerate(products)),
             f"    reg signed [{acc_w - 1}:0] {name}running;",
             f"    wire signed [{acc_w - 1}:0] {name}sum = (first_q ? 0 : {name}running)"
             + "".join(f" + {shift(product, product_right)}" for product in products) + ";",
             f"    reg signed [{acc_w - 1}:0] {name}bias [0:{rows - 1}];",
             "    initial begin",
             *(f"        {name}bias[{row}] = {literal(value, acc_w)};" for row, value in enumerate(biases)),
             "    end",
             f"    reg [{res_w - 1}:0] {name}res [0:{rows - 1}];",
             "    integer init_" + name + "row;",
             f"    initial for (init_{name}row = 0; init_{name}row < {rows}; init_{name}row = init_{name}row + 1) "
             f"{name}res[init_{name}row] = 0;",
             "    always @(posedge clk) if (valid_q) begin",
             f"        {name}running <= {name}sum;",
             f"        if (last_q) {name}res[row_q] <= to_result({name}bias[row_q] + {name}sum);",
             "    end",
             *(f"    assign res[{(row * pe + p) * res_w} +: {res_w}] = {name}res[{row}];" for row in range(rows))]
    return lines
