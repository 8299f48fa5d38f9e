"""The build configuration and the context every step receives."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .boards import Board

DEFAULT_BOARD = "pynq-z2"


@dataclass(frozen=True)
class BuildConfig:
    """What `flow compile` builds; every CLI flag maps onto one field."""

    board: str = DEFAULT_BOARD
    model: Path | None = None  # None: the shipped default checkpoint models/lenet-digits.pt
    out: Path | None = None  # None: build/<model>-<board>/
    data_dir: Path | None = None  # MNIST IDX folder, for MNIST-sized models
    n_samples: int = 500  # held-out samples the verify step compares on
    from_step: str | None = None
    default_precision: str = "fixed<32,16>"  # for tensors no Quant node pins down
    strategy: str = "Latency"
    reuse_factor: int = 1
    sparse: str = "auto"  # auto (layers pruned beyond break-even) | all | none | comma-separated layer names (hls4ml or checkpoint)
    sparse_cycles: int | None = None  # cycle target per sparse layer and input vector; None: one PE
    seed: int = 0
    bitstream: bool = False  # run Vivado (block design, implementation, bitstream) where it is installed
    show_progress: bool = True

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class StepContext:
    config: BuildConfig
    board: Board
    build_dir: Path
    progress: object = None  # rich Progress, so long steps can add their own bar

    def path(self, name: str) -> Path:
        return self.build_dir / name
