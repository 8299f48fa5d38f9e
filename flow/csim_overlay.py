"""The csim target: a stand-in for the PYNQ overlay whose AXI DMA feeds the build's hls4ml C simulation.

The board driver (flow/deploy/pynq_driver.py) runs unchanged against it: it encodes, fills the buffers this
object allocates, starts both DMA channels and polls their idle bits. Once both channels run, the
stand-in plays the free-running IP: it reads the input words back as fixed-point values (by integer
arithmetic, independent of the driver's codec), runs them through the compiled hls4ml model, and
writes the output words.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .build.artifacts import HLS4ML_LOG, HLS_CONFIG, SOURCE, load_hls_model
from .deploy.pynq_driver import fixed_match
from .errors import FlowError
from .hls4ml.csim import compile_and_predict


def fixed_format(precision: str) -> tuple[int, int, bool]:
    """(width, fractional bits, signed) of an hls4ml precision string."""
    kind, width, integer, *_ = fixed_match(precision).groups()
    return int(width), int(width) - int(integer), kind == "fixed"


class _Channel:
    def __init__(self, on_start):
        self.buffer, self.idle, self._on_start = None, True, on_start

    def transfer(self, buffer) -> None:
        self.buffer, self.idle = buffer, False
        self._on_start()


class _DMA:
    """Completes once both channels run, if the words sent are whole samples and the receive buffer holds
    exactly their outputs."""

    def __init__(self, run, layout: dict, stalled: bool):
        self.sendchannel, self.recvchannel = _Channel(self._started), _Channel(self._started)
        self._run, self._layout, self._stalled = run, layout, stalled

    def _started(self) -> None:
        sent, target = self.sendchannel, self.recvchannel
        if self._stalled or sent.idle or target.idle:
            return
        samples, partial = divmod(sent.buffer.size, self._layout["words_per_sample"])
        if partial or samples * self._layout["outputs_per_sample"] != target.buffer.size:
            # a real IP would wait for the rest of a sample, or the DMA for words that never come:
            # the driver times out
            return
        target.buffer[:] = self._run(sent.buffer)
        sent.idle = target.idle = True


class CsimOverlay:
    """Has the DMA attribute the bundle names; `allocate` gives plain numpy buffers. stalled: never finishes."""

    def __init__(self, build_dir: Path, metadata: dict, stalled: bool = False):
        self._build_dir = Path(build_dir)
        self._model, self._metadata = None, metadata
        layout = {"words_per_sample": int(np.prod(metadata["input"]["shape"][1:])),
                  "outputs_per_sample": int(np.prod(metadata["output"]["shape"][1:]))}
        setattr(self, metadata["dma"], _DMA(self._ip, layout, stalled))

    @staticmethod
    def allocate(shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def _ip(self, words: np.ndarray) -> np.ndarray:
        width, fraction, signed = fixed_format(self._metadata["input"]["precision"])
        codes = words.astype(np.int64)
        if not signed:
            codes &= (1 << words.dtype.itemsize * 8) - 1
        values = codes / float(1 << fraction)
        sample_shape = self._metadata["input"]["shape"][1:]
        perm = self._metadata["input"].get("perm")
        hls_shape = [sample_shape[p - 1] for p in perm[1:]] if perm else sample_shape
        compiled = self._model is not None
        if not compiled:
            self._model = load_hls_model(self._build_dir)
        outputs = compile_and_predict(self._model, np.ascontiguousarray(values.reshape(len(words), *hls_shape)),
                                      self._build_dir / HLS4ML_LOG, compile=not compiled)
        _, out_fraction, _ = fixed_format(self._metadata["output"]["precision"])
        return np.rint(outputs * float(1 << out_fraction)).astype(np.int64)


def csim_connection(bundle: Path, stalled: bool = False):
    """The driver's `connect` for the csim target: the bundle's own build (its parent folder) behind a simulated DMA."""
    build_dir = Path(bundle).resolve().parent

    def connect(metadata: dict):
        if not (build_dir / HLS_CONFIG).is_file() or not (build_dir / SOURCE).is_file():
            raise FlowError(f"the csim target runs the build the bundle came from, and {build_dir} is not one; "
                            "pass the bundle/ folder inside a flow compile build dir")
        overlay = CsimOverlay(build_dir, metadata, stalled)
        return overlay, overlay.allocate

    return connect
