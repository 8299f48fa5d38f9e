"""yosys `synth_xilinx`: a module's cells for a board's FPGA family, before placement and routing."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import FlowError

# synth_xilinx -family per board family (boards/*.yaml `family`)
FAMILIES = {"zynq-7000": "xc7", "zynq-ultrascale+": "xcup"}
SCRIPT = ("read_verilog {sources}; synth_xilinx -family {family} -flatten -noiopad{options} -top {top}; "
          "tee -o {stat} stat")
# where flow's cost model builds a product in LUTs: yosys 0.23 ignores a use_dsp="no" attribute, this it obeys
NO_DSP = " -nodsp"
# what each cell counts as: LUTs (LUTRAM and SRL cells with the LUTs they take, as Vivado's "Slice LUTs"),
# flip-flops, carry chains, DSP slices, 18-kbit block RAMs
LOGIC_LUTS = {f"LUT{n}": 1 for n in range(1, 7)}
LUTRAM_LUTS = {"SRL16E": 1, "SRLC32E": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM32X1D": 2, "RAM64X1D": 2,
               "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8,
               "RAM64M8": 8}
FLIP_FLOPS = ("FDRE", "FDSE", "FDCE", "FDPE")
CARRY = ("CARRY4", "CARRY8")
DSP = ("DSP48E1", "DSP48E2")
BRAM18 = {"RAMB18E1": 1, "RAMB18E2": 1, "RAMB36E1": 2, "RAMB36E2": 2}


def version() -> str:
    return subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()


def cell_counts(stat: str) -> dict[str, int]:
    """Cell type -> count from `stat` output (the last design listed: the flattened top)."""
    counts: dict[str, int] = {}
    for name, number in re.findall(r"^\s+(\$?[A-Za-z_][\w$]*)\s+(\d+)\s*$", stat, flags=re.M):
        counts[name] = int(number)
    return counts


def resources(counts: dict[str, int]) -> dict[str, int]:
    lutram = sum(counts.get(cell, 0) * luts for cell, luts in LUTRAM_LUTS.items())
    return {"lut": sum(counts.get(cell, 0) for cell in LOGIC_LUTS) + lutram,
            "ff": sum(counts.get(cell, 0) for cell in FLIP_FLOPS),
            "carry": sum(counts.get(cell, 0) for cell in CARRY),
            "dsp": sum(counts.get(cell, 0) for cell in DSP),
            "bram18": sum(counts.get(cell, 0) * halves for cell, halves in BRAM18.items()),
            "lutram": lutram}


def command(sources: tuple[Path, ...], top: str, family: str, stat: Path, options: str = "") -> list[str]:
    return ["yosys", "-q", "-p", SCRIPT.format(sources=" ".join(str(Path(s).resolve()) for s in sources),
                                               family=family, options=options, top=top, stat=Path(stat).resolve())]


def synthesize(sources: tuple[Path, ...], top: str, family: str, work: Path, options: str = "") -> dict:
    """synth_xilinx `top` (with `options` such as NO_DSP) in `work`; its resources and raw cell counts.
    Logs: work/yosys.log, work/yosys_stat.txt."""
    work = Path(work)
    stat = work / "yosys_stat.txt"
    stat.unlink(missing_ok=True)
    with open(work / "yosys.log", "w") as log:
        # in work: the sources' $readmemh files are named relative to it
        finished = subprocess.run(command(sources, top, family, stat, options), stdout=log, stderr=subprocess.STDOUT,
                                  cwd=work)
    # a yosys that exits 0 without printing statistics (the yowasp build did) must not read as an empty design
    if finished.returncode != 0 or not stat.is_file() or "Number of cells" not in stat.read_text():
        raise FlowError(f"yosys did not synthesize {top} (exit {finished.returncode}); see {work / 'yosys.log'}")
    counts = cell_counts(stat.read_text())
    return {**resources(counts), "cells": counts}
