"""`flow infer`: run inputs through a compiled build's C simulation (the csim target)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .boards import load_board
from .config import BuildConfig, StepContext
from .errors import FlowError
from .steps.csim import compile_and_predict, to_hls_layout
from .steps.hls4ml_project import load_hls_model


def _require_csim_build(build_dir: Path) -> None:
    if not (build_dir / "csim_meta.json").is_file() or not (build_dir / "config.json").is_file():
        raise FlowError(f"{build_dir} holds no finished csim build; run 'flow compile --out {build_dir}' first")


def _context(build_dir: Path) -> StepContext:
    _require_csim_build(build_dir)
    config_path = build_dir / "config.json"
    fields = json.loads(config_path.read_text())
    config = BuildConfig(board=fields["board"], out=build_dir)
    return StepContext(config=config, board=load_board(config.board), build_dir=build_dir)


def test_vectors(build_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The inputs the build verified on and the csim outputs compile recorded for them."""
    build_dir = Path(build_dir)
    _require_csim_build(build_dir)
    return np.load(build_dir / "verify_inputs.npy"), np.load(build_dir / "csim_outputs.npy")


def infer(build_dir: Path, inputs: np.ndarray) -> np.ndarray:
    """Outputs of the compiled model for inputs shaped like the model input, with or without the batch axis."""
    build_dir = Path(build_dir)
    context = _context(build_dir)
    graph = json.loads((build_dir / "graph.json").read_text())
    sample_shape = tuple(graph["input_shape"][1:])
    inputs = np.asarray(inputs)
    if inputs.shape == sample_shape:
        inputs = inputs[None]
    if inputs.shape[1:] != sample_shape or not np.issubdtype(inputs.dtype, np.number):
        raise FlowError(f"input has shape {inputs.shape} and dtype {inputs.dtype}; the model takes numbers shaped "
                        f"(N, {', '.join(map(str, sample_shape))})")
    hls_model = load_hls_model(context)
    return compile_and_predict(hls_model, to_hls_layout(inputs.astype(np.float32), graph["input_perm"]),
                               build_dir / "hls4ml.log")
