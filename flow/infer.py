"""`flow infer`: inputs through a bundle's board driver, on the board (pynq) or on its build's C simulation (csim).

Both targets run the same driver class (flow/deploy/pynq_driver.py, shipped as bundle/driver.py):
encode, DMA buffers, transfers, bounded waits, decode. On csim its overlay is the stand-in of
flow/deploy/csim_overlay.py, whose DMA feeds the build's hls4ml C simulation.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .deploy.archive import unpack
from .deploy.csim_overlay import csim_connection
from .deploy.pynq_driver import METADATA, Accelerator, BundleError
from .errors import FlowError

TARGETS = ("csim", "pynq")


def bundle_folder(path: Path) -> Path:
    """A bundle folder, or the bundle/ inside a build dir."""
    path = Path(path)
    for candidate in (path, path / "bundle"):
        if (candidate / METADATA).is_file():
            return candidate
    raise FlowError(f"{path} holds no bundle (no {METADATA}); run 'flow compile --out {path}' first, "
                    "or pass the bundle/ folder or the archive it wrote")


@contextmanager
def opened_bundle(path: Path):
    """bundle_folder(path), or a `flow deploy` archive unpacked for the duration of the call."""
    path = Path(path)
    if not path.is_file():
        yield bundle_folder(path)
        return
    with tempfile.TemporaryDirectory(prefix="flow-bundle-") as scratch:
        yield unpack(path, Path(scratch))


def accelerator(path: Path, target: str = "csim", timeout_s: float = 5.0) -> Accelerator:
    """The board driver for a bundle folder, connected to the board (pynq) or to its build's C simulation (csim)."""
    if target not in TARGETS:
        raise FlowError(f"unknown target '{target}'; targets are: {', '.join(TARGETS)}")
    bundle = bundle_folder(path)
    try:
        return Accelerator(bundle, connect=csim_connection(bundle) if target == "csim" else None, timeout_s=timeout_s)
    except BundleError as exc:
        raise FlowError(str(exc)) from None


def test_vectors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The inputs the build verified on and the csim outputs compile recorded for them."""
    with opened_bundle(path) as bundle:
        return np.load(bundle / "test_inputs.npy"), np.load(bundle / "test_outputs_csim.npy")


def infer(path: Path, inputs: np.ndarray, target: str = "csim", timeout_s: float = 5.0) -> np.ndarray:
    """Outputs of the compiled model for inputs shaped like the model input, with or without the batch axis."""
    with opened_bundle(path) as bundle:
        device = accelerator(bundle, target, timeout_s)
        try:
            return device.predict(inputs)
        except BundleError as exc:
            raise FlowError(str(exc)) from None
