"""Flow's hand-written counting, report reading and equalization against the libraries that offer the same kind of
thing (qonnx's inference_cost, hls4ml's parse_vivado_report, Brevitas' EqualizeGraph): where they agree, and the
differences that keep flow's own code (the comments at that code say which)."""
import contextlib
import copy
import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import LENET5, REPO
from torch import fx, nn

from flow.compress.accounting import account
from flow.compress.equalize import apply_scales, equalization_scales
from flow.compress.projections import optimal_step, prune_top_k, quantize_nonzero
from flow.reports.vivado import read_utilization
from flow.zoo import LeNet5, build_model, compressible_layers, load_checkpoint


def _qonnx_node_costs(model: torch.nn.Module, path: Path, discount_sparsity: bool) -> list[dict]:
    """qonnx's inference_cost per Conv/Gemm/MatMul node in graph order, of the model exported like the export step."""
    from brevitas.export import export_qonnx
    from qonnx.util.inference_cost import inference_cost

    if not path.is_file():
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            export_qonnx(model, torch.zeros(1, *model.input_shape), export_path=str(path))
    result = inference_cost(str(path), discount_sparsity=discount_sparsity, cost_breakdown=True)
    assert result["total_cost"]["unsupported"] == "set()"
    return list(result["node_cost"].values())


def _mac(cost: dict) -> tuple[float, str]:
    """(MACs, weight datatype) of one node's `op_mac_<input>_<weight>` entry."""
    (key, macs), = ((k, v) for k, v in cost.items() if k.startswith("op_mac_"))
    return macs, key.split("_")[3]


@pytest.mark.parametrize("checkpoint", [LENET5, REPO / "models" / "lenet-digits.pt"], ids=lambda p: p.stem)
def test_mac_counts_equal_qonnx_inference_cost(checkpoint, tmp_path):
    """Dense MACs (padding, pooling and flatten included) equal qonnx's op_mac without sparsity discount; on the
    ADMM model the kept MACs equal it with the discount. The weight width qonnx sees is the Quant node's: one bit
    more than ADMM-NN's n-bit level code, which is why mac_bits (Table 8) is not qonnx's total_bops."""
    model, blob = load_checkpoint(checkpoint)
    levels = blob.get("weight_levels") or {}
    rows = account(model, compressible_layers(model), levels, model.input_shape)["layers"]
    dense = _qonnx_node_costs(model, tmp_path / "model.onnx", discount_sparsity=False)
    assert len(dense) == len(rows) == 4
    assert [row["macs_dense"] for row in rows] == [_mac(cost)[0] for cost in dense]
    if not levels:
        return
    kept = _qonnx_node_costs(model, tmp_path / "model.onnx", discount_sparsity=True)
    assert [row["macs"] for row in rows] == [_mac(cost)[0] for cost in kept]
    assert sum(row["macs"] for row in rows) < sum(row["macs_dense"] for row in rows) / 3
    assert [_mac(cost)[1] for cost in kept] == [f"SCALEDINT<{levels[row['name']]['bits'] + 1}>" for row in rows]


def _level_error(original: dict[str, np.ndarray], rescaled: dict[str, np.ndarray], bits: dict[str, int]) -> float:
    """flow's equalization objective, recomputed: each layer's level quantization error in original units,
    relative to the layer's energy."""
    error = 0.0
    for name, before in original.items():
        after = rescaled[name].astype(np.float64)
        quantized = quantize_nonzero(after, optimal_step(after[after != 0], bits[name]), bits[name])
        ratio = np.divide(before, after, out=np.zeros_like(after), where=after != 0)
        error += np.sum(((after - quantized) * ratio) ** 2) / np.sum(before**2)
    return error


class _KeepLayers(fx.Tracer):
    def is_leaf_module(self, module, name):
        return isinstance(module, (nn.Conv2d, nn.Linear)) or super().is_leaf_module(module, name)


def test_brevitas_equalize_graph_misses_a_link_and_fits_admm_levels_worse_than_flows_equalization():
    """A pruned LeNet-5 with output channels of very different ranges, at ADMM-NN's 3/2/3/3-bit levels. Brevitas'
    EqualizeGraph (on the same layers written with nn.MaxPool2d/nn.ReLU modules, the only pooling and ReLU it
    crosses) keeps the function and the masks, but links only conv1-conv2 and fc1-fc2 (not conv2-fc1 across the
    flatten), and its range-matching scales raise the level error that flow's equalization lowers."""
    from brevitas.graph.equalize import EqualizeGraph

    bits = {"conv1": 3, "conv2": 2, "fc1": 3, "fc2": 3}
    keep = {"conv1": 150, "conv2": 1233, "fc1": 1128, "fc2": 300}
    torch.manual_seed(1)
    model = build_model("lenet5").eval()
    with torch.no_grad():
        for name, layer in compressible_layers(model).items():
            spread = 4.0 ** torch.empty(layer.weight.shape[0]).uniform_(-1, 1)
            layer.weight.mul_(spread.reshape(-1, *[1] * (layer.weight.dim() - 1)))
            layer.weight.copy_(torch.from_numpy(prune_top_k(layer.weight.numpy(), keep[name])))
    original = {name: layer.weight.detach().numpy().astype(np.float64)
                for name, layer in compressible_layers(model).items()}
    inputs = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        reference = model(inputs)

    theirs = copy.deepcopy(model)
    sequential = nn.Sequential(theirs.conv1, nn.MaxPool2d(2), theirs.conv2, nn.MaxPool2d(2), nn.Flatten(),
                               theirs.fc1, nn.ReLU(), theirs.fc2)
    graph = fx.GraphModule(sequential, _KeepLayers().trace(sequential))
    equalized, regions = EqualizeGraph(return_regions=True).apply(graph)
    index = {"0": "conv1", "2": "conv2", "5": "fc1", "7": "fc2"}
    linked = sorted((index[r.srcs_names[0]], index[r.sinks_names[0]]) for r in regions)
    assert linked == [("conv1", "conv2"), ("fc1", "fc2")]
    with torch.no_grad():
        assert torch.allclose(equalized(inputs), reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
    brevitas = {name: layer.weight.detach().numpy() for name, layer in compressible_layers(theirs).items()}

    scales, record = equalization_scales({name: w.astype(np.float32) for name, w in original.items()}, bits,
                                         LeNet5.channel_links)
    apply_scales(compressible_layers(model), LeNet5.channel_links, scales)
    ours = {name: layer.weight.detach().numpy() for name, layer in compressible_layers(model).items()}

    for name, weight in original.items():
        assert np.array_equal(brevitas[name] != 0, weight != 0), name
    unequalized, with_brevitas, with_flow = (_level_error(original, w, bits) for w in (original, brevitas, ours))
    assert with_flow == pytest.approx(record["relative_error_after"], rel=1e-5)
    assert with_flow < unequalized < with_brevitas


def _as_hls4ml_project(tmp: Path, test_report: Path, utilization: Path) -> Path:
    """The layout hls4ml's parse_vivado_report reads, with `utilization` as its vivado_synth.rpt."""
    tmp.mkdir()
    (tmp / "project.tcl").write_text('set project_name "myproject"\nset backend "vivado"\n')
    report_dir = tmp / "myproject_prj" / "solution1" / "syn" / "report"
    report_dir.mkdir(parents=True)
    shutil.copy(test_report / "vivado_hls.app", tmp / "myproject_prj" / "vivado_hls.app")
    (report_dir / "myproject_csynth.xml").symlink_to(test_report / "myproject_csynth.xml")
    (tmp / "vivado_synth.rpt").symlink_to(utilization)
    return tmp


def test_every_number_hls4ml_reads_from_a_flat_utilization_report_flow_reads_the_same(shared_dir, tmp_path):
    """Every flat report_utilization in the reference sets (synthesis, placed, routed; 7-series and UltraScale) read
    by hls4ml as a vivado_synth.rpt and by flow. Where hls4ml finds a row, the numbers agree (hls4ml files 36 Kb
    tiles under BRAM_18K); on placed and routed reports its section-number rule finds no BRAM or DSP row."""
    from hls4ml.report import parse_vivado_report

    reference = shared_dir / "reference"
    test_report = reference / "hls4ml_repo_test_data" / "test_report" / "Vivado"
    reports = [path for path in sorted((reference / "hls_reports").rglob("*.rpt")) + [test_report / "vivado_synth.rpt"]
               if "utilization" in path.name or path.name == "vivado_synth.rpt"]
    reports = [path for path in reports if "Utilization by Hierarchy" not in path.read_text(errors="replace")]
    missed = []
    for number, path in enumerate(reports):
        with contextlib.redirect_stdout(io.StringIO()):
            theirs = parse_vivado_report(str(_as_hls4ml_project(tmp_path / str(number), test_report, path)))
        theirs = theirs["VivadoSynthReport"]
        ours = read_utilization(path)
        expected = {"LUT": ours.lut, "FF": ours.ff, "DSP48E": ours.dsp, "BRAM_18K": ours.bram_tiles, "URAM": ours.uram}
        assert {key: float(value) for key, value in theirs.items()} == {key: expected[key] for key in theirs}, path
        if "DSP48E" not in theirs and ours.dsp:
            missed.append(path.name)
    assert len(reports) >= 15
    assert "design_1_wrapper_utilization_placed.rpt" in missed and "vivado_utilization.rpt" in missed
