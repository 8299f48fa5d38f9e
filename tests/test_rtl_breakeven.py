"""Break-even from yosys-measured costs (bench/rtl_breakeven.py): the recorded curves follow from their
measurements, the estimator's curves beside them are what the estimator gives today, and one recorded point
measures the same again with the real tools."""
import copy
import json
from pathlib import Path

import pytest

from flow.boards import load_board
from flow.cost.breakeven import break_even_curve, measured_break_even, utilization
from flow.cost.kernels import DenseKernel, Estimate, LayerShape
from test_rtl import needs_tools

RESULT = Path(__file__).resolve().parents[1] / "bench" / "results" / "rtl_breakeven.json"


@pytest.fixture(scope="module")
def record():
    return json.loads(RESULT.read_text())["metrics"]


def _share(cells: dict, board) -> float:
    return utilization(Estimate(latency=0, interval=0, dsp=cells["dsp"], bram18=cells["bram18"], lut=cells["lut"],
                                ff=cells["ff"]), board)


def problems(curve: dict, board) -> list[str]:
    """Where a recorded curve does not follow from its own measurements, or its dense form is not one hls4ml builds."""
    from flow.cost.candidates import legal_reuse_factors
    from flow.rtl.folded_kernel import Folding

    found = []
    n_in, n_out, reuse_factor = curve["n_in"], curve["n_out"], curve["dense_reuse_factor"]
    if (reuse_factor not in legal_reuse_factors(n_in, n_out)
            or Folding(**curve["folding"]) != Folding.at_reuse_factor(n_in, n_out, reuse_factor)):
        found.append(f"{curve['name']}: the dense folding is not hls4ml Resource at a reuse factor it accepts")
    for point in curve["points"]:
        where = f"{curve['name']} at {point['portion']}"
        dense, sparse, pes = point["dense"], point["sparse"], point["sparse_pes"]
        shares = {int(p): s for p, s in point["shares_measured"].items()}
        if dense["cycles_per_vector"] != dense["steps"] + 2:
            found.append(f"{where}: the dense form's cycles are not its steps plus 2")
        if round(_share(dense["yosys"], board), 5) != point["budget"]:
            found.append(f"{where}: the budget is not the dense form's measured share")
        if pes == 0:
            if shares[1] <= point["budget"]:
                found.append(f"{where}: one PE fits but none was taken")
            continue
        if sparse["cycles_per_vector"] != sparse["entries_per_pe"] + sparse["rows_per_pe"] + 2:
            found.append(f"{where}: the sparse form's cycles are not its schedule")
        if round(_share(sparse["yosys"], board), 5) != shares[pes] or shares[pes] > point["budget"]:
            found.append(f"{where}: {pes} PEs do not fit the budget as measured")
        if pes < curve["n_out"] and not shares.get(pes + 1, 0) > point["budget"]:
            found.append(f"{where}: {pes + 1} PEs were not measured over the budget")
        if point["speedup"] != round(dense["cycles_per_vector"] / sparse["cycles_per_vector"], 4):
            found.append(f"{where}: the speedup is not the ratio of measured cycles")
    portions = tuple(point["portion"] for point in curve["points"])
    if curve["measured_break_even"] != measured_break_even(portions, tuple(p["speedup"] for p in curve["points"])):
        found.append(f"{curve['name']}: the break-even is not where the measured speedups cross 1")
    return found


def test_every_recorded_curve_follows_from_its_measurements_and_a_tampered_one_does_not(record):
    board = load_board(record["board"])
    assert [curve["name"] for curve in record["layers"]] == ["Conv2D_Conv_0", "Conv2D_Conv_1", "Dense_MatMul_0",
                                                             "Dense_MatMul_1"]
    for curve in record["layers"]:
        assert problems(curve, board) == [], curve["name"]
        assert len(curve["points"]) >= 6 and all(point["sparse"] is None or point["sparse"]["vectors"] > 0
                                                 for point in curve["points"])
    tampered = copy.deepcopy(next(c for c in record["layers"] if any(0 < p["sparse_pes"] < c["n_out"]
                                                                      for p in c["points"])))
    point = next(p for p in tampered["points"] if 0 < p["sparse_pes"] < tampered["n_out"])
    point["shares_measured"][str(point["sparse_pes"] + 1)] = point["budget"]  # one more PE would have fit
    assert problems(tampered, board) == [f"{tampered['name']} at {point['portion']}: {point['sparse_pes'] + 1} PEs "
                                         "were not measured over the budget"]
    finn_only = {**copy.deepcopy(record["layers"][0]), "n_in": 25, "n_out": 20, "dense_reuse_factor": 10,
                 "folding": {"pe": 10, "simd": 5}, "points": []}  # divides the layer, but hls4ml refuses RF 10
    assert problems(finn_only, board)[0] == ("Conv2D_Conv_0: the dense folding is not hls4ml Resource at a reuse "
                                             "factor it accepts")


def test_the_estimator_curves_beside_them_are_the_estimators_today(record):
    """Against the same dense kernel (hls4ml Resource at the folding's reuse factor): a change to the estimator
    shows here until the bench is rerun."""
    board = load_board(record["board"])
    for curve in record["layers"]:
        shape = LayerShape(name=curve["name"], n_in=curve["n_in"], n_out=curve["n_out"],
                           weight_bits=curve["weight_bits"], input_bits=curve["input_bits"])
        portions = tuple(point["portion"] for point in curve["points"])
        estimated = break_even_curve(shape, board, code_bits=curve["code_bits"], level_bits=curve["weight_bits"],
                                     dense_kernel=DenseKernel(reuse_factor=curve["dense_reuse_factor"],
                                                              strategy="resource"), portions=portions)
        assert list(estimated.speedups) == curve["estimator"]["speedups"], curve["name"]
        assert estimated.break_even_portion == curve["estimator"]["break_even"], curve["name"]


@needs_tools
def test_a_recorded_point_measures_here_as_recorded(record, tmp_path):
    """The smallest layer's most pruned point rebuilt from its spec: both forms bit-exact, yosys' cells and the
    cycles as the bench recorded."""
    import dataclasses

    from flow.rtl.checks import check_folded_layer, check_sparse_layer
    from flow.rtl.folded_kernel import Folding
    from flow.rtl.seeded_layers import LayerSpec, seeded_layer

    curve = min(record["layers"], key=lambda c: c["n_in"] * c["n_out"])
    point = curve["points"][-1]
    layer = seeded_layer(LayerSpec(**point["spec"]))
    layer = dataclasses.replace(layer, inputs=layer.inputs[:record["vectors_per_form"]],
                                outputs=layer.outputs[:record["vectors_per_form"]])
    dense = check_folded_layer(layer, Folding(**curve["folding"]), tmp_path / "dense", "xc7")
    sparse = point["sparse"]
    storage = "bram" if "entries in bram" in sparse["form"] else "lutram"
    again = check_sparse_layer(layer, point["sparse_pes"], sparse["index_bits"], storage, tmp_path / "sparse", "xc7")
    assert dense["verilator_bit_exact"] and again["verilator_bit_exact"]
    assert (dense["yosys"], dense["cycles_per_vector"]) == (point["dense"]["yosys"], point["dense"]["cycles_per_vector"])
    assert (again["yosys"], again["cycles_per_vector"]) == (sparse["yosys"], sparse["cycles_per_vector"])


def test_a_kept_measurement_counts_only_while_todays_generator_writes_its_files(tmp_path):
    """The bench's record cache: a form kept in work/forms/ whose Verilog or ROM differs from what the
    generator writes today (another seed, folding or generator) is stale, and so is a missing one."""
    import sys

    from flow.rtl.checks import write_folded_form
    from flow.rtl.folded_kernel import Folding
    from flow.rtl.seeded_layers import LayerSpec, seeded_layer

    sys.path.insert(0, str(RESULT.parents[2] / "bench"))
    from rtl_breakeven import Measurements

    spec = LayerSpec(seed=3, n_in=25, n_out=20, pruned=0.7, level_bits=3, input_bits=8, signed_inputs=False, pes=1,
                     narrow_result=False)
    layer = seeded_layer(spec)
    kept = tmp_path / "forms" / "conv" / "dense_folded"

    def today(folder):
        write_folded_form(layer, Folding(pe=20, simd=1), folder)

    assert not Measurements._same_files(kept, today)
    today(kept)
    assert Measurements._same_files(kept, today)
    write_folded_form(layer, Folding(pe=10, simd=5), tmp_path / "finn")
    assert not Measurements._same_files(tmp_path / "finn", today)
    rom = next(kept.glob("*.hex"))
    rom.write_text(rom.read_text().replace("0", "1", 1))
    assert not Measurements._same_files(kept, today)
