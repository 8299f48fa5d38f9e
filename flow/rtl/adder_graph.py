"""A weight layer's fully unrolled constant-weight form: da4ml's adder graph, written as Verilog.

This is what hls4ml's `distributed_arithmetic` strategy (da4ml 0.5.x) builds at reuse factor 1:
every product by a constant weight becomes shifts and adds, shared across outputs, and a pruned
weight costs nothing. da4ml pipelines it as hls4ml's io_parallel Latency kernel is: registered
inputs, a register stage every ADDER_LEVELS_PER_STAGE adder levels, registered outputs; one input
vector per cycle. Its ports are da4ml's uniform wrapper (`<module>_wrapper`, with clk): every input
`in_port.width` bits wide holding value x 2^in_port.fraction, every output likewise.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cost.kernels import UNROLLED_ADDER_LEVELS_PER_STAGE
from .layers import FormNotBuilt, LayerVectors

# the cast modes da4ml 0.5 has, named as hls4ml names ap_fixed's (AP_TRN / AP_RND, AP_WRAP / AP_SAT)
ROUNDING = ("TRN", "RND")
OVERFLOW = ("WRAP", "SAT")
# hard depth constraint: at most this many adder levels beyond the shallowest tree (da4ml's hard_dc)
ADDER_DEPTH_SLACK = 2
# adder levels between pipeline registers: da4ml counts one level per adder (HWConfig(1, -1, -1)); four carry-chain
# adders of under 24 bits is about what one 10 ns cycle of a -1 speed grade xc7 holds. yosys checks no timing, so
# whether a stage meets the clock is not checked here. The cost model prices the same depth.
ADDER_LEVELS_PER_STAGE = UNROLLED_ADDER_LEVELS_PER_STAGE


@dataclass(frozen=True)
class PortFormat:
    """count values of `width` bits each, value x 2^fraction, two's complement where signed."""

    count: int
    width: int
    fraction: int
    signed: bool

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConstantLayerRTL:
    """What `write_constant_layer` wrote: the sources, the top modules and their port formats."""

    sources: tuple[Path, ...]  # the layer's core module, its stages, its wrapper and the da4ml library modules
    top: str  # the uniform-port wrapper: what the testbench drives
    core: str  # the layer itself: what yosys synthesizes
    inputs: PortFormat
    outputs: PortFormat
    da4ml_luts: float  # da4ml's own LUT estimate of the adder graph
    da4ml_ffs: int  # da4ml's own count of the pipeline's register bits
    latency: int  # clock edges from an input vector to its outputs: one per stage plus the output register


def _port(kifs) -> PortFormat:
    signed, integer, fraction = (int(np.max(part)) for part in kifs)
    return PortFormat(count=len(kifs[0]), width=max(1, signed + integer + fraction), fraction=fraction,
                      signed=bool(signed))


def round_half_even_bias(total, fraction: int, kept: int):
    """total plus what makes truncation to `kept` fraction bits round half to even (ap_fixed's AP_RND_CONV), which
    da4ml 0.5 lacks: with d bits dropped, floor(x + 2^(d-1) - 1 + b) where b is the kept part's lowest bit, all in
    units of total's own LSB (2^-fraction). The bit itself is total wrapped to one kept LSB."""
    lsb = 2.0 ** -fraction
    lowest_kept_bit = total.quantize(0, 1 - kept, kept, overflow_mode="WRAP", round_mode="TRN")  # 0 or 2^-kept
    return total + (2 ** (fraction - kept - 1) - 1) * lsb + lowest_kept_bit * (lsb / 2.0 ** -kept)


def write_constant_layer(layer: LayerVectors, folder: Path, module: str = "layer") -> ConstantLayerRTL:
    """Trace layer's product plus bias, cast to its result type, and write the Verilog into `folder`."""
    from da4ml.codegen import RTLModel
    from da4ml.codegen.rtl.rtl_model import get_io_kifs  # the port formats RTLModel's own wrapper uses
    from da4ml.trace import FixedVariableArray, HWConfig, comb_trace
    from da4ml.trace.pipeline import to_pipeline

    result = layer.result_type
    if result.overflow not in OVERFLOW:
        raise FormNotBuilt(f"da4ml 0.5 casts with {' or '.join(OVERFLOW)} overflow, not {result.overflow}")
    n_in, n_out = layer.shape
    signed, integer, fraction = layer.input_type.kif
    inputs = FixedVariableArray.from_kif(np.full(n_in, signed), np.full(n_in, integer), np.full(n_in, fraction),
                                         HWConfig(1, -1, -1), solver_options={"hard_dc": ADDER_DEPTH_SLACK})
    # the solver's time grows with the matrix, not its nonzeros: solve only the rows and columns that hold a
    # weight; a pruned column's output is its bias alone, a constant cast here (da4ml 0.5 leaves a negative
    # constant unwrapped)
    rows = np.flatnonzero(np.any(layer.weights != 0, axis=1))
    columns = np.flatnonzero(np.any(layer.weights != 0, axis=0))
    if not len(columns):
        raise FormNotBuilt("every weight of the layer is pruned: its outputs are constants, with no logic to check")
    total = inputs[rows] @ layer.weights[np.ix_(rows, columns)] + layer.bias[columns]
    fraction = int(np.max(total.kif[2]))
    dropped = fraction - result.fraction  # fraction bits the cast drops; none: no rounding at all
    if result.rounding == "RND_CONV" and dropped > 0:
        total = round_half_even_bias(total, fraction, result.fraction)
    elif result.rounding not in ROUNDING and dropped > 0:
        raise FormNotBuilt(f"the result type rounds with {result.rounding} and drops {dropped} fraction bits; "
                           f"this form rounds with {', '.join([*ROUNDING, 'RND_CONV'])} only")
    # RND_CONV was folded into the sum above; a cast that drops no bits rounds nothing, whatever its mode
    cast = total.quantize(*result.kif, overflow_mode=result.overflow,
                          round_mode=result.rounding if result.rounding in ROUNDING else "TRN")
    values = np.array([float(value) for value in result.cast(layer.bias)], dtype=object)
    for position, column in enumerate(columns):
        values[column] = cast[position]
    outputs = FixedVariableArray(values, inputs.solver_options)
    logic = comb_trace(inputs, outputs)
    pipeline = to_pipeline(logic, ADDER_LEVELS_PER_STAGE, verbose=False)
    folder = Path(folder)
    RTLModel(pipeline, module, folder, flavor="verilog", print_latency=False).write()
    core = folder / "src" / f"{module}.v"
    stages = [folder / "src" / f"{module}_stage{index}.v" for index in range(len(pipeline.solutions))]
    text = "".join(path.read_text() for path in (core, *stages))
    library = [path for path in sorted((folder / "src" / "static").glob("*.v"))
               if re.search(rf"\b{re.escape(path.stem)}\b", text)]  # lookup_table.v wants memory files it never has
    in_kifs, out_kifs = get_io_kifs(logic)
    return ConstantLayerRTL(sources=(core, *stages, folder / "src" / f"{module}_wrapper.v", *library),
                            top=f"{module}_wrapper", core=module, inputs=_port(in_kifs), outputs=_port(out_kifs),
                            da4ml_luts=float(logic.cost), da4ml_ffs=int(pipeline.reg_bits),
                            latency=len(pipeline.solutions) + 1)
