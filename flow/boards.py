"""Board definitions: one YAML file per board in boards/, nothing board-specific in code."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import FlowError
from .paths import BOARDS_DIR


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    family: str
    board_part_pattern: str  # matches the Vivado board part whose preset configures the PS
    resources: dict
    clock_period_ns: float
    dma_data_width: int
    hls4ml_backend: str
    hls_tool: str
    implementation_tool: str
    pynq_image: str | None  # None: PYNQ publishes no image for the board
    pynq_python: str | None

    @property
    def clock_hz(self) -> float:
        return 1e9 / self.clock_period_ns


def known_boards(boards_dir: Path = BOARDS_DIR) -> list[str]:
    return sorted(p.stem for p in boards_dir.glob("*.yaml"))


def load_board(name: str, boards_dir: Path = BOARDS_DIR) -> Board:
    path = boards_dir / f"{name}.yaml"
    if not path.is_file():
        raise FlowError(
            f"unknown board '{name}'; known boards: {', '.join(known_boards(boards_dir))} "
            f"(to add one, write {boards_dir / (name + '.yaml')})"
        )
    fields = yaml.safe_load(path.read_text())
    try:
        return Board(**fields)
    except TypeError as exc:
        raise FlowError(f"board file {path} is malformed ({exc}); compare it with boards/pynq-z2.yaml") from None
