"""`flow report`: the build summary as a terminal table and report.md."""
from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from .errors import FlowError
from .paths import atomic_write_text


def load_summary(build_dir: Path) -> dict:
    path = Path(build_dir) / "summary.json"
    if not path.is_file():
        raise FlowError(f"no summary.json in {build_dir}; run 'flow compile --out {build_dir}' first")
    return json.loads(path.read_text())


def _step_note(record: dict) -> str:
    skip = {"status", "seconds", "error"}
    return record.get("error") or ", ".join(f"{k}={v}" for k, v in record.items() if k not in skip and not isinstance(v, dict))


def summary_table(summary: dict) -> Table:
    table = Table(title=f"flow compile: {summary['model']} on {summary['board']} ({summary['part']})")
    for column in ("step", "status", "seconds", "details"):
        table.add_column(column)
    for name, record in summary["steps"].items():
        table.add_row(name, record["status"], f"{record['seconds']:.1f}", _step_note(record))
    return table


def verification_lines(summary: dict) -> list[str]:
    verification = summary.get("verification")
    if not verification:
        return ["verification: not run"]
    lines = [f"verification on {verification['n_samples']} {verification['dataset']} samples "
             f"(output {verification['output_precision']}, 1 LSB = {verification['output_lsb']:g}): "
             f"{'passed' if verification['passed'] else 'FAILED'}"]
    for pair in ("csim_vs_qonnx", "qonnx_vs_brevitas"):
        if pair in verification:
            result = verification[pair]
            lines.append(f"  {pair}: argmax agreement {result['argmax_agreement']:.4f}, "
                         f"max |diff| {result['max_diff_lsb']:.3g} LSB")
    if "accuracy" in verification:
        lines.append(f"  accuracy vs labels: csim {verification['accuracy']['csim']:.4f}, "
                     f"qonnx {verification['accuracy']['qonnx']:.4f}")
    return lines


def write_report(build_dir: Path) -> Path:
    summary = load_summary(build_dir)
    rows = ["| step | status | seconds | details |", "|---|---|---|---|"]
    rows += [f"| {name} | {r['status']} | {r['seconds']:.1f} | {_step_note(r)} |" for name, r in summary["steps"].items()]
    text = "\n".join([f"# flow build report: {summary['model']} on {summary['board']} ({summary['part']})", "",
                      *rows, "", *verification_lines(summary), ""])
    path = Path(build_dir) / "report.md"
    atomic_write_text(path, text)
    return path
