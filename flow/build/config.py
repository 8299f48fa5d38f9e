"""What `flow compile` builds: one field per CLI flag."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_BOARD = "pynq-z2"


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
    #: hls4ml precision for tensors no Quant node pins down
    default_precision: str = "fixed<32,16>"
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
    #: write every weight layer as Verilog, check it bit for bit in verilator and count its cells with yosys
    #: (needs yosys, verilator and the rtl extra)
    rtl: bool = False
    #: run Vivado (block design, implementation, bitstream) where it is installed
    bitstream: bool = False
    #: build on when the estimated design exceeds the board (any resource over 100% at the implementation level)
    allow_overfull: bool = False
    #: show rich progress bars on stderr
    show_progress: bool = True

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
