"""Report parsing against real Vivado HLS / Vitis HLS / Vivado reports from hls4ml projects (../shared/reference)."""
import contextlib
import io
import shutil
from pathlib import Path

import pytest

from flow.errors import FlowError
from flow.reports.hls import parse_csynth_rpt, parse_csynth_xml, read_hls_reports
from flow.reports.vivado import parse_hierarchical_utilization, read_utilization


@pytest.fixture(scope="module")
def reference(shared_dir) -> Path:
    return shared_dir / "reference"


def report_sets(reference: Path) -> list[Path]:
    return sorted(p for p in (reference / "hls_reports").iterdir() if p.is_dir()) + [
        reference / "hls4ml_repo_test_data" / "test_report" / "Vivado"]


def test_hls4ml_expected_parse_values(reference):
    """hls4ml's own test_report expectations (EXPECTED_PARSE.md), C synthesis and Vivado synthesis."""
    folder = reference / "hls4ml_repo_test_data" / "test_report" / "Vivado"
    report = read_hls_reports(folder)
    assert (report.tool, report.version, report.part, report.top) == ("Vivado HLS", "2020.1", "xc7z020-clg400-1", "myproject")
    assert report.latency == (10, 10) and report.interval == (8, 8)
    assert (report.target_clock_ns, report.estimated_clock_ns) == (5.0, 4.049)
    r, a = report.resources, report.available
    assert (r.bram18, r.dsp, r.ff, r.lut) == (0, 73, 7969, 2532)
    assert (a.bram18, a.dsp, a.ff, a.lut) == (280, 220, 106400, 53200)
    synth = read_utilization(folder / "vivado_synth.rpt")
    assert (synth.bram18, synth.dsp, synth.ff, synth.lut) == (0, 66, 2428, 1526)
    # per layer, which hls4ml does not report: the dense layer (config2) and its ReLU (config3)
    layers = report.layers()
    assert layers[2].latency == (7, 7) and layers[2].resources.dsp == 73 and layers[2].resources.lut == 2134
    assert layers[3].module == "relu_array_array_ap_fixed_5u_relu_config3_s" and layers[3].interval == (1, 1)


def _hls4ml_project(tmp: Path, test_report: Path, csynth_xml: Path, vivado_synth: Path | None) -> Path:
    """The folder layout hls4ml's parser looks for, pointing at a real report set."""
    tmp.mkdir()
    (tmp / "project.tcl").write_text('set project_name "myproject"\nset backend "vivado"\n')
    report_dir = tmp / "myproject_prj" / "solution1" / "syn" / "report"
    report_dir.mkdir(parents=True)
    shutil.copy(test_report / "vivado_hls.app", tmp / "myproject_prj" / "vivado_hls.app")
    (report_dir / "myproject_csynth.xml").symlink_to(csynth_xml)
    if vivado_synth:
        (tmp / "vivado_synth.rpt").symlink_to(vivado_synth)
    return tmp


def test_top_numbers_match_hls4ml_parse_vivado_report_on_every_xml_set(reference, tmp_path):
    from hls4ml.report import parse_vivado_report

    test_report = reference / "hls4ml_repo_test_data" / "test_report" / "Vivado"
    compared = 0
    for folder in report_sets(reference):
        xml = next(folder.rglob("myproject_csynth.xml"), None)
        if xml is None:
            continue
        synth = next(iter(sorted(folder.rglob("vivado_synth.rpt"))), None)
        project = _hls4ml_project(tmp_path / folder.name, test_report, xml, synth)
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = parse_vivado_report(str(project))
        c = theirs["CSynthesisReport"]
        ours = read_hls_reports(folder)
        assert ours.latency == (int(c["BestLatency"]), int(c["WorstLatency"])), folder.name
        assert ours.interval == (int(c["IntervalMin"]), int(c["IntervalMax"])), folder.name
        assert ours.estimated_clock_ns == float(c["EstimatedClockPeriod"]), folder.name
        assert (ours.resources.bram18, ours.resources.dsp, ours.resources.ff, ours.resources.lut) == tuple(
            int(c[k]) for k in ("BRAM_18K", "DSP", "FF", "LUT")), folder.name
        assert ours.available.dsp == int(c["AvailableDSP"])
        if synth:
            mine = read_utilization(synth)
            v = theirs["VivadoSynthReport"]
            # hls4ml files Block RAM *tiles* (36 Kb) under BRAM_18K; ours keeps both
            assert (mine.lut, mine.ff, mine.dsp, mine.bram_tiles) == (
                int(v["LUT"]), int(v["FF"]), int(v["DSP48E"]), float(v["BRAM_18K"])), folder.name
        compared += 1
    assert compared >= 7


def test_every_report_set_parses_with_rpt_and_xml_agreeing(reference):
    seen_tools = set()
    for folder in report_sets(reference):
        report = read_hls_reports(folder)
        assert report.top == "myproject", folder.name  # the kernel, not the myproject_axi wrapper
        assert report.latency[0] and report.resources.lut > 0 and report.modules, folder.name
        seen_tools.add((report.tool, report.version))
        rpt = next(folder.rglob("myproject_csynth.rpt"), None)
        xml = next(folder.rglob("myproject_csynth.xml"), None)
        if rpt and xml:
            from_rpt = parse_csynth_rpt(rpt.read_text())
            from_xml = parse_csynth_xml(xml.read_text())
            assert (from_rpt.latency, from_rpt.interval, from_rpt.resources, from_rpt.available, from_rpt.part) == (
                from_xml.latency, from_xml.interval, from_xml.resources, from_xml.available, from_xml.part), folder.name
        # direct children never add up to more than the top (the top adds FIFOs, registers, muxes)
        with_resources = [m.resources for m in report.modules if m.resources]
        assert sum(r.dsp for r in with_resources) <= report.resources.dsp, folder.name
    assert {("Vivado HLS", "2019.2"), ("Vivado HLS", "2020.1"), ("Vitis HLS", "2024.1"), ("Vitis HLS", "2025.1")} <= seen_tools


def test_per_layer_modules_of_io_stream_and_io_parallel_designs(reference):
    stream = read_hls_reports(reference / "hls_reports" / "jet_mlp_16-64-32-32-5_z7020_pynq_stream_vhls2019")
    layers = stream.layers()
    assert sorted(layers) == [2, 4, 5, 7, 8, 10, 11, 13]  # 4 dense, 3 relu, softmax
    assert layers[2].latency == (68, 69) and layers[2].resources.dsp == 16 and layers[2].resources.bram18 == 4
    iris = read_hls_reports(reference / "hls_reports" / "iris_mlp_4-8-8-3_z7020_vitis2025")  # Vitis 2025.1
    assert iris.layers()[4].module == "dense_latency_ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0_config4_s"
    assert iris.layers()[4].latency == (5, 5) and iris.layers()[4].resources.dsp == 56
    conv = read_hls_reports(reference / "hls_reports" / "conv1d_har_xcu250_vitis2024")
    assert conv.layers()[2].resources.dsp == 370 and conv.layers()[2].interval == (390, 390)


def test_solution1_data_json_gives_the_kernel_and_its_layers(reference):
    report = read_hls_reports(reference / "hls_reports" / "mnist_qkeras_cnn_z7020_pynq_vhls2020_gabriele")
    assert report.top == "myproject" and report.latency == (3973, 3974) and report.interval == (3923, 3923)
    assert (report.resources.bram18, report.resources.dsp, report.resources.ff, report.resources.lut) == (114, 10, 24436, 55790)
    assert report.layers()[11].interval == (54, 55)  # PipelineII "54 ~ 55"
    assert report.layers()[2].module.startswith("conv_2d_cl_array_array")


def test_vivado_utilization_formats(reference):
    base = reference / "hls_reports"
    placed = read_utilization(base / "iris_mlp_4-8-8-3_z7020_vitis2025" / "vivado" / "design_1_wrapper_utilization_placed.rpt")
    assert (placed.state, placed.lut, placed.ff, placed.bram_tiles, placed.bram18, placed.dsp) == (
        "Fully Placed", 3455, 5126, 1.5, 3, 110)  # Vivado 2025.1: Prohibited column, half a tile
    routed = read_utilization(base / "conv1d_har_xcu250_vitis2024" / "vivado" / "vivado_utilization.rpt")
    assert (routed.lut, routed.bram18, routed.dsp, routed.uram) == (7722, 24, 467, 0)  # UltraScale CLB LUTs, SLR tables later
    jet = base / "jet_mlp_16-64-32-32-5_z7020_pynq_ap_fixed_vhls2019" / "vivado"
    boxed = read_utilization(jet / "design_1_wrapper_utilization_synth.rpt")
    assert boxed.lut == 0 and "design_1_myproject_axi_0_3" in boxed.black_boxes
    kernel_only = read_utilization(jet / "design_1_myproject_axi_0_3_utilization_synth.rpt")
    assert (kernel_only.lut, kernel_only.dsp) == (15176, 21)
    rows = parse_hierarchical_utilization((jet / "util_hierarchical_routed.rpt").read_text())
    top, kernel = rows[0], next(r for r in rows if r.instance == "myproject_axi_0")
    assert (top.lut, top.ff, top.ramb36, top.ramb18, top.dsp) == (17654, 18333, 2, 6, 21)  # '17654(33,189211%)'
    assert (kernel.lut, kernel.bram18, kernel.dsp) == (14736, 4, 21) and kernel.depth > top.depth


def test_bad_report_input_names_the_problem(tmp_path, reference):
    with pytest.raises(FlowError, match="no \\*_csynth.rpt"):
        read_hls_reports(tmp_path)
    broken = tmp_path / "myproject_csynth.rpt"
    broken.write_text("not a report\n")
    with pytest.raises(FlowError, match="not a Vivado/Vitis HLS csynth report"):
        read_hls_reports(broken)
    with pytest.raises(FlowError, match="not a Vivado report_utilization"):
        read_utilization(broken)
    with pytest.raises(FlowError, match="no csynth report for top 'nope'"):
        read_hls_reports(reference / "hls4ml_repo_test_data" / "test_report" / "Vivado", top="nope")
