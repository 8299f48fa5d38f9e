"""Send a library's chatter (hls4ml prints, g++ output, TensorFlow's start-up logs) to a log file instead of the terminal."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


@contextlib.contextmanager
def _fd_to(fd: int, stream, log_path: Path):
    # fd-level, because hls4ml's compile() runs g++ through os.system and TensorFlow logs from C++,
    # both bypassing sys.stdout / sys.stderr
    stream.flush()
    saved = os.dup(fd)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), fd)
        try:
            yield
        finally:
            stream.flush()
            os.dup2(saved, fd)
            os.close(saved)


def stdout_to(log_path: Path):
    return _fd_to(1, sys.stdout, log_path)


def stderr_to(log_path: Path):
    return _fd_to(2, sys.stderr, log_path)


@contextlib.contextmanager
def library_output_to(log_path: Path, keep: bool = False):
    """Send everything written to the process's stdout and stderr (onnxruntime's and TensorFlow's C++ logs,
    Python warnings, hls4ml's prints, g++) to `log_path`; yields a text stream on the terminal's stderr for
    flow's own progress. keep=True (`--verbose`) leaves the streams alone and yields sys.stderr."""
    if keep:
        yield sys.stderr
        return
    terminal = os.fdopen(os.dup(2), "w")
    try:
        with stdout_to(log_path), stderr_to(log_path):
            yield terminal
    finally:
        terminal.close()
