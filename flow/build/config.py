"""What `flow compile` builds: one field per setting of the build config file, most with a CLI flag.

A build config is a YAML file of these fields (`flow compile --config build.yaml`, examples in
models/builds/); flags given on the command line override it. Paths in it are relative to the current
directory, as hls4ml's OutputDir is (FINN's build configs resolve against their own folder instead).
`layers:` sets single layers in hls4ml's names::

    model: models/lenet5-admm-joint.pt
    data_dir: ../shared/data/mnist
    target_fps: 50000
    layers:
      conv1: {Strategy: Latency}              # pinned: the chooser picks only the other layers' kernels
      fc1: {Strategy: Sparse, PEs: 4}         # flow's sparse kernel at 4 PEs
      fc2: {Strategy: Resource, ReuseFactor: 10, Precision: {accum: "fixed<24,12>"}}
"""
from __future__ import annotations

import functools
import re
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from ..errors import FlowError

DEFAULT_BOARD = "pynq-z2"
# hls4ml's strategies and flow's sparse kernel, as a layer's `Strategy` names them
LAYER_STRATEGIES = ("Latency", "Resource", "distributed_arithmetic", "Sparse")
# a layer's keys that pin its kernel: hls4ml's Strategy and ReuseFactor, and flow's PE count of a sparse layer
KERNEL_KEYS = ("Strategy", "ReuseFactor", "PEs")
LAYER_KEYS = (*KERNEL_KEYS, "Precision")
PRECISION_VARIABLES = ("weight", "bias", "result", "accum")  # hls4ml's names of a layer's typed variables
# an hls4ml type as a config names it: fixed<16,6>, ufixed<8,0,RND,SAT>, int<8>, ap_fixed<...>, or auto
HLS_TYPE = re.compile(r"^(auto|(ap_)?u?fixed<\s*\d+\s*,\s*-?\d+\s*(,[^<>]*)?>|(ap_)?u?int<\s*\d+\s*>)$")


@dataclass(frozen=True)
class BuildConfig:
    """The settings of one build; `config.json` in the build dir is this, resolved.

    Example::

        BuildConfig(model=Path("models/lenet5-admm-joint.pt"), data_dir=Path("../shared/data/mnist"), sparse="all")
    """

    #: board name, one of the files in boards/
    board: str = DEFAULT_BOARD
    #: QONNX .onnx, flow .pt checkpoint or (Q)Keras .h5/.keras; None: the shipped models/lenet-digits.pt
    model: Path | None = None
    #: build dir; None: build/<model>-<board>/
    out: Path | None = None
    #: folder with the MNIST IDX files, for MNIST-sized models
    data_dir: Path | None = None
    #: held-out samples the verify step compares csim on
    n_samples: int = 500
    #: restart at this step, reusing the artifacts of the steps before it
    from_step: str | None = None
    #: stop after this step (FINN's stop_step); the later steps' outputs of an earlier build are removed when a
    #: step up to it ran again; None: run every step
    to_step: str | None = None
    #: hls4ml precision for tensors no Quant node pins down
    default_precision: str = "fixed<32,16>"
    #: give batch-norm and rescale constants float32's precision (as qonnx computes them) instead of the default
    #: precision's fraction bits: quantizers after them then round as qonnx's do (needed by the MLPerf Tiny and
    #: GSCV2 keyword-spotting MLPs), at the price of wide multipliers (flow/hls4ml/rescale_types.py)
    float32_rescales: bool = False
    #: hls4ml strategy of the dense layers (the weight layers' own where sparse=auto: the chooser's)
    strategy: str = "Latency"
    #: hls4ml reuse factor of the dense layers (the weight layers' own where sparse=auto: the chooser's)
    reuse_factor: int = 1
    #: auto: the design chooser picks each weight layer's kernel (hls4ml Latency, Resource at a reuse factor, or
    #: flow's sparse kernel at a PE count) and writes design.json; or the layers pinned to the sparse kernel: all,
    #: none, or comma-separated layer names (hls4ml's, or a flow checkpoint's own), the rest dense by `strategy`
    sparse: str = "auto"
    #: with pinned sparse layers: cycle target per sparse layer and input vector, which sets its PE count;
    #: None: one PE
    sparse_cycles: int | None = None
    #: with sparse=auto: inferences per second the design must sustain at the board's clock, met at the least
    #: area; None: the highest rate that fits within max_utilization
    target_fps: float | None = None
    #: the largest share of any board resource the chosen design may take
    max_utilization: float = 0.8
    #: seed of the random verify inputs of models no dataset fits
    seed: int = 0
    #: verify on seeded random inputs of these values, also where a dataset fits: "LO,HI" (uniform in [LO, HI))
    #: or "LO,HI,STEP" (LO + k*STEP up to HI, as a quantized or bipolar input takes); None: a dataset where one
    #: fits the model, else the grid of the Quant its input goes straight into, else 0,1
    input_range: str | None = None
    #: write every weight layer as Verilog, check it bit for bit in verilator and count its cells with yosys
    #: (needs yosys, verilator and the rtl extra)
    rtl: bool = False
    #: run Vivado (block design, implementation, bitstream) where it is installed
    bitstream: bool = False
    #: build on when the estimated design exceeds the board (any resource over 100% at the implementation level)
    allow_overfull: bool = False
    #: clock period in ns the design is built and rated at; None: the board file's
    clock_period_ns: float | None = None
    #: per-layer settings in hls4ml's names (layer name -> Strategy, ReuseFactor, PEs, Precision); a layer's
    #: Strategy, ReuseFactor or PEs pins its kernel, which the chooser then keeps (needs sparse=auto)
    layers: dict = field(default_factory=dict)
    #: show rich progress bars on stderr
    show_progress: bool = True
    #: show the libraries' output (onnxruntime, TensorFlow, hls4ml, g++) instead of writing it to build.log
    verbose: bool = False

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@functools.cache
def _field_types() -> dict[str, tuple[type, bool]]:
    """Each field's base type and whether it may be None, from the annotations."""
    hints = typing.get_type_hints(BuildConfig)
    found = {}
    for item in fields(BuildConfig):
        hint = hints[item.name]
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = isinstance(hint, types.UnionType) and len(args) < len(typing.get_args(hint))
        found[item.name] = (args[0] if optional else hint, optional)
    return found


def _typed(name: str, value, source: str):
    kind, optional = _field_types()[name]
    if value is None and kind is dict:  # `layers:` with every entry commented out
        return {}
    if value is None:
        if optional:
            return None
        raise FlowError(f"{source}: {name} may not be empty")
    if kind is float and isinstance(value, str):  # YAML 1.1 reads 5e5 as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is Path and isinstance(value, str):
        value = Path(value)
    if kind is dict and name == "layers":
        return check_layers(value, source)
    if name == "input_range" and isinstance(value, list):  # [LO, HI] or [LO, HI, STEP]
        value = ",".join(str(item) for item in value)
    if name == "sparse" and isinstance(value, list):  # layer names as a YAML list
        value = ",".join(str(item) for item in value) or "none"
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        wanted = {int: "a whole number", float: "a number", bool: "true or false", str: "text", Path: "a path"}
        raise FlowError(f"{source}: {name} must be {wanted.get(kind, kind.__name__)}, got {value!r}")
    return value


def check_layers(layers, source: str) -> dict:
    """The `layers:` table checked and normalised (Strategy spelled as in LAYER_STRATEGIES)."""
    if not isinstance(layers, dict):
        raise FlowError(f"{source}: layers must map layer names to settings, "
                        "e.g. layers: {fc1: {Strategy: Sparse}}")
    checked = {}
    for name, settings in layers.items():
        where = f"{source}: layers: {name}"
        if not isinstance(settings, dict):
            raise FlowError(f"{where} must be a mapping of {', '.join(LAYER_KEYS)}")
        unknown = [key for key in settings if key not in LAYER_KEYS]
        if unknown:
            raise FlowError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(LAYER_KEYS)}")
        entry = dict(settings)
        if "Strategy" in entry:
            spelled = {strategy.lower(): strategy for strategy in LAYER_STRATEGIES}
            if str(entry["Strategy"]).lower() not in spelled:
                raise FlowError(f"{where}: unknown Strategy {entry['Strategy']!r}; "
                                f"valid: {', '.join(LAYER_STRATEGIES)}")
            entry["Strategy"] = spelled[str(entry["Strategy"]).lower()]
        for key in ("ReuseFactor", "PEs"):
            if key in entry and (not isinstance(entry[key], int) or isinstance(entry[key], bool) or entry[key] < 1):
                raise FlowError(f"{where}: {key} must be a whole number of at least 1, got {entry[key]!r}")
        if "PEs" in entry and entry.get("Strategy") != "Sparse":
            raise FlowError(f"{where}: PEs is the sparse kernel's PE count; add Strategy: Sparse or drop PEs")
        if "ReuseFactor" in entry and entry.get("Strategy") in ("Sparse", "Latency", "distributed_arithmetic"):
            raise FlowError(f"{where}: flow's chooser builds Strategy {entry['Strategy']} at reuse factor 1 (the "
                            "sparse kernel: at its PEs); drop ReuseFactor or use Strategy: Resource")
        precision = entry.get("Precision")
        given = precision if isinstance(precision, dict) else {} if precision is None else {"Precision": precision}
        bad = [key for key in given if isinstance(precision, dict) and key not in PRECISION_VARIABLES]
        if bad:
            raise FlowError(f"{where}: Precision names unknown variable {bad[0]!r}; valid: "
                            f"{', '.join(PRECISION_VARIABLES)}")
        for variable, type_name in given.items():
            if not isinstance(type_name, str) or not HLS_TYPE.match(type_name.strip()):
                raise FlowError(f"{where}: {variable} {type_name!r} is no hls4ml type; write e.g. "
                                f"\"fixed<16,6>\", \"ufixed<8,0,RND,SAT>\" or \"int<8>\" (quoted)")
        checked[str(name)] = entry
    return checked


@dataclass(frozen=True)
class InputRange:
    """The values random verify inputs take: uniform in [low, high), or low + k * step up to high."""

    low: float
    high: float
    step: float | None = None

    def sample(self, rng, shape: tuple[int, ...]):
        if self.step is None:
            return rng.uniform(self.low, self.high, shape).astype("float32")
        points = int((self.high - self.low) / self.step + 1e-9) + 1
        return (self.low + self.step * rng.integers(0, points, shape)).astype("float32")

    def __str__(self) -> str:
        return (f"uniform-random[{self.low:g},{self.high:g})" if self.step is None
                else f"random-grid[{self.low:g}..{self.high:g} step {self.step:g}]")


def parse_input_range(text: str) -> InputRange:
    """`--input-range` ("LO,HI" or "LO,HI,STEP") as an InputRange; FlowError naming the form where it is not."""
    try:
        values = [float(part) for part in str(text).split(",")]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or not values[0] < values[1] or (len(values) == 3 and values[2] <= 0):
        raise FlowError(f"--input-range {text!r} is not LO,HI or LO,HI,STEP with LO < HI and STEP > 0; "
                        "e.g. --input-range=-3,3 or --input-range=-1,1,2 for bipolar inputs")
    return InputRange(*values)


FILE_KEYS = tuple(item.name for item in fields(BuildConfig))


def read_config_file(path: Path) -> dict:
    """The fields a build config file sets, checked: an unknown key or a value of the wrong type is a FlowError."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise FlowError(f"cannot read build config {path} ({exc.strerror}); pass --config with a YAML file") from None
    except yaml.YAMLError as exc:
        raise FlowError(f"build config {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise FlowError(f"build config {path} must be a mapping of settings; see models/builds/")
    unknown = [key for key in values if key not in FILE_KEYS]
    if unknown:
        raise FlowError(f"build config {path}: unknown key {unknown[0]!r}; valid keys: {', '.join(FILE_KEYS)}")
    return {name: _typed(name, value, f"build config {path}") for name, value in values.items()}


def resolve_config(path: Path | None, overrides: dict) -> BuildConfig:
    """The build config file at `path` (None: none), with `overrides` (the flags given on the command line) on top."""
    values = read_config_file(path) if path is not None else {}
    return BuildConfig(**{**values, **overrides})
