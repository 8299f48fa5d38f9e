"""Step `csim`: compile the hls4ml project with g++ and run it on held-out data (C simulation)."""
from __future__ import annotations

import json
import threading

import numpy as np

from ..config import StepContext
from ..data import dataset_for_shape, load_test_split
from ..errors import FlowError
from ..paths import atomic_save_npy, atomic_write_json
from ..quiet import stdout_to
from .hls4ml_project import load_hls_model

NAME = "csim"
OUTPUTS = ["verify_inputs.npy", "csim_outputs.npy", "csim_meta.json"]


def held_out_inputs(ctx: StepContext, graph: dict) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Inputs in the model's own layout (ONNX: channels first; Keras: last), labels when the data has them, and the data's name."""
    sample_shape = tuple(graph["input_shape"][1:])
    channels_last = graph.get("channels_last", False)
    dataset = dataset_for_shape((sample_shape[-1], *sample_shape[:-1]) if channels_last else sample_shape)
    if dataset is None:
        # no dataset fits: uniform noise in [0, 1) still exercises every layer bit for bit
        rng = np.random.default_rng(ctx.config.seed)
        return rng.random((ctx.config.n_samples, *sample_shape), dtype=np.float32), None, "uniform-random[0,1)"
    split = load_test_split(dataset, ctx.config.data_dir)
    count = min(ctx.config.n_samples, len(split.labels))
    images = split.images[:count]
    if channels_last:
        images = np.moveaxis(images.reshape(count, sample_shape[-1], *sample_shape[:-1]), 1, -1)
    return np.ascontiguousarray(images.reshape(count, *sample_shape)), split.labels[:count], f"{dataset}-test"


def to_hls_layout(inputs: np.ndarray, input_perm: list[int] | None) -> np.ndarray:
    if input_perm is None:
        return np.ascontiguousarray(inputs)
    return np.ascontiguousarray(inputs.transpose(input_perm))


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


def run(ctx: StepContext) -> dict:
    graph = json.loads(ctx.path("graph.json").read_text())
    inputs, labels, dataset = held_out_inputs(ctx, graph)
    hls_model = load_hls_model(ctx)
    try:
        outputs = compile_and_predict(hls_model, to_hls_layout(inputs, graph["input_perm"]), ctx.path("hls4ml.log"))
    except Exception as exc:  # hls4ml reports a g++ failure as a bare Exception; the compiler's words are in the log
        errors = [line for line in ctx.path("hls4ml.log").read_text(errors="replace").splitlines() if "error:" in line]
        raise FlowError(f"the C simulation did not build ({errors[0].strip() if errors else exc}); "
                        f"see {ctx.path('hls4ml.log')}") from None
    atomic_save_npy(ctx.path("verify_inputs.npy"), inputs)
    if labels is not None:
        atomic_save_npy(ctx.path("verify_labels.npy"), labels)
    atomic_save_npy(ctx.path("csim_outputs.npy"), outputs)
    precision = hls_model.get_output_variables()[0].type.precision
    atomic_write_json(ctx.path("csim_meta.json"), {
        "dataset": dataset,
        "n_samples": len(inputs),
        "input_precision": str(hls_model.get_input_variables()[0].type.precision),
        "output_precision": str(precision),
        "output_lsb": precision_lsb(precision),
    })
    return {"n_samples": len(inputs), "dataset": dataset}
