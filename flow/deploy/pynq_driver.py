"""Board-side driver for a flow bundle: PYNQ overlay, AXI DMA, vectorised fixed-point encode/decode.

Shipped into every bundle as driver.py. Runs on the board's own Python (PYNQ 3.1: Python 3.10) with
numpy and pynq only, so it imports nothing from flow.

    python driver.py selftest  [--bundle DIR] [--timeout S]   # test vectors through the FPGA, compared
    python driver.py benchmark [--bundle DIR] [--batch N] [--repeats R]

Stream format (metadata.json "input" / "output"): one value per stream word, the ap_fixed bits
sign-extended into a little-endian container of 8, 16, 32 or 64 bits; samples back to back in
the model's HLS layout (NHWC for images), one DMA transfer per batch each way. The IP
(hls/flow_axis_top.h) is free-running, with no register to write: it takes samples as they come and
ends the batch's output with TLAST where the send channel ended its input. pynq's DMA wait() has no
timeout, so the driver polls the channel's idle bit against a deadline instead.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

METADATA, MANIFEST = "metadata.json", "manifest.json"
TEST_INPUTS, TEST_OUTPUTS = "test_inputs.npy", "test_outputs_csim.npy"  # the build's verify inputs and csim outputs
FIXED = re.compile(r"^(u?fixed)<(\d+),(-?\d+)(?:,([A-Z_]+))?(?:,([A-Z_]+))?(?:,\d+)?>$")
INTEGER = re.compile(r"^(u?)int<(\d+)>$")


def fixed_match(precision: str):
    """FIXED's match of an hls4ml precision string, an integer type int<W> / uint<W> read as fixed<W,W> /
    ufixed<W,W>; None for others."""
    text = precision.replace(" ", "")
    integer = INTEGER.match(text)
    if integer:
        text = f"{integer.group(1)}fixed<{integer.group(2)},{integer.group(2)}>"
    return FIXED.match(text)
CONTAINERS = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}


class BundleError(Exception):
    """A problem with the bundle, the inputs or the transfer; its message names the fix."""


class DMATimeoutError(BundleError):
    pass


def container_bits(width: int) -> int:
    for bits in CONTAINERS:
        if width <= bits:
            return bits
    raise BundleError(f"a {width}-bit stream value does not fit a 64-bit container; narrow the model's precision")


class FixedPoint:
    """ap_fixed<W,I,Q,O> / ap_ufixed conversion, vectorised: floats -> integer codes -> floats."""

    ROUNDING = {
        "TRN": np.floor,
        "TRN_ZERO": np.trunc,
        "RND": lambda v: np.floor(v + 0.5),
        "RND_ZERO": lambda v: np.where(v >= 0, np.ceil(v - 0.5), np.floor(v + 0.5)),
        "RND_MIN_INF": lambda v: np.ceil(v - 0.5),
        "RND_INF": lambda v: np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5)),
        "RND_CONV": np.rint,  # half to even
    }
    OVERFLOW = ("WRAP", "SAT", "SAT_SYM", "SAT_ZERO")

    def __init__(self, precision: str):
        match = fixed_match(precision)
        if not match:
            raise BundleError(f"unsupported precision {precision!r}; the driver reads fixed<W,I,...>, ufixed<W,I,...>, "
                              "int<W> and uint<W>")
        kind, width, integer, rounding, overflow = match.groups()
        self.precision, self.signed = precision, kind == "fixed"
        self.width, self.fraction = int(width), int(width) - int(integer)
        self.rounding, self.overflow = rounding or "TRN", overflow or "WRAP"
        if self.rounding not in self.ROUNDING or self.overflow not in self.OVERFLOW:
            raise BundleError(f"unsupported rounding/overflow in {precision!r}")
        self.bits = container_bits(self.width)
        self.dtype = CONTAINERS[self.bits]
        self.low = -(1 << (self.width - 1)) if self.signed else 0
        self.high = (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def encode(self, values: np.ndarray) -> np.ndarray:
        scaled = self.ROUNDING[self.rounding](np.asarray(values, dtype=np.float64) * 2.0 ** self.fraction)
        if self.overflow == "WRAP":
            # two's complement wrap to W bits, on int64 so every container width wraps the same way
            codes = np.mod(scaled, 2.0 ** self.width).astype(np.int64)
            if self.signed:
                codes = np.where(codes > self.high, codes - (1 << self.width), codes)
        else:
            low = self.low + 1 if self.overflow == "SAT_SYM" and self.signed else self.low
            clipped = np.clip(scaled, low, self.high)
            if self.overflow == "SAT_ZERO":
                clipped = np.where((scaled < low) | (scaled > self.high), 0, clipped)
            codes = clipped.astype(np.int64)
        return codes.astype(self.dtype)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes).astype(np.int64)
        if not self.signed:
            codes = np.mod(codes, 1 << self.bits)  # the container's sign bit is a value bit for ufixed
        return codes * 2.0 ** -self.fraction


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_bundle(bundle: Path) -> dict:
    """metadata.json, after every file in manifest.json matched its sha256: nothing loads from a damaged bundle."""
    bundle = Path(bundle)
    for name in (METADATA, MANIFEST):
        if not (bundle / name).is_file():
            raise BundleError(f"{bundle} has no {name}; copy the whole bundle/ folder that flow compile wrote")
    try:
        manifest = json.loads((bundle / MANIFEST).read_text())
        metadata = json.loads((bundle / METADATA).read_text())
    except ValueError as exc:
        raise BundleError(f"{bundle}: unreadable {MANIFEST} or {METADATA} ({exc}); copy the bundle again") from None
    for name, digest in manifest.items():
        if Path(name).name != name or name in ("", ".", ".."):
            raise BundleError(f"{bundle / MANIFEST} lists '{name}', which is not a file of the bundle folder; "
                              "rebuild the bundle with flow compile")
        path = bundle / name
        if not path.is_file():
            raise BundleError(f"{bundle} lacks {name}, listed in {MANIFEST}; copy the whole bundle again")
        if sha256(path) != digest:
            raise BundleError(f"{path} does not match its sha256 in {MANIFEST}; copy the bundle again")
    for required in ("input", "output", "dma"):
        if required not in metadata:
            raise BundleError(f"{bundle / METADATA} has no '{required}'; rebuild the bundle with flow compile")
    return metadata


class Accelerator:
    """The compiled model behind an AXI DMA: predict(x) encodes, transfers, waits (bounded) and decodes."""

    def __init__(self, bundle, connect=None, timeout_s: float = 5.0):
        """connect(metadata) -> (overlay, allocate); by default the bundle's bitstream through pynq."""
        self.bundle = Path(bundle)
        self.metadata = read_bundle(self.bundle)
        self.timeout_s = timeout_s
        self.overlay, self.allocate = (connect or self._load_overlay)(self.metadata)
        self.dma = self._cell(self.metadata["dma"], "the AXI DMA")
        self.input_codec = FixedPoint(self.metadata["input"]["precision"])
        self.output_codec = FixedPoint(self.metadata["output"]["precision"])
        self.sample_shape = tuple(self.metadata["input"]["shape"][1:])
        self.perm = self.metadata["input"].get("perm")
        self.output_size = int(np.prod(self.metadata["output"]["shape"][1:]))

    def _load_overlay(self, metadata: dict):
        bitstream = metadata.get("bitstream")
        if not bitstream:
            raise BundleError(f"{self.bundle} has no bitstream (it was built without Vivado); "
                              "rebuild with Vivado on PATH, or run the csim target: flow infer --bundle DIR --target csim")
        try:
            import pynq
        except ImportError:
            raise BundleError("pynq is not installed; run the driver on a PYNQ board image") from None
        try:
            return pynq.Overlay(str(self.bundle / bitstream)), pynq.allocate
        except Exception as exc:  # pynq raises RuntimeError("No Devices Found") off the board
            raise BundleError(f"cannot load {bitstream} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                              "run on the PYNQ board the bundle was built for") from None

    def _cell(self, name: str, what: str):
        """The overlay's handle on a block-design cell. PYNQ's overlay has one for each cell its register map
        (ip_dict, read from the .hwh) lists, and that map holds only the cells the PS can address."""
        try:
            return getattr(self.overlay, name)
        except AttributeError:
            listed = ", ".join(sorted(getattr(self.overlay, "ip_dict", {}))) or "no cells"
            raise BundleError(f"the overlay has no cell {name} ({what}); the register map of its .hwh lists "
                              f"{listed}. The bitstream was not built for this bundle: rebuild it with "
                              "flow compile --bitstream (boards/block_design.tcl) and copy the new bundle") from None

    def _check(self, inputs) -> np.ndarray:
        inputs = np.asarray(inputs)
        if inputs.shape == self.sample_shape:
            inputs = inputs[None]
        if inputs.shape[1:] != self.sample_shape or inputs.dtype.kind not in "iuf":
            raise BundleError(f"input has shape {inputs.shape} and dtype {inputs.dtype}; the model takes real numbers "
                              f"shaped (N, {', '.join(map(str, self.sample_shape))})")
        if inputs.dtype.kind == "f" and not np.isfinite(inputs).all():
            raise BundleError("input holds NaN or Inf; the fixed-point input format has no code for them")
        return inputs

    def encode(self, inputs: np.ndarray) -> np.ndarray:
        hls_layout = inputs.transpose(self.perm) if self.perm else inputs
        return self.input_codec.encode(hls_layout.reshape(len(inputs), -1))

    def _wait(self, channel, what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not channel.idle:
            if time.monotonic() > deadline:
                raise DMATimeoutError(f"DMA {what} did not finish within {self.timeout_s:g} s; check that the "
                                      "bitstream matches this bundle and reload the overlay (or raise --timeout)")
            time.sleep(0)

    def _transfer(self, words: np.ndarray) -> np.ndarray:
        source = self.allocate(shape=words.shape, dtype=self.input_codec.dtype)
        target = self.allocate(shape=(len(words), self.output_size), dtype=self.output_codec.dtype)
        try:
            source[:] = words
            self.dma.recvchannel.transfer(target)  # armed first: the free-running IP answers at once
            self.dma.sendchannel.transfer(source)
            self._wait(self.dma.sendchannel, "send (MM2S)")
            self._wait(self.dma.recvchannel, "receive (S2MM)")
            return np.array(target)
        finally:
            for buffer in (source, target):
                if hasattr(buffer, "freebuffer"):
                    buffer.freebuffer()

    def predict(self, inputs, batch_size: int = 256) -> np.ndarray:
        inputs = self._check(inputs)
        words = self.encode(inputs)
        outputs = [self._transfer(words[start:start + batch_size]) for start in range(0, len(words), batch_size)]
        return self.output_codec.decode(np.concatenate(outputs))

    def selftest(self) -> dict:
        inputs = np.load(self.bundle / TEST_INPUTS)
        expected = np.load(self.bundle / TEST_OUTPUTS).reshape(len(inputs), -1)
        outputs = self.predict(inputs)
        mismatched = int(np.sum(np.any(outputs != expected, axis=1)))
        return {"samples": len(inputs), "mismatched": mismatched, "passed": mismatched == 0,
                "argmax_agreement": float(np.mean(outputs.argmax(1) == expected.argmax(1)))}

    def benchmark(self, batch_size: int = 256, repeats: int = 5) -> dict:
        inputs = np.load(self.bundle / TEST_INPUTS)
        inputs = np.resize(inputs, (batch_size, *inputs.shape[1:]))
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            self.predict(inputs, batch_size=batch_size)
            times.append(time.perf_counter() - started)
        best = min(times)
        return {"batch_size": batch_size, "repeats": repeats, "inferences_per_s": batch_size / best,
                "batch_latency_s": best}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="flow bundle driver (PYNQ)")
    parser.add_argument("command", choices=["selftest", "benchmark"])
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parent))
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds each DMA transfer may take")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        accelerator = Accelerator(args.bundle, timeout_s=args.timeout)
        if args.command == "selftest":
            result = accelerator.selftest()
        else:
            result = accelerator.benchmark(args.batch, args.repeats)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0 if result.get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
