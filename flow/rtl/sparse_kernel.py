"""flow's sparse kernel (hls/nnet_sparse.h) as Verilog, written per layer from the encoder's output.

The same entry words, level table, PE dealing and schedule as the C++ kernel:
- on `start`, every PE's column is -1, its row 0, its running sum 0;
- Entries: one word per PE per cycle from the PE's ROM (a registered read, so the walk takes
  n_entries + 1 cycles): a filler advances 2^k - 1 positions, another word gap + 1 and adds
  input[column] x levels[code]; crossing the row end subtracts n_in, stores the finished sum in
  acc[pe][row] and starts the next row;
- Rows: one local row per PE per cycle: the sum (acc for rows before the walk's last, the running
  sum for that one, zero after) plus the output's bias, cast to the result type into res[out];
- `done` rises for one cycle after the last row; res holds the outputs until the next start.

Arithmetic follows hls4ml's types: the full product is cast to accum_t (floor, wrap), sums wrap in
accum_t, and the bias plus sum is cast to the result type with its rounding and overflow. The
entry ROMs carry yosys' rom_style attribute for the storage memory.json chose (verilog.ROM_STYLE); a product
the cost model builds in LUTs carries use_dsp = "no", which Vivado obeys (yosys needs -nodsp).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..sparse.encoding import SparseEncoding, filler_gap
from .adder_graph import PortFormat
from .layers import FixedType, FormNotBuilt, grid_integers
from .verilog import (LUT_PRODUCT, accum_biases, counter_bits, literal, module_header, result_function, rom,
                      shift, signed_operand)


@dataclass(frozen=True)
class _PEFormat:
    """What every PE's Verilog is written at: its word fields, operand and register widths, the product's home."""

    entry_bits: int
    index_bits: int
    input_width: int
    input_signed: bool
    accum_width: int
    column_width: int
    row_width: int
    output_index_width: int
    product_width: int
    product_right: int  # the product's shift onto accum_t's grid
    product_in_luts: bool


@dataclass(frozen=True)
class SparseLayerRTL:
    sources: tuple[Path, ...]
    top: str
    inputs: PortFormat
    outputs: PortFormat
    entries: int  # words per PE, fillers included
    rows: int  # local rows per PE


def write_sparse_layer(encoding: SparseEncoding, bias: np.ndarray, input_type: FixedType, weight_type: FixedType,
                       accum_type: FixedType, result_type: FixedType, storage: str, folder: Path,
                       product_in_luts: bool = False, module: str = "sparse_layer") -> SparseLayerRTL:
    """Write the kernel for one encoded layer into folder/<module>.v; product_in_luts marks the product
    use_dsp = "no"."""
    if not accum_type.signed or not weight_type.signed:
        raise FormNotBuilt("the sparse RTL form needs signed weight and accumulator types")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_in, n_out, pes = encoding.n_in, encoding.n_out, encoding.pes
    n_entries, n_rows = encoding.entries_per_pe, encoding.rows.shape[1]
    index_bits, code_bits = encoding.index_bits, max(1, encoding.code_bits)
    entry_bits = index_bits + code_bits
    in_w, w_w, acc_w, res_w = input_type.width, weight_type.width, accum_type.width, result_type.width
    levels = [int(level) for level in grid_integers(encoding.levels, weight_type.fraction, "the level table")]
    biases = accum_biases(bias, accum_type)
    column_w = counter_bits(2 * n_in) + 1
    row_w = counter_bits(n_rows)
    out_w = counter_bits(n_out)
    product_w = in_w + 1 + w_w
    product_right = input_type.fraction + weight_type.fraction - accum_type.fraction
    lines = [
        *module_header("written by flow (flow/rtl/sparse_kernel.py) from the layer's sparse encoding: see "
                       "hls/nnet_sparse.h", module, n_in, in_w, n_out, res_w),
        f"    localparam N_IN = {n_in}, N_ENTRIES = {n_entries}, N_ROWS = {n_rows}, FILLER = {filler_gap(index_bits)};",
        "    localparam IDLE = 2'd0, ENTRIES = 2'd1, ROWS = 2'd2;",
        "    reg [1:0] state = IDLE;",
        f"    reg [{counter_bits(max(n_entries, n_rows) + 1) - 1}:0] step = 0;",
        f"    reg [{res_w - 1}:0] res_q [0:{n_out - 1}];",
        "    genvar out_index;",
        f"    generate for (out_index = 0; out_index < {n_out}; out_index = out_index + 1) begin : outputs",
        f"        assign res[out_index * {res_w} +: {res_w}] = res_q[out_index];",
        "    end endgenerate",
        "    initial done = 1'b0;",
        "    integer init_index;",
        f"    initial for (init_index = 0; init_index < {n_out}; init_index = init_index + 1) res_q[init_index] = 0;",
        "",
        f"    function signed [{w_w - 1}:0] level;",
        f"        input [{code_bits - 1}:0] code;",
        "        case (code)",
        *(f"            {code}: level = {literal(value, w_w)};" for code, value in enumerate(levels)),
        "            default: level = 0;",
        "        endcase",
        "    endfunction",
        f"    reg signed [{acc_w - 1}:0] bias [0:{n_out}];  // index n_out: a padding row's, never written",
        "    initial begin",
        *(f"        bias[{index}] = {literal(value, acc_w)};" for index, value in enumerate([*biases, 0])),
        "    end",
        *result_function(accum_type, result_type),
        "",
        "    always @(posedge clk) begin",
        "        done <= 1'b0;",
        "        case (state)",
        "            IDLE: if (start) begin state <= ENTRIES; step <= 0; end",
        "            ENTRIES: begin step <= step + 1; if (step == N_ENTRIES) begin state <= ROWS; step <= 0; end end",
        "            ROWS: begin step <= step + 1; if (step == N_ROWS - 1) begin state <= IDLE; done <= 1'b1; end end",
        "            default: state <= IDLE;",
        "        endcase",
        "    end",
    ]
    pe_format = _PEFormat(entry_bits, index_bits, in_w, input_type.signed, acc_w, column_w, row_w, out_w,
                          product_w, product_right, product_in_luts)
    for pe in range(pes):
        lines += _pe_lines(pe, encoding, storage, pe_format, folder)
    # one process writes res: several PEs write different outputs in the same Rows cycle
    lines += ["", "    always @(posedge clk) if (state == ROWS) begin",
              *(f"        if (pe{pe}_out < {n_out}) res_q[pe{pe}_out] <= to_result(bias[pe{pe}_out] + pe{pe}_sum);"
                for pe in range(pes)),
              "    end", "endmodule"]
    source = folder / f"{module}.v"
    source.write_text("\n".join(lines) + "\n")
    return SparseLayerRTL(sources=(source,), top=module,
                          inputs=PortFormat(n_in, in_w, input_type.fraction, input_type.signed),
                          outputs=PortFormat(n_out, res_w, result_type.fraction, result_type.signed),
                          entries=n_entries, rows=n_rows)


def _pe_lines(pe: int, encoding: SparseEncoding, storage: str, f: _PEFormat, folder: Path) -> list[str]:
    n_rows, n_out = encoding.rows.shape[1], encoding.n_out
    entry_bits, index_bits, in_w, acc_w = f.entry_bits, f.index_bits, f.input_width, f.accum_width
    column_w, row_w, out_w = f.column_width, f.row_width, f.output_index_width
    words = [int(w) for w in encoding.entries[pe]]
    table = [int(r) for r in encoding.rows[pe]]
    p = f"pe{pe}_"
    selected = signed_operand("data", f"{p}column_next * {in_w}", in_w, f.input_signed)
    lines = [
        "",
        f"    // PE {pe}: its entry ROM, walk registers and finished rows",
        *rom(f"{p}rom", entry_bits, words, storage, folder),
        f"    reg [{entry_bits - 1}:0] {p}word;",
        f"    always @(posedge clk) {p}word <= {p}rom[step < N_ENTRIES ? step : 0];",
        f"    reg signed [{column_w - 1}:0] {p}column;",
        f"    reg [{row_w - 1}:0] {p}row;",
        f"    reg signed [{acc_w - 1}:0] {p}running;",
        f"    reg signed [{acc_w - 1}:0] {p}acc [0:{n_rows - 1}];",
        "    // this entry: the advance (a filler's 2^k - 1, else gap + 1), the row step, the input it selects",
        f"    wire [{index_bits - 1}:0] {p}gap = {p}word[{index_bits - 1}:0];",
        f"    wire {p}filler = {p}gap == FILLER;",
        f"    wire signed [{column_w - 1}:0] {p}advanced = "
        f"{p}column + ({p}filler ? $signed(FILLER) : $signed({{1'b0, {p}gap}}) + 1);",
        f"    wire {p}wraps = {p}advanced >= N_IN;",
        f"    wire signed [{column_w - 1}:0] {p}column_next = {p}wraps ? {p}advanced - N_IN : {p}advanced;",
        f"    {LUT_PRODUCT if f.product_in_luts else ''}wire signed [{f.product_width - 1}:0] {p}product = "
        f"{selected} * level({p}word[{entry_bits - 1}:{index_bits}]);",
        f"    wire signed [{acc_w - 1}:0] {p}base = {p}wraps ? 0 : {p}running;",
        "    always @(posedge clk) begin",
        "        if (state == IDLE && start) begin",
        f"            {p}column <= -1; {p}row <= 0; {p}running <= 0;",
        "        end else if (state == ENTRIES && step != 0) begin",
        f"            if ({p}wraps && {p}row < N_ROWS) begin {p}acc[{p}row] <= {p}running; {p}row <= {p}row + 1; end",
        f"            {p}column <= {p}column_next;",
        f"            {p}running <= {p}filler ? {p}base : {p}base + {shift(f'{p}product', f.product_right)};",
        "        end",
        "    end",
        f"    wire signed [{acc_w - 1}:0] {p}sum = step < {p}row ? {p}acc[step] : (step == {p}row ? {p}running : 0);",
        f"    reg [{out_w - 1}:0] {p}table [0:{n_rows - 1}];  // the PE's row table: local row -> output",
        "    initial begin",
        *(f"        {p}table[{index}] = {out};" for index, out in enumerate(table)),
        "    end",
        f"    wire [{out_w - 1}:0] {p}out = step < N_ROWS ? {p}table[step] : {n_out};",
    ]
    return lines
