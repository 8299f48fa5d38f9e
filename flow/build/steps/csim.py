"""Step `csim`: compile the hls4ml project with g++ and run it on held-out data (C simulation)."""
from __future__ import annotations

import numpy as np

from ...data import dataset_for_shape, load_test_split
from ...errors import FlowError
from ...hls4ml.csim import compile_and_predict, precision_lsb
from ...paths import atomic_save_npy, atomic_write_json
from .. import artifacts
from ..config import InputRange, parse_input_range
from ..artifacts import CSIM_META, CSIM_OUTPUTS, HLS4ML_LOG, VERIFY_INPUTS, VERIFY_LABELS, to_hls_layout
from ..step import Step, StepContext


def held_out_inputs(ctx: StepContext, graph: dict) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Inputs in the model's own layout (ONNX: channels first; Keras: last), labels when the data has them, and the data's name."""
    sample_shape = tuple(graph["input_shape"][1:])
    channels_last = graph.get("channels_last", False)
    dataset = dataset_for_shape((sample_shape[-1], *sample_shape[:-1]) if channels_last else sample_shape)
    if dataset is None or ctx.config.input_range is not None:
        values, origin = input_values(ctx.config.input_range, graph.get("input_quant"))
        inputs = values.sample(np.random.default_rng(ctx.config.seed), (ctx.config.n_samples, *sample_shape))
        return inputs, None, f"{values} ({origin}, seed {ctx.config.seed})"
    split = load_test_split(dataset, ctx.config.data_dir)
    count = min(ctx.config.n_samples, len(split.labels))
    images = split.images[:count]
    if channels_last:
        images = np.moveaxis(images.reshape(count, sample_shape[-1], *sample_shape[:-1]), 1, -1)
    return np.ascontiguousarray(images.reshape(count, *sample_shape)), split.labels[:count], f"{dataset}-test"


def input_values(given: str | None, input_quant: dict | None) -> tuple[InputRange, str]:
    """What random inputs take, and where that comes from: the user's range, the grid of the Quant the model's
    input goes into, or [0, 1) (the range of scaled pixels; a model whose inputs lie elsewhere needs
    --input-range)."""
    if given is not None:
        return parse_input_range(given), "--input-range"
    if input_quant is not None:
        return InputRange(*input_quant["grid"]), f"the grid of input Quant '{input_quant['node']}'"
    return InputRange(0.0, 1.0), "no input Quant; set --input-range for the model's real inputs"


def run(ctx: StepContext) -> dict:
    graph = artifacts.read_json(ctx.build_dir, artifacts.GRAPH)
    inputs, labels, dataset = held_out_inputs(ctx, graph)
    hls_model = ctx.hls_model()
    try:
        outputs = compile_and_predict(hls_model, to_hls_layout(inputs, graph["input_perm"]), ctx.path(HLS4ML_LOG))
    except Exception as exc:  # hls4ml reports a g++ failure as a bare Exception; the compiler's words are in the log
        errors = [line for line in ctx.path(HLS4ML_LOG).read_text(errors="replace").splitlines() if "error:" in line]
        raise FlowError(f"the C simulation did not build ({errors[0].strip() if errors else exc}); "
                        f"see {ctx.path(HLS4ML_LOG)}") from None
    atomic_save_npy(ctx.path(VERIFY_INPUTS), inputs)
    if labels is not None:
        atomic_save_npy(ctx.path(VERIFY_LABELS), labels)
    atomic_save_npy(ctx.path(CSIM_OUTPUTS), outputs)
    precision = hls_model.get_output_variables()[0].type.precision
    atomic_write_json(ctx.path(CSIM_META), {
        "dataset": dataset,
        "n_samples": len(inputs),
        "input_precision": str(hls_model.get_input_variables()[0].type.precision),
        "output_precision": str(precision),
        "output_lsb": precision_lsb(precision),
    })
    return {"n_samples": len(inputs), "dataset": dataset}


STEP = Step(name="csim", run=run, reads=("data_dir", "n_samples", "seed", "input_range"),
            outputs=(VERIFY_INPUTS, CSIM_OUTPUTS, CSIM_META))
