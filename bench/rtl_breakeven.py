"""Benchmark: break-even pruning of the compressed LeNet-5's layers on the PYNQ-Z2 from yosys-measured costs.

    python bench/rtl_breakeven.py [--shared ../shared] [--board pynq-z2] [--work runs/rtl_breakeven]
                                  [--layers NAME,...] [--portions 0.5,0.9,...]
                                  [--layer-portions NAME=0.5,0.9,... ...]

ADMM-NN's break-even (section 5): under one hardware budget, the pruned portion beyond which the
sparse kernel runs faster than the dense one. flow's estimator draws that curve from its models
(flow/cost/breakeven.py); this bench draws it from flow's RTL forms, each checked bit for bit in
verilator (cycles counted) and counted by yosys synth_xilinx for the board's family:
- dense: the dense folded kernel (flow/rtl/folded_kernel.py, hls4ml's Resource strategy) at one
  folding per layer, the one with as many multipliers as a quarter of the board's DSP slots hold
  (reference_multipliers). Its share of the board (breakeven.utilization: the largest of its DSP,
  LUT and BRAM18 shares) is the budget. That is one dense kernel at its own area, not flow's
  break-even, which weighs every dense candidate per target rate (flow/cost/breakeven.py);
- sparse: flow's sparse kernel (flow/rtl/sparse_kernel.py) with the most PEs whose measured share
  stays within that budget, found by measuring PE counts (the share is taken to grow with them).
Per layer and pruned portion, a seeded layer (flow/rtl/seeded_layers.py) of the LeNet-5 layer's
shape and bits with a uniformly random mask and its exact accumulator; speedup = the dense form's
cycles per vector / the sparse form's. Beside it the estimator's curve against the same dense
kernel (hls4ml Resource at the folding's reuse factor, HLS level), per vector as the forms are.
yosys counts cells before placement and routing, of flow's reference Verilog, not of what Vitis
HLS makes of the hls4ml project.

Each measurement is kept in the work dir (a stopped run resumes). Writes
bench/results/rtl_breakeven.json and bench/results/rtl_breakeven.png.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS_DIR, git_commit, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flow.boards import load_board  # noqa: E402
from flow.cost.breakeven import best_index_bits, break_even_curve, measured_break_even, utilization  # noqa: E402
from flow.cost.kernels import DenseKernel, Estimate, LayerShape, dsp_per_product  # noqa: E402
from flow.paths import atomic_write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEED = 0
MODEL = "models/lenet5-admm-joint.pt"
PORTIONS = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
VECTORS = 8  # per form: the schedule is the same for every vector, and the big forms simulate slowly
PLOT = RESULTS_DIR / "rtl_breakeven.png"


def model_layers(work: Path, shared: Path) -> list[dict]:
    """The compressed LeNet-5's weight layers as its build sees them (estimates.json): one `flow compile`."""
    build = work / "build"
    estimates = build / "estimates.json"
    if not (build / "summary.json").is_file():
        command = [str(Path(sys.executable).parent / "flow"), "compile", "--model", MODEL, "--data-dir",
                   str(shared / "data" / "mnist"), "--n-samples", "20", "--out", str(build), "--no-progress"]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return [{"name": layer["name"], "n_in": layer["shape"]["n_in"], "n_out": layer["shape"]["n_out"],
             "weight_bits": layer["shape"]["weight_bits"], "input_bits": layer["shape"]["input_bits"],
             "code_bits": layer["sparse"]["kernel"]["code_bits"], "pruned_portion": layer["pruned_portion"]}
            for layer in json.loads(estimates.read_text())["layers"]]


def seeded_spec(layer: dict, portion: float, index: int):
    """The seeded layer of `layer`'s shape and bits at `portion` pruned: n-bit level codes on an (n + 1)-bit weight
    type, unsigned inputs (the model's pixels and quantized ReLUs), the accumulator exact, no narrowing."""
    from flow.rtl.seeded_layers import LayerSpec

    return LayerSpec(seed=SEED * 1000 + index, n_in=layer["n_in"], n_out=layer["n_out"], pruned=portion,
                     level_bits=layer["weight_bits"] - 1, input_bits=layer["input_bits"], signed_inputs=False,
                     pes=1, narrow_result=False)


@functools.lru_cache(maxsize=4)
def seeded(spec):
    """The layer `spec` describes, with its first VECTORS vectors."""
    from flow.rtl.seeded_layers import seeded_layer

    found = seeded_layer(spec)
    return dataclasses.replace(found, inputs=found.inputs[:VECTORS], outputs=found.outputs[:VECTORS])


def share(record: dict, board) -> float:
    cells = record["yosys"]
    return utilization(Estimate(latency=0, interval=0, dsp=cells["dsp"], bram18=cells["bram18"], lut=cells["lut"],
                                ff=cells["ff"]), board)


class Measurements:
    """Each form measured once per (layer, portion, PE count), its record kept in work/records/ and the Verilog
    it measured in work/forms/. A kept record counts only while today's generator writes the same files for its
    layer (a changed seed, grid, encoder or generator makes it stale) and, where the record has one, while its
    context is today's: the vectors run and the tools' versions. Stale records are measured again."""

    def __init__(self, work: Path, family: str, tools: dict):
        self.work, self.family, self.tools = work, family, tools

    def _context(self, layer) -> dict:
        return {"vectors": len(layer.inputs), "inputs_sha256": hashlib.sha256(layer.inputs.tobytes()).hexdigest(),
                **self.tools}

    def _kept(self, key: str, context: dict, write, measure) -> dict:
        path, forms = self.work / "records" / f"{key}.json", self.work / "forms" / key
        if path.is_file():
            kept = json.loads(path.read_text()).get("context", context)  # records before contexts: files only
            if kept != context or not self._same_files(forms, write):
                print(f"{key}: stale (other files, vectors or tools than the record measured); measuring again",
                      flush=True)
                path.unlink()
        if not path.is_file():
            started = time.perf_counter()
            if forms.exists():
                shutil.rmtree(forms)
            record = measure(forms)
            if record.get("verilator_bit_exact") is not True:
                raise SystemExit(f"error: {key} is not bit-exact in verilator; see {forms}")
            atomic_write_json(path, {**record, "context": context,
                                     "measure_s": round(time.perf_counter() - started, 1)})
            print(f"{key}: {record['yosys']['lut']} LUT, {record['yosys']['bram18']} BRAM18, "
                  f"{record['cycles_per_vector']} cycles ({time.perf_counter() - started:.0f} s)", flush=True)
        return json.loads(path.read_text())

    @staticmethod
    def _same_files(forms: Path, write) -> bool:
        """Whether `write` (folder -> None) writes exactly the Verilog and ROM files kept in `forms`."""
        with tempfile.TemporaryDirectory() as scratch:
            write(Path(scratch))
            fresh = [written for written in Path(scratch).iterdir() if written.is_file()]
            return bool(fresh) and all((forms / written.name).is_file()
                                       and (forms / written.name).read_bytes() == written.read_bytes()
                                       for written in fresh)

    def dense(self, layer: dict, portion: float, index: int, folding) -> dict:
        from flow.rtl.checks import check_folded_layer, write_folded_form

        found = seeded(seeded_spec(layer, portion, index))
        return self._kept(f"{layer['name']}/p{portion:.4f}/dense_folded", self._context(found),
                          lambda folder: write_folded_form(found, folding, folder),
                          lambda folder: check_folded_layer(found, folding, folder, self.family))

    def sparse(self, layer: dict, portion: float, index: int, pes: int) -> dict:
        from flow.rtl.checks import check_sparse_layer, write_sparse_form
        from flow.sparse.encoding import encode
        from flow.sparse.memory import entries_storage

        found = seeded(seeded_spec(layer, portion, index))
        nonzeros = int((found.weights != 0).sum())
        index_bits = best_index_bits(nonzeros, portion, layer["code_bits"], layer["n_in"])
        encoding = encode(found.weights, pes, index_bits)
        storage = entries_storage(pes, encoding.entries_per_pe, index_bits + encoding.code_bits)
        return self._kept(f"{layer['name']}/p{portion:.4f}/sparse_pe{pes}", self._context(found),
                          lambda folder: write_sparse_form(found, pes, index_bits, storage, folder),
                          lambda folder: check_sparse_layer(found, pes, index_bits, storage, folder, self.family))


def most_pes_within(budget: float, share_at, n_out: int) -> tuple[int, dict[int, float]]:
    """The most PEs whose measured share is within budget (0: not even one), and every share measured.

    The next count to measure lies on the line through the largest count that fits and the smallest that does
    not (while none is known not to fit: through the largest that fits and the count measured just before it,
    at most four times it, for a synthesis grows with the PEs; twice it while only one is measured), strictly
    between the two."""
    shares = {1: share_at(1)}
    if shares[1] > budget:
        return 0, shares
    low, high = 1, n_out + 1
    while high - low > 1:
        if high <= n_out:
            other, limit = high, high - 1
        else:
            other, limit = max((p for p in shares if p < low), default=None), 4 * low
        candidate = 2 * low
        if other is not None and shares[other] != shares[low]:
            slope = (shares[other] - shares[low]) / (other - low)
            if slope > 0:
                candidate = min(limit, math.floor(low + (budget - shares[low]) / slope))
        candidate = min(max(candidate, low + 1), high - 1)
        shares[candidate] = share_at(candidate)
        if shares[candidate] <= budget:
            low = candidate
        else:
            high = candidate
    return low, shares


DSP_SHARE = 0.25  # the dense folding's multipliers: as many as a quarter of the board's DSP slots hold


def reference_multipliers(shape: LayerShape, board) -> int:
    """The dense folding's parallel products: as many as DSP_SHARE of the board's DSPs hold (one slot each where
    a product is built in LUTs)."""
    per_product = max(1, dsp_per_product(shape.weight_bits, shape.input_bits))
    return max(1, min(shape.weights, int(board.resources["dsp"] * DSP_SHARE) // per_product))


def layer_curve(layer: dict, portions: tuple[float, ...], board, measurements: Measurements,
                only: tuple[float, ...] = ()) -> dict:
    from flow.rtl.folded_kernel import Folding

    shape = LayerShape(name=layer["name"], n_in=layer["n_in"], n_out=layer["n_out"],
                       weight_bits=layer["weight_bits"], input_bits=layer["input_bits"])
    multipliers = reference_multipliers(shape, board)
    folding = Folding.largest(layer["n_in"], layer["n_out"], multipliers)
    reuse_factor = folding.cycles(layer["n_in"], layer["n_out"])
    full_grid = tuple(sorted({*PORTIONS, round(layer["pruned_portion"], 4)}))
    grid = tuple(sorted({*portions, round(layer["pruned_portion"], 4)}))
    points = []
    for portion in grid:
        if only and portion not in only:
            continue
        index = full_grid.index(portion)  # the seed follows the portion's place in the default grid
        dense = measurements.dense(layer, portion, index, folding)
        budget = share(dense, board)
        pes, shares = most_pes_within(budget, lambda p: share(measurements.sparse(layer, portion, index, p), board),
                                      layer["n_out"])
        sparse = measurements.sparse(layer, portion, index, pes) if pes else None
        points.append({
            "portion": portion, "spec": seeded_spec(layer, portion, index).to_json(), "budget": round(budget, 5),
            "dense": {key: dense[key] for key in ("yosys", "cycles_per_vector", "steps", "vectors")},
            "sparse_pes": pes, "shares_measured": {str(p): round(s, 5) for p, s in sorted(shares.items())},
            "sparse": None if sparse is None else {key: sparse[key] for key in (
                "form", "yosys", "cycles_per_vector", "entries_per_pe", "rows_per_pe", "index_bits", "code_bits",
                "vectors")},
            "speedup": 0.0 if sparse is None else round(dense["cycles_per_vector"] / sparse["cycles_per_vector"], 4),
        })
    estimated = break_even_curve(shape, board, code_bits=layer["code_bits"], level_bits=layer["weight_bits"],
                                 dense_kernel=DenseKernel(reuse_factor=reuse_factor, strategy="resource"),
                                 portions=grid)
    speedups = tuple(point["speedup"] for point in points)
    return {**layer, "reference_multipliers": multipliers, "folding": dataclasses.asdict(folding),
            "dense_reuse_factor": reuse_factor, "points": points,
            "measured_break_even": measured_break_even(tuple(point["portion"] for point in points), speedups),
            "estimator": {"speedups": estimated.speedups, "pes": estimated.pes, "budget": estimated.budget,
                          "dense_latency": estimated.dense_latency,
                          "break_even": estimated.break_even_portion,
                          "break_even_on_grid": measured_break_even(grid, estimated.speedups)}}


def plot(curves: list[dict], board: str) -> None:
    from flow.plots import new_figure, save_figure

    figure = new_figure(figsize=(3.2 * len(curves), 3.6))
    axes = figure.subplots(1, len(curves), sharey=True, squeeze=False)
    for axis, curve in zip(axes[0], curves):
        portions = [100 * point["portion"] for point in curve["points"]]
        measured = [(p, point["speedup"]) for p, point in zip(portions, curve["points"]) if point["speedup"] > 0]
        estimated = [(p, s) for p, s in zip(portions, curve["estimator"]["speedups"]) if s > 0]
        if measured:
            axis.plot(*zip(*measured), marker="o", markersize=3, label="yosys + verilator")
        if estimated:
            axis.plot(*zip(*estimated), linestyle="--", marker="x", markersize=3, label="estimator (HLS level)")
        for found, style in ((curve["measured_break_even"], "-"), (curve["estimator"]["break_even"], "--")):
            if found is not None:
                axis.axvline(100 * found, color="grey", linestyle=style, linewidth=0.8)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_yscale("log")
        folding = curve["folding"]
        axis.set_title(f"{curve['name']}\n{curve['n_in']}x{curve['n_out']}, dense PE {folding['pe']} x SIMD "
                       f"{folding['simd']}", fontsize=8)
        axis.set_xlabel("pruned portion (%)", fontsize=8)
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("sparse speedup at the dense form's area")
    axes[0][0].legend(fontsize=7)
    figure.suptitle(f"Break-even on {board}: flow's RTL forms (yosys cells, verilator cycles) and the estimator",
                    fontsize=9)
    figure.tight_layout()
    save_figure(figure, PLOT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--board", default="pynq-z2")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "rtl_breakeven")
    parser.add_argument("--layers", default="", help="comma-separated layer names (default: every weight layer)")
    parser.add_argument("--portions", default=",".join(map(str, PORTIONS)))
    parser.add_argument("--layer-portions", action="append", default=[], metavar="NAME=P,P,...",
                        help="fewer portions for one layer, whose forms take minutes each to measure")
    parser.add_argument("--only", default="", help="measure just these portions of the grid and write no result "
                                                   "(to split a run over processes)")
    options = parser.parse_args()
    from flow.rtl import verilator, yosys

    started, commit = time.perf_counter(), git_commit()
    board = load_board(options.board)
    portions = tuple(float(p) for p in options.portions.split(","))
    per_layer = {name: tuple(float(p) for p in listed.split(","))
                 for name, _, listed in (entry.partition("=") for entry in options.layer_portions)}
    for chosen in (portions, *per_layer.values()):
        if not set(chosen) <= set(PORTIONS):
            raise SystemExit(f"error: portions are taken from {','.join(map(str, PORTIONS))} (each seeds its layer "
                             "by its place among them); pick from those")
    layers = model_layers(options.work, options.shared)
    unknown = sorted(set(per_layer) - {layer["name"] for layer in layers})
    if unknown:
        raise SystemExit(f"error: --layer-portions names {', '.join(unknown)}, not a weight layer of {MODEL}; "
                         f"use one of {', '.join(layer['name'] for layer in layers)}")
    if options.layers:
        layers = [layer for layer in layers if layer["name"] in options.layers.split(",")]
    measurements = Measurements(options.work, yosys.FAMILIES[board.family],
                                {"yosys": yosys.version(), "verilator": verilator.version()})
    if options.only:
        only = tuple(float(p) for p in options.only.split(","))
        for layer in layers:
            layer_curve(layer, per_layer.get(layer["name"], portions), board, measurements, only)
        return
    curves = [layer_curve(layer, per_layer.get(layer["name"], portions), board, measurements) for layer in layers]
    plot(curves, board.name)
    percent = lambda p: "never" if p is None else f"{100 * p:.0f}%"  # noqa: E731
    value = "; ".join(f"{c['name']}: {percent(c['measured_break_even'])} (estimator {percent(c['estimator']['break_even'])})"
                      for c in curves)
    metrics = {"board": board.name, "level": f"{yosys.version()} synth_xilinx -family {yosys.FAMILIES[board.family]} "
                                             "cells of flow's RTL forms, before placement and routing",
               "tools": {"yosys": yosys.version(), "verilator": verilator.version()},
               "portions": portions, "layer_portions": per_layer, "vectors_per_form": VECTORS, "plot": str(PLOT.relative_to(REPO)),
               "layers": curves}
    for curve in curves:
        print(curve["name"], [(p["portion"], p["sparse_pes"], p["speedup"]) for p in curve["points"]],
              curve["estimator"]["speedups"])
    print(value)
    print(write_result("rtl_breakeven", metrics, [{"key": "rtl_breakeven_lenet5",
                                                    "label": "break-even from yosys-measured RTL", "value": value}],
                       seed=SEED, started=started, commit=commit))


if __name__ == "__main__":
    main()
