"""Content hashes that decide whether a rerun of `flow compile` may reuse a finished step.

Every step is a function of the build config, the model file, the MNIST files, flow's own code,
templates and board files, and which FPGA tools are installed. The build fingerprint hashes all
of them; a step is reused only when it finished under the same fingerprint, every step before it
was reused too, and its declared outputs still hash to what it wrote.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..paths import REPO_ROOT

CODE_DIRS = ("flow", "hls", "boards")
FPGA_TOOLS = ("vitis-run", "vivado", "yosys", "verilator")  # the tools the steps run (boards/README.md, docs/rtl.md)


def _add_file(digest, label: str, path: Path) -> None:
    digest.update(label.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())


def _add_tree(digest, label: str, root: Path) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        _add_file(digest, f"{label}/{path.relative_to(root).as_posix()}", path)


def build_fingerprint(config_json: dict, model: Path, data_dir: Path | None) -> str:
    digest = hashlib.sha256(json.dumps(config_json, sort_keys=True).encode())
    for directory in CODE_DIRS:
        _add_tree(digest, directory, REPO_ROOT / directory)
    if model.is_file():
        _add_file(digest, "model", model)
    if data_dir is not None and Path(data_dir).is_dir():
        for path in sorted(Path(data_dir).glob("*ubyte*")):
            _add_file(digest, f"data/{path.name}", path)
    digest.update(json.dumps({tool: shutil.which(tool) for tool in FPGA_TOOLS}).encode())
    return digest.hexdigest()


def outputs_digest(build_dir: Path, names: list[str]) -> str | None:
    """One hash over a step's declared outputs (files or folders); None when one is missing."""
    digest = hashlib.sha256()
    for name in names:
        path = build_dir / name
        if path.is_file():
            _add_file(digest, name, path)
        elif path.is_dir():
            _add_tree(digest, name, path)
        else:
            return None
    return digest.hexdigest()
