"""The build step contract: what a step declares, and the context it runs in.

A step is data (a `Step`), like a qonnx Transformation is one class with one contract:

- `run(ctx)` reads only the config fields it declares in `reads`, the board (`ctx.board`) and the
  files earlier steps wrote into the build dir (names in `flow.build.artifacts`);
- it writes its declared `outputs` atomically into the build dir (temp file + rename), and
  returns a small JSON-able dict that becomes its record in summary.json (`status` defaults to
  "done"; a step that cannot run here returns "skipped: <why>");
- bad input raises FlowError with one line naming the fix; nothing else is raised on purpose.

The runner reads the declarations: `--from-step S` refuses a changed setting that a step before S
reads, and a step is reused only while its outputs hash to what it wrote.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..boards import Board
from . import artifacts
from .config import BuildConfig


@dataclass
class StepContext:
    """What a step gets: the resolved config, the board, the build dir, and the progress display."""

    config: BuildConfig
    board: Board
    build_dir: Path
    progress: object = None  # rich Progress, so long steps can add their own bar
    _hls_model: tuple[str, object] | None = field(default=None, repr=False)  # (hls_config.json digest, ModelGraph)

    def path(self, name: str) -> Path:
        return self.build_dir / name

    def _hls_config_digest(self) -> str:
        return hashlib.sha256(self.path(artifacts.HLS_CONFIG).read_bytes()).hexdigest()

    def hls_model(self):
        """The build's hls4ml ModelGraph, converted from its files once per build and hls_config.json."""
        digest = self._hls_config_digest()
        if self._hls_model is None or self._hls_model[0] != digest:
            self._hls_model = (digest, artifacts.load_hls_model(self.build_dir))
        return self._hls_model[1]

    def keep_hls_model(self, hls_model) -> None:
        """Record a ModelGraph converted from exactly the hls_config.json now in the build dir."""
        self._hls_model = (self._hls_config_digest(), hls_model)


@dataclass(frozen=True)
class Step:
    """One named build step: the config fields it reads, the files it writes, and its run function."""

    name: str
    run: Callable[[StepContext], dict]
    reads: tuple[str, ...] = ()  # BuildConfig fields; the board counts as "board"
    # files or folders in the build dir, or a function of the build dir for steps whose outputs depend on the source
    outputs: tuple[str, ...] | Callable[[Path], list[str]] = ()

    def outputs_in(self, build_dir: Path) -> list[str]:
        return list(self.outputs(build_dir)) if callable(self.outputs) else list(self.outputs)
