"""A weight layer's fully unrolled constant-weight form: da4ml's adder graph, written as Verilog.

This is what hls4ml's `distributed_arithmetic` strategy (da4ml 0.5.x) builds at reuse factor 1:
every product by a constant weight becomes shifts and adds, shared across outputs, and a pruned
weight costs nothing. The module is combinational, one input vector per cycle. Its ports are
da4ml's uniform wrapper (`<module>_wrapper`): every input `in_port.width` bits wide holding
value x 2^in_port.fraction, every output likewise.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import FlowError
from .layers import LayerVectors

# da4ml's cast modes for hls4ml's (ap_fixed's AP_TRN / AP_RND, AP_WRAP / AP_SAT)
ROUNDING = {"TRN": "TRN", "RND": "RND"}
OVERFLOW = {"WRAP": "WRAP", "SAT": "SAT"}
# hard depth constraint: at most this many adder levels beyond the shallowest tree (da4ml's hard_dc)
ADDER_DEPTH_SLACK = 2


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

    sources: tuple[Path, ...]  # the layer's core module, its wrapper and the da4ml library modules they use
    top: str  # the uniform-port wrapper: what the testbench drives
    core: str  # the layer itself: what yosys synthesizes
    inputs: PortFormat
    outputs: PortFormat
    da4ml_luts: float  # da4ml's own LUT estimate of the adder graph


def _port(kifs) -> PortFormat:
    signed, integer, fraction = (int(np.max(part)) for part in kifs)
    return PortFormat(count=len(kifs[0]), width=max(1, signed + integer + fraction), fraction=fraction,
                      signed=bool(signed))


def write_constant_layer(layer: LayerVectors, folder: Path, module: str = "layer") -> ConstantLayerRTL:
    """Trace layer's product plus bias, cast to its result type, and write the Verilog into `folder`."""
    from da4ml.codegen import RTLModel
    from da4ml.codegen.rtl.rtl_model import get_io_kifs  # the port formats RTLModel's own wrapper uses
    from da4ml.trace import FixedVariableArray, HWConfig, comb_trace

    result = layer.result_type
    if result.rounding not in ROUNDING or result.overflow not in OVERFLOW:
        raise FlowError(f"layer {layer.name}: result type casts with {result.rounding}/{result.overflow}; "
                        f"the RTL form builds {'/'.join(ROUNDING)} and {'/'.join(OVERFLOW)} only")
    n_in, n_out = layer.shape
    signed, integer, fraction = layer.input_type.kif
    inputs = FixedVariableArray.from_kif(np.full(n_in, signed), np.full(n_in, integer), np.full(n_in, fraction),
                                         HWConfig(1, -1, -1), solver_options={"hard_dc": ADDER_DEPTH_SLACK})
    # the solver's time grows with the matrix, not its nonzeros: solve only the rows and columns that hold a
    # weight (a pruned column's output is its bias alone)
    rows = np.flatnonzero(np.any(layer.weights != 0, axis=1))
    columns = np.flatnonzero(np.any(layer.weights != 0, axis=0))
    sums = np.zeros(n_out, dtype=object)
    if len(columns):
        products = inputs[rows] @ layer.weights[np.ix_(rows, columns)]
        for position, column in enumerate(columns):
            sums[column] = products[position]
    else:
        sums[0] = inputs[0] * 0.0  # an all-pruned layer still needs one traced value to carry the hardware config
    outputs = (FixedVariableArray(sums, inputs.solver_options) + layer.bias).quantize(
        *result.kif, overflow_mode=OVERFLOW[result.overflow], round_mode=ROUNDING[result.rounding])
    logic = comb_trace(inputs, outputs)
    folder = Path(folder)
    RTLModel(logic, module, folder, flavor="verilog", print_latency=False).write()
    core = folder / "src" / f"{module}.v"
    text = core.read_text()
    library = [path for path in sorted((folder / "src" / "static").glob("*.v"))
               if re.search(rf"\b{re.escape(path.stem)}\b", text)]  # lookup_table.v wants memory files it never has
    in_kifs, out_kifs = get_io_kifs(logic)
    return ConstantLayerRTL(sources=(core, folder / "src" / f"{module}_wrapper.v", *library),
                            top=f"{module}_wrapper", core=module, inputs=_port(in_kifs), outputs=_port(out_kifs),
                            da4ml_luts=float(logic.cost))
