"""Send a library's chatter (hls4ml prints, g++ output) to a log file instead of the terminal."""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


@contextlib.contextmanager
def stdout_to(log_path: Path):
    # fd-level, because hls4ml's compile() runs g++ through os.system, which bypasses sys.stdout
    sys.stdout.flush()
    saved = os.dup(1)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
