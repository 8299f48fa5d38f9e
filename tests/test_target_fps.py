"""`flow compile --target-fps`: the design chooser (flow/cost/chooser.py) picks each weight layer's kernel, and the
project built, estimated and verified is exactly that design. The default digits model at two rates: at 200,000/s
the chooser mixes Latency RF 1 with the sparse kernel at several PEs, at 1,000,000/s it takes the Resource
strategy at RF 64 for the fully connected layers."""
import json

import pytest
from conftest import run_flow

from flow.cost.candidates import KERNELS, da4ml_installed


@pytest.fixture(scope="module", params=[200_000, 1_000_000])
def build(request, tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("target-fps") / "build"
    result = run_flow("compile", "--target-fps", str(request.param), "--out", str(build_dir), "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir


def test_the_design_meets_the_target_within_the_utilization_cap(build):
    design = json.loads((build / "design.json").read_text())
    assert design["throughput_fps"] >= design["target_fps"] and design["interval"] <= design["target_interval"]
    assert design["target_interval"] == 1e8 // design["target_fps"]
    assert design["fits"] and max(design["utilization"].values()) <= 0.8
    # the free-running stream top overlaps samples: the slowest process sets the rate, a weight layer or the top's
    # read of the 8 x 8 digits, one value per cycle
    assert design["interval"] == max(design["layers_interval"], design["stream_top_cycles"])
    assert design["stream_top_cycles"] == 64 and design["throughput_fps"] == pytest.approx(1e8 / design["interval"])
    for layer in design["layers"]:
        assert layer["chosen"]["estimate"]["interval"] <= design["interval"], layer["name"]
        assert layer["chosen"] in layer["candidates"] and len(layer["candidates"]) > 1
    # the whole design as the estimate step prices it, FIFOs and the stream top included
    assert json.loads((build / "estimates.json").read_text())["utilization"] <= 0.8


def test_the_built_project_is_the_chosen_design(build):
    design = {layer["name"]: layer["chosen"] for layer in json.loads((build / "design.json").read_text())["layers"]}
    estimates = {layer["name"]: layer for layer in json.loads((build / "estimates.json").read_text())["layers"]}
    memory = {layer["name"]: layer for layer in json.loads((build / "memory.json").read_text())["layers"]}
    assert set(design) == set(estimates)
    for name, chosen in design.items():
        built = estimates[name]
        if chosen["kernel"] == "sparse":
            assert built["kernel"] == "sparse", name
            assert (memory[name]["pes"], memory[name]["index_bits"]) == (chosen["pes"], chosen["index_bits"])
            assert built["sparse"]["estimate"] == chosen["estimate"], name
        else:
            assert built["kernel"] == "dense", name
            assert built["dense"]["kernel"]["strategy"] == chosen["kernel"], name
            assert built["dense"]["kernel"]["reuse_factor"] == chosen["reuse_factor"], name
            assert built["dense"]["estimate"] == chosen["estimate"], name
    summary = json.loads((build / "summary.json").read_text())
    assert summary["verification"]["passed"] and "see design.json" in summary["steps"]["hls4ml"]["design"]


def test_each_rate_takes_a_different_mix_of_kernels(build):
    design = json.loads((build / "design.json").read_text())
    chosen = [layer["chosen"] for layer in design["layers"]]
    if design["target_fps"] == 200_000:  # the sparse kernel, with several PEs where one is too slow
        assert any(c["kernel"] == "sparse" and c["pes"] > 1 for c in chosen)
    else:  # hls4ml's Resource strategy folded, verified in csim like the rest
        assert any(c["kernel"] == "resource" and c["reuse_factor"] > 1 for c in chosen)
    assert any(c["kernel"] in ("latency", "distributed_arithmetic") for c in chosen)  # unrolled, RF 1


def test_the_pareto_frontiers_set_flows_choice_against_each_kernel_family(build):
    """pareto.png's frontiers in design.json: each keeps only designs no other of its family beats on rate and area,
    and the mixed one, over which flow chooses, is nowhere beaten by a single-kernel design."""
    design = json.loads((build / "design.json").read_text())
    fronts = design["pareto"]["frontiers"]
    assert (build / design["pareto"]["plot"]).is_file() and set(fronts) == {*KERNELS, "mixed"}
    for family, points in fronts.items():
        assert points or (family == "distributed_arithmetic" and not da4ml_installed()), family
        assert [p["fps"] for p in points] == sorted((p["fps"] for p in points), reverse=True)
        assert all(later["utilization"] < earlier["utilization"] for earlier, later in zip(points, points[1:]))
    for family in KERNELS:
        for point in fronts[family]:
            assert any(m["fps"] >= point["fps"] and m["utilization"] <= point["utilization"] for m in fronts["mixed"])
    assert all(p["fps"] <= 1e8 / 64 for points in fronts.values() for p in points)  # the stream top's cap
    # flow's choice, within the target, is on the mixed frontier or beaten by a faster and smaller mixed design
    chosen = (design["throughput_fps"], max(design["utilization"].values()))
    assert any(m["fps"] >= chosen[0] and m["utilization"] <= chosen[1] + 1e-4 for m in fronts["mixed"])
