"""boards/block_design.tcl as a connection graph: the Tcl runs under tclsh against tests/vivado_stub.tcl, which models
what Vivado's block automations connect, and the checks here read the resulting graph. They ask what the driver and
PYNQ's .hwh parsing need (the DMA's registers mapped in a PS master's address space, the DMA's masters on DDR, the
streams joined, every clock and reset pin driven), and compare the roles our design connects with those of hls4ml's
own VivadoAccelerator block designs for the pynq-z2 and the zcu102, run through the same stub: both IPs are
free-running (ap_ctrl_none), with no AXI-Lite port."""
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import hls4ml
import pytest

from conftest import REPO
from flow.boards import known_boards, load_board

STUB = REPO / "tests" / "vivado_stub.tcl"
HLS4ML_DESIGNS = Path(hls4ml.__file__).parent / "templates" / "vivado_accelerator"
INTERFACE_PRAGMA = re.compile(r"#pragma HLS INTERFACE (\w+) port=(\w+)(?: bundle=(\w+))?")
# Vitis HLS renames top-level ports named like HDL keywords: hls4ml's `in` and `out` become in_r and out_r
HDL_RENAMED = {"in": "in_r", "out": "out_r"}
HLS_REGISTER_WINDOW = 0x10000  # the address range Vivado gives an HLS IP's AXI-Lite port

needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not on PATH")


def hls_ip_entry(cpp: str, inputs: set[str]) -> str:
    """The stub's catalogue entry for the IP Vitis HLS exports from a top with these INTERFACE pragmas: its axis
    ports (`inputs` are read, the rest written) and one s_axi_<bundle> per AXI-Lite bundle, all clocked by ap_clk."""
    interfaces = []
    for mode, port, bundle in INTERFACE_PRAGMA.findall(cpp):
        if mode == "axis":
            direction = "stream_in" if port in inputs else "stream_out"
            interfaces.append(f"{HDL_RENAMED.get(port, port)} {{mode {direction} clock ap_clk}}")
        elif mode == "s_axilite":
            entry = f"s_axi_{bundle or 'control'} {{mode slave clock ap_clk segment {{Reg register - {HLS_REGISTER_WINDOW:#x}}}}}"
            if entry not in interfaces:
                interfaces.append(entry)
    return f"kind hls interfaces {{{' '.join(interfaces)}}} resets {{ap_rst_n}}"


@dataclass
class Graph:
    cells: dict = field(default_factory=dict)  # /cell -> (vlnv, kind, hierarchy)
    interfaces: dict = field(default_factory=dict)  # /cell/port -> (mode, /cell/clock_pin)
    clock_pins: dict = field(default_factory=dict)  # /cell/pin -> driving clock ("" when undriven)
    reset_pins: dict = field(default_factory=dict)
    clock_sources: set = field(default_factory=set)
    nets: set = field(default_factory=set)  # (port, port): direct interface nets
    segments: dict = field(default_factory=dict)  # (master, slave) -> (name, memory, offset, range)

    @classmethod
    def read(cls, path: Path) -> "Graph":
        graph = cls()
        for kind, *fields in (line.split("|") for line in path.read_text().splitlines()):
            if kind == "cell":
                graph.cells[fields[0]] = tuple(fields[1:])
            elif kind == "interface":
                graph.interfaces[fields[0]] = tuple(fields[1:])
            elif kind in ("clock_pin", "reset_pin"):
                getattr(graph, kind + "s")[fields[0]] = fields[1]
            elif kind == "clock_source":
                graph.clock_sources.add(fields[0])
            elif kind == "net":
                graph.nets.add(tuple(fields))
            elif kind == "segment":
                master, slave, name, memory, offset, size = fields
                graph.segments[(master, slave)] = (name, memory, int(offset, 16), int(size, 16))
        return graph

    def kind(self, path: str) -> str:
        return self.cells["/" + path.split("/")[1]][1]

    def ports(self, kind: str, mode: str) -> list[str]:
        return sorted(p for p, (m, _) in self.interfaces.items() if m == mode and self.kind(p) == kind)

    def role(self, port: str) -> str:
        """What a port is for, in words that hold across families and designs: PS ports by direction, the DMA's by
        their fixed names, the HLS IP's by mode."""
        kind, mode = self.kind(port), self.interfaces[port][0]
        return f"dma {port.rsplit('/', 1)[1]}" if kind == "dma" else f"{kind} {mode}"


def wiring_faults(graph: Graph) -> list[str]:
    """What Vivado's validation and PYNQ need of any PS + DMA + HLS IP design, read from the graph."""
    faults = []
    for port in graph.ports("dma", "slave") + graph.ports("hls", "slave"):
        if not any(slave == port and graph.kind(master) == "ps" for master, slave in graph.segments):
            faults.append(f"{port} is mapped in no PS master's address space, so the .hwh and PYNQ's ip_dict lack it")
    for port in graph.ports("dma", "master"):
        if not any(master == port and graph.kind(slave) == "ps" and segment[1] == "ddr"
                   for (master, slave), segment in graph.segments.items()):
            faults.append(f"{port} reaches no DDR port of the PS")
    streams = {port for net in graph.nets for port in net}
    for port in graph.ports("dma", "stream_out") + graph.ports("dma", "stream_in") + graph.ports("hls", "stream_in") + \
            graph.ports("hls", "stream_out"):
        if port not in streams:
            faults.append(f"stream port {port} is not connected")
    for ends in graph.nets:
        clocks = {graph.clock_pins[graph.interfaces[port][1]] for port in ends}
        if len(clocks) != 1:
            faults.append(f"the stream {' -> '.join(ends)} crosses clocks {sorted(clocks)} without a converter")
    faults += [f"clock pin {pin} is undriven" for pin, driver in graph.clock_pins.items() if driver not in graph.clock_sources]
    faults += [f"reset pin {pin} is undriven" for pin, driver in graph.reset_pins.items() if not driver]
    for master in {master for master, _ in graph.segments}:
        windows = sorted((offset, offset + size, slave) for (m, slave), (_, _, offset, size) in graph.segments.items()
                         if m == master)
        faults += [f"{a[2]} and {b[2]} overlap in {master}'s address space" for a, b in zip(windows, windows[1:])
                   if b[0] < a[1]]
    return faults


def driver_faults(graph: Graph, metadata: dict) -> list[str]:
    """What bundle/driver.py needs: the DMA as a top-level cell under the name it looks up (PYNQ names ip_dict
    entries by hierarchical path)."""
    cell = metadata["dma"]
    if f"/{cell}" not in graph.cells or graph.cells[f"/{cell}"][2]:
        return [f"no top-level cell {cell}, the name the driver asks the overlay for"]
    return []


def role_edges(graph: Graph) -> set[tuple[str, str]]:
    """(from, to) roles: masters to the slaves mapped in their address space, stream outputs to inputs, and the PL
    clock to the HLS IP's clock pin."""
    edges = {(graph.role(master), graph.role(slave)) for master, slave in graph.segments}
    for ends in graph.nets:
        out, into = sorted(ends, key=lambda port: graph.interfaces[port][0] != "stream_out")
        edges.add((graph.role(out), graph.role(into)))
    edges |= {("ps clock", "hls ap_clk") for pin, driver in graph.clock_pins.items()
              if graph.kind(pin) == "hls" and pin.endswith("/ap_clk") and driver in graph.clock_sources}
    return edges


def run_stub(design: Path, params: Path, hls_ips: dict[str, str], work: Path) -> tuple[subprocess.CompletedProcess, Path]:
    catalogue = work / "hls_ips.tcl"
    catalogue.write_text("".join(f"dict set catalogue {vlnv} {{{entry}}}\n" for vlnv, entry in hls_ips.items()))
    (work / "flow.hwh").write_text("<hwh/>")
    run = subprocess.run(["tclsh", str(STUB), str(design), str(params), str(work / "calls.log"), str(work / "flow.hwh"),
                          str(work / "graph.txt"), str(catalogue)], capture_output=True, text=True, cwd=work)
    return run, work / "graph.txt"


@pytest.fixture(scope="module")
def our_design(default_build):
    """run(board_name, work_dir, design=boards/block_design.tcl) -> (tclsh result, graph path, params, metadata)."""
    from flow.build.steps.bitstream import BLOCK_DESIGN, IP, block_design_params
    from flow.tools import tcl_assignments

    metadata = json.loads((default_build[0] / "bundle" / "metadata.json").read_text())
    top = (default_build[0] / "hls4ml_prj" / "firmware" / "flow_axis_top.cpp").read_text()
    hls_ips = {IP["vlnv"].rsplit(":", 1)[0]: hls_ip_entry(top, {IP["in"]})}

    def run(board_name: str, work: Path, design: Path = BLOCK_DESIGN):
        params = block_design_params(work, load_board(board_name), metadata["input"]["precision"],
                                     metadata["output"]["precision"])
        (work / "params.tcl").write_text(tcl_assignments(params))
        impl = work / "vivado" / "project" / "flow_bd.runs" / "impl_1"
        impl.mkdir(parents=True, exist_ok=True)
        (impl / "flow_wrapper.bit").write_bytes(b"bit")
        return (*run_stub(design, work / "params.tcl", hls_ips, work), params, metadata)

    return run


def hls4ml_design(board_name: str, work: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """hls4ml's VivadoAccelerator axi_stream block design for the board, with the project.tcl its writer would put
    beside it, and its myproject_axi IP (axis in/out, ap_ctrl_none: no AXI-Lite port) in the catalogue."""
    shutil.copy(HLS4ML_DESIGNS / board_name / "tcl_scripts" / "axi_stream_design.tcl", work / "design.tcl")
    (work / "project.tcl").write_text("set project_name myproject\nset bit_width_hls_input 32\nset bit_width_hls_output 32\n")
    (work / "params.tcl").write_text("")
    writer = (HLS4ML_DESIGNS.parent.parent / "writer" / "vivado_accelerator_writer.py").read_text()
    interface = writer[writer.index("insert interface"):writer.index("insert enqueue")]
    pragmas = "\n".join(re.findall(r"#pragma HLS INTERFACE \w+ port=\w+", interface[interface.index("'axi_stream'"):]))
    return run_stub(work / "design.tcl", work / "params.tcl", {"xilinx.com:hls:myproject_axi": hls_ip_entry(pragmas, {"in"})},
                    work)


def test_our_hls_top_declares_the_ports_the_block_design_connects(default_build):
    from flow.build.steps.bitstream import IP

    top = (default_build[0] / "hls4ml_prj" / "firmware" / "flow_axis_top.cpp").read_text()
    pragmas = INTERFACE_PRAGMA.findall(top)
    assert {port for mode, port, _ in pragmas if mode == "axis"} == {IP["in"], IP["out"]}
    assert [mode for mode, port, _ in pragmas if mode not in ("axis",)] == ["ap_ctrl_none"]  # free-running, no AXI-Lite


@needs_tclsh
@pytest.mark.parametrize("board_name", known_boards())
def test_block_design_connects_what_the_driver_and_pynq_need(board_name, our_design, tmp_path):
    run, graph_path, params, metadata = our_design(board_name, tmp_path)
    assert run.returncode == 0, run.stderr
    graph = Graph.read(graph_path)
    assert wiring_faults(graph) == [] and driver_faults(graph, metadata) == []
    board = load_board(board_name)
    # the PS's own AXI clock pins are among those driven: its master to the registers, its slave to DDR
    ps_clocks = {pin for pin in graph.clock_pins if graph.kind(pin) == "ps"}
    assert len(ps_clocks) == 2, ps_clocks
    calls = [line.split("|") for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert ["project", "flow_bd", params["flow_project_dir"], board.part] in calls
    properties = {(c[1], c[2]): c[3] for c in calls if c[0] == "property"}
    assert properties[("project", "board_part")].split(":")[1] == board.board_part_pattern.split(":")[1]
    dma = f"/{metadata['dma']}"
    assert graph.cells[dma][0] == "xilinx.com:ip:axi_dma:10.2"  # the newest installed version
    # the default model's input is its first quantizer's 8-bit type, and so is its stream word
    assert properties[(dma, "CONFIG.c_m_axis_mm2s_tdata_width")] == "8" == str(params["flow_in_width"])
    assert properties[(dma, "CONFIG.c_s_axis_s2mm_tdata_width")] == "8" == str(params["flow_out_width"])
    assert properties[(dma, "CONFIG.c_m_axi_mm2s_data_width")] == str(board.dma_data_width)
    assert properties[(dma, "CONFIG.c_include_sg")] == "0"  # simple mode: the driver's transfer() per buffer
    assert ["launch", "impl_1", "write_bitstream"] in calls and ["validate"] in calls
    output = tmp_path / "vivado" / "output"
    assert ["report_utilization", str(output / "utilization_routed.rpt")] in calls
    assert ["report_timing_summary", str(output / "timing_summary.rpt")] in calls
    assert (output / "flow_nn.bit").read_bytes() == b"bit" and (output / "flow_nn.hwh").is_file()


@needs_tclsh
@pytest.mark.parametrize("board_name", ["pynq-z2", "zcu102"])
def test_ours_connects_every_role_hls4mls_known_good_design_does(board_name, our_design, tmp_path):
    """hls4ml's design passes the same wiring checks (the model is not stricter than a design that builds), and ours
    connects exactly its roles: both IPs are free-running, clocked from the PL clock, with streams only."""
    (tmp_path / "hls4ml").mkdir()
    (tmp_path / "ours").mkdir()
    theirs_run, theirs_path = hls4ml_design(board_name, tmp_path / "hls4ml")
    assert theirs_run.returncode == 0, theirs_run.stderr
    theirs = Graph.read(theirs_path)
    assert wiring_faults(theirs) == []
    ours_run, ours_path, _, _ = our_design(board_name, tmp_path / "ours")
    assert ours_run.returncode == 0, ours_run.stderr
    ours = Graph.read(ours_path)
    assert role_edges(theirs) >= {("ps master", "dma S_AXI_LITE"), ("dma M_AXI_MM2S", "ps slave"),
                                  ("dma M_AXI_S2MM", "ps slave"), ("dma M_AXIS_MM2S", "hls stream_in"),
                                  ("hls stream_out", "dma S_AXIS_S2MM"), ("ps clock", "hls ap_clk")}
    assert role_edges(ours) == role_edges(theirs)


BROKEN = {
    # (board, what the broken design does, text in boards/block_design.tcl, its replacement, the fault expected)
    "the IP's clock left undriven": (
        "pynq-z2", "connect_bd_net [get_bd_pins $flow_dma_name/s_axi_lite_aclk] [get_bd_pins $flow_ip_cell/ap_clk]\n", "",
        "clock pin /flow_nn_0/ap_clk is undriven"),
    "the IP's reset left undriven": (
        "zcu104", "connect_bd_net [get_bd_pins $flow_dma_name/axi_resetn] [get_bd_pins $flow_ip_cell/ap_rst_n]\n", "",
        "reset pin /flow_nn_0/ap_rst_n is undriven"),
    "the board preset's second UltraScale+ master left on": (
        "zcu104", "CONFIG.PSU__USE__M_AXI_GP1 {0}", "",
        "clock pin /zynq_ultra_ps_e_0/maxihpm1_fpd_aclk is undriven"),
    "the S2MM channel not on DDR": (
        "kv260", "foreach channel {M_AXI_MM2S M_AXI_S2MM}", "foreach channel {M_AXI_MM2S}",
        "/axi_dma_0/M_AXI_S2MM reaches no DDR port of the PS"),
}
REFUSED = {
    "the Zynq-7000 make_external on the UltraScale+ PS rule": (
        "ultra96-v2", 'rule_config {apply_board_preset "1"}', 'rule_config {make_external "FIXED_IO, DDR" apply_board_preset "1"}',
        "rule xilinx.com:bd_rule:zynq_ultra_ps_e takes no config key 'make_external'"),
    "a clkrst automation on the IP's clock once it is on the DMA's clock net": (
        "pynq-z2", "validate_bd_design\n",
        "apply_bd_automation -rule xilinx.com:bd_rule:clkrst -config {Clk Auto} [get_bd_pins $flow_ip_cell/ap_clk]\n"
        "validate_bd_design\n",
        "/flow_nn_0/ap_clk is already on /processing_system7_0/FCLK_CLK0; Vivado offers no clkrst automation there"),
}


def broken_design(work: Path, text: str, replacement: str) -> Path:
    from flow.build.steps.bitstream import BLOCK_DESIGN

    source = BLOCK_DESIGN.read_text()
    assert source.count(text) == 1, f"boards/block_design.tcl changed: update the broken variant that replaces {text!r}"
    design = work / "broken_block_design.tcl"
    design.write_text(source.replace(text, replacement))
    return design


@needs_tclsh
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_checks_find_each_broken_design(case, our_design, tmp_path):
    board_name, text, replacement, fault = BROKEN[case]
    run, graph_path, _, _ = our_design(board_name, tmp_path, broken_design(tmp_path, text, replacement))
    assert run.returncode == 0, run.stderr
    assert fault in "\n".join(wiring_faults(Graph.read(graph_path)))


@needs_tclsh
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_stub_refuses_what_vivado_would(case, our_design, tmp_path):
    board_name, text, replacement, refusal = REFUSED[case]
    run, _, _, _ = our_design(board_name, tmp_path, broken_design(tmp_path, text, replacement))
    assert run.returncode != 0 and refusal in run.stderr, run.stderr
