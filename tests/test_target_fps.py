"""`flow compile --target-fps`: the design chooser (flow/cost/chooser.py) picks each weight layer's kernel for the
compressed LeNet-5, and the project built, estimated and verified is exactly that design."""
import json

import pytest

from conftest import lenet5_compile_args, run_flow

TARGET_FPS = 100_000  # issue [L]: interval <= 1,000 cycles at 100 MHz, within 80% of every PYNQ-Z2 resource


@pytest.fixture(scope="module")
def build(tmp_path_factory, shared_dir):
    build_dir = tmp_path_factory.mktemp("target-fps") / "build"
    result = run_flow(*lenet5_compile_args(shared_dir, build_dir, "--target-fps", str(TARGET_FPS)))
    assert result.returncode == 0, result.stderr[-3000:]
    return build_dir


def test_the_design_meets_the_target_within_the_utilization_cap(build):
    design = json.loads((build / "design.json").read_text())
    assert design["throughput_fps"] >= TARGET_FPS and design["interval"] <= design["target_interval"] == 1_000
    assert design["fits"] and max(design["utilization"].values()) <= 0.8
    # today's stream top runs one sample at a time: its rate is bounded by the latencies back to back
    assert design["latency_sum"] >= design["interval"]
    assert design["throughput_fps_serial_top_at_least"] == pytest.approx(1e8 / design["latency_sum"], abs=0.1)
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
