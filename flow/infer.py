"""`flow infer`: inputs through a bundle's board driver, on the board (pynq) or on its build's C simulation (csim).

Both targets run the same driver class (flow/deploy/pynq_driver.py, shipped as bundle/driver.py):
encode, DMA buffers, transfers, bounded waits, decode. On csim its overlay is the stand-in of
flow/csim_overlay.py, whose DMA feeds the build's hls4ml C simulation.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .csim_overlay import csim_connection
from .deploy.archive import unpack
from .deploy.pynq_driver import METADATA, TEST_INPUTS, TEST_OUTPUTS, Accelerator, BundleError
from .errors import FlowError

TARGETS = ("csim", "pynq")


@dataclass(frozen=True)
class InferResult:
    """The compiled model's outputs, one row per input, and where they were computed."""

    outputs: np.ndarray  # (inputs, output values), decoded from the IP's fixed-point words
    target: str  # csim or pynq

    @property
    def classes(self) -> np.ndarray:
        return self.outputs.argmax(1)


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
        return np.load(bundle / TEST_INPUTS), np.load(bundle / TEST_OUTPUTS)


def infer(path: Path, inputs: np.ndarray, target: str = "csim", timeout_s: float = 5.0) -> InferResult:
    """The compiled model on inputs shaped like the model input (with or without the batch axis), through the
    bundle's board driver: on the board (pynq), or on the build's C simulation (csim).

    `path` is a bundle folder, the build dir holding one, or a `flow deploy` archive.

    Example::

        result = flow.infer(Path("build/lenet-digits-pynq-z2"), images)  # images: (N, 1, 8, 8) floats
        result.classes                                                   # predicted class per image
    """
    with opened_bundle(path) as bundle:
        device = accelerator(bundle, target, timeout_s)
        try:
            return InferResult(outputs=device.predict(inputs), target=target)
        except BundleError as exc:
            raise FlowError(str(exc)) from None
