"""Verilog text shared by flow's hand-written RTL forms (the sparse and the dense folded kernels).

Each helper returns source text: constants, shifts onto an accumulator's grid, a product with its
operand extended to a signed value, ROMs, and ap_fixed's cast (rounding, then overflow) as a
function the kernels call on bias + sum.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .layers import FixedType, FormNotBuilt

# a product the cost model builds in LUTs: Vivado obeys this attribute, yosys needs synth_xilinx -nodsp
LUT_PRODUCT = '(* use_dsp = "no" *) '
# yosys rom_style per flow's storage choice (flow/sparse/memory.py): a distributed ROM is LUT logic (yosys 0.23
# finds no LUTRAM mapping for a read-only memory, and Vivado counts a distributed ROM as logic LUTs too)
ROM_STYLE = {"bram": "block", "lutram": "logic"}


def counter_bits(count: int) -> int:
    """Bits of an unsigned counter holding 0..count."""
    return max(1, int(count).bit_length())


def literal(value: int, width: int) -> str:
    """A width-bit two's complement constant."""
    return f"{width}'sd{value}" if value >= 0 else f"-{width}'sd{-value}"


def shift(expression: str, right: int) -> str:
    """expression moved `right` bits toward its LSB (arithmetic: a floor), or left where right < 0."""
    return expression if right == 0 else (f"({expression} >>> {right})" if right > 0 else f"({expression} <<< {-right})")


def signed_operand(vector: str, base: str, width: int, signed: bool) -> str:
    """The width-bit field at `base` of `vector` as a signed (width + 1)-bit value: sign-extended where signed,
    zero-extended where not."""
    field = f"{vector}[{base} +: {width}]"
    top = f"{vector}[{base} + {width - 1}]" if signed else "1'b0"
    return f"$signed({{{top}, {field}}})"


def rom(name: str, width: int, words: list[int], storage: str, folder: Path) -> list[str]:
    """A ROM of `words` (unsigned width-bit values) with yosys' rom_style for `storage` (bram or lutram), its
    contents in folder/<name>.hex. $readmemh names the file relative to the folder, so yosys and the simulator run
    there; it is also far faster for yosys than one initial assignment per word (20,000 words: 7 s against 137 s)."""
    Path(folder, f"{name}.hex").write_text("".join(f"{word:x}\n" for word in words))
    return [f'    (* rom_style = "{ROM_STYLE[storage]}" *) reg [{width - 1}:0] {name} [0:{len(words) - 1}];',
            f'    initial $readmemh("{name}.hex", {name});']


def cast_lines(expression: str, source_fraction: int, source_width: int,
               target: FixedType) -> tuple[list[str], list[str]]:
    """Declarations and statements computing `cast_value`: expression (signed, source_fraction bits of fraction)
    cast to the target type as ap_fixed casts (its rounding, then its overflow)."""
    right = source_fraction - target.fraction
    wide = max(source_width + max(0, -right), target.width) + 2  # holds the shifted value and the type's bounds
    declarations, statements = [f"reg signed [{wide - 1}:0] cast_wide;"], []
    floor = shift(f"$signed({expression})", right)
    if right <= 0 or target.rounding == "TRN":  # nothing dropped, or dropped toward minus infinity
        statements.append(f"cast_wide = {floor};")
    elif target.rounding == "RND":  # AP_RND: half up
        statements.append(f"cast_wide = ($signed({expression}) + {literal(1 << (right - 1), wide)}) >>> {right};")
    elif target.rounding == "RND_CONV":  # AP_RND_CONV: to nearest, a tie to the even neighbour
        rest = f" || {expression}[{right - 2}:0] != 0" if right > 1 else ""
        statements.append(f"cast_wide = {floor} + (({expression}[{right - 1}] && "
                          f"({expression}[{right}]{rest})) ? 1 : 0);")
    else:
        raise FormNotBuilt(f"flow's RTL forms cast with TRN, RND or RND_CONV, not {target.rounding}")
    low, high = (-(1 << (target.width - 1)), (1 << (target.width - 1)) - 1) if target.signed else \
        (0, (1 << target.width) - 1)
    declarations.append(f"reg signed [{target.width}:0] cast_value;")
    if target.overflow == "SAT":
        statements.append(f"cast_value = cast_wide > {literal(high, wide)} ? {literal(high, target.width + 1)} : "
                          f"(cast_wide < {literal(low, wide)} ? {literal(low, target.width + 1)} : cast_wide);")
    elif target.overflow == "WRAP":
        statements.append("cast_value = cast_wide;")
    else:
        raise FormNotBuilt(f"flow's RTL forms cast with WRAP or SAT overflow, not {target.overflow}")
    return declarations, statements


def result_function(accum_type: FixedType, result_type: FixedType) -> list[str]:
    """`to_result(total)`: an accum_t value cast to the result type."""
    declarations, statements = cast_lines("total", accum_type.fraction, accum_type.width, result_type)
    return [f"    function [{result_type.width - 1}:0] to_result;",
            f"        input signed [{accum_type.width - 1}:0] total;",
            *("        " + line for line in declarations),
            "        begin",
            *("            " + line for line in statements),
            f"            to_result = cast_value[{result_type.width - 1}:0];",
            "        end",
            "    endfunction"]


def module_header(comment: str, module: str, n_in: int, input_width: int, n_out: int, result_width: int) -> list[str]:
    """A kernel's first lines: what wrote it, and the ports every form shares (a start/done handshake around the
    flat input vector `data` and result vector `res`)."""
    return [f"// {comment}", f"module {module} (", "    input clk,", "    input start,",
            f"    input [{n_in * input_width - 1}:0] data,", "    output reg done,",
            f"    output [{n_out * result_width - 1}:0] res", ");"]


def accum_biases(bias, accum_type) -> list[int]:
    """static_cast<accum_t>(bias): each bias floored onto accum_t's grid, in units of its LSB."""
    return [int(v) for v in np.floor(np.asarray(bias, dtype=np.float64) * 2.0 ** accum_type.fraction)]
