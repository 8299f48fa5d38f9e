"""hls4ml's C simulation: compile() and predict() on a thread whose stack holds big dense layers."""
from __future__ import annotations

import threading

import numpy as np

from ..quiet import stdout_to

CSIM_STACK_BYTES = 1 << 30  # dense_latency keeps n_in * n_out products on the stack: 10 MB for a 400K-weight layer


def compile_and_predict(hls_model, inputs: np.ndarray, log_path, compile: bool = True) -> np.ndarray:  # noqa: A002
    """hls4ml compile() (unless done already) + predict() on a thread whose stack holds big dense layers
    (the main one has 8 MB)."""
    result = {}

    def work():
        try:
            with stdout_to(log_path):
                if compile:
                    hls_model.compile()
                result["outputs"] = np.asarray(hls_model.predict(inputs), dtype=np.float64)
        except BaseException as exc:  # re-raised on the caller's thread
            result["error"] = exc

    previous = threading.stack_size(CSIM_STACK_BYTES)
    try:
        worker = threading.Thread(target=work, name="csim")
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["outputs"].reshape(len(inputs), -1)


def precision_lsb(precision) -> float:
    return float(2.0 ** -(precision.width - precision.integer))
