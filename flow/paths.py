"""Where the repository's data folders live, and atomic writes into a build dir."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .errors import FlowError

REPO_ROOT = Path(__file__).resolve().parent.parent
BOARDS_DIR = REPO_ROOT / "boards"
MODELS_DIR = REPO_ROOT / "models"
HLS_DIR = REPO_ROOT / "hls"
DEFAULT_MODEL = "lenet-digits"  # what `flow compile` builds without --model
DEFAULT_CHECKPOINT = MODELS_DIR / "lenet-digits.pt"


def prepare_output_dir(path: Path) -> None:
    """Create the output folder and prove it takes files, so a run fails before its first hour, not after."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise FlowError(f"cannot write to output dir {path} ({exc.strerror}); pass --out with a writable folder") from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    # temp file + rename in the same folder, so a killed run never leaves a half-written artifact
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_save_npy(path: Path, array) -> None:
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())
