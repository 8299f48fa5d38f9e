"""Step `verify`: csim against QONNX execution and QONNX against the Brevitas model, or csim against Keras,
in output LSBs and argmax agreement; and the FIFO check of the stream top (flow/hls4ml/fifo_check.py) on
the first few samples."""
from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ...errors import VerificationError
from ...frontends import keras as keras_frontend
from ...hls4ml import fifo_check
from ...paths import atomic_save_npy, atomic_write_json
from ...paths import DEFAULT_CHECKPOINT
from .. import artifacts
from ..artifacts import (CSIM_META, CSIM_OUTPUTS, CSIM_REPORT, MEMORY, MODEL_REFERENCE, PROJECT_DIR, VERIFY_INPUTS,
                         VERIFY_LABELS)
from ..step import Step, StepContext

REQUIRED_ARGMAX_AGREEMENT = 1.0
MAX_LSB_DIFFERENCE = 1.0
# two samples already overlap in the stream top; the third runs it in its steady state
FIFO_CHECK_SAMPLES = 3
FIFO_CHECK_DIR = "fifo_check"  # scratch: the check's rewritten copies and program, never synthesized


def reference_kind(build_dir: Path) -> str:
    """What csim is checked against: Keras for a Keras source, QONNX execution otherwise."""
    return "keras" if artifacts.source_kind(build_dir) == "keras" else "qonnx"


def outputs(build_dir: Path) -> list[str]:
    return [CSIM_REPORT, f"{reference_kind(build_dir)}_outputs.npy"]


def qonnx_outputs(ctx: StepContext, inputs: np.ndarray) -> np.ndarray:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    # the model before the layout conversion, on the source's own inputs: a wrong input permutation shows as a
    # csim mismatch instead of being applied to both sides
    model = ModelWrapper(str(ctx.path(MODEL_REFERENCE)))
    task = ctx.progress.add_task("  qonnx reference", total=len(inputs)) if ctx.progress else None
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sample in inputs:
            result = execute_onnx(model, {model.graph.input[0].name: sample[None].astype(np.float32)})
            rows.append(np.asarray(result[model.graph.output[0].name], dtype=np.float64).reshape(-1))
            if task is not None:
                ctx.progress.advance(task)
    if task is not None:
        ctx.progress.remove_task(task)
    return np.stack(rows)


def brevitas_outputs(ctx: StepContext, inputs: np.ndarray) -> np.ndarray:
    import torch

    from ...zoo import load_checkpoint

    model, _ = load_checkpoint(ctx.config.model or DEFAULT_CHECKPOINT)
    with torch.no_grad():
        return model(torch.from_numpy(inputs)).numpy().astype(np.float64).reshape(len(inputs), -1)


# reference outputs this close to the sample's largest (relative to it) are one value to float32's precision,
# with 16 ulps of rounding on the way there: an argmax between them is not the model's to decide
TIE_RELATIVE = 2.0**-20


def compare(candidate: np.ndarray, reference: np.ndarray, lsb: float) -> dict:
    """Argmax agreement, and the samples where the argmaxes differ only between outputs the reference holds equal
    to float32's precision (`argmax_ties`; counted as agreeing in `argmax_agreement_beyond_ties`)."""
    picked, best = candidate.argmax(1), reference.argmax(1)
    rows = np.arange(len(reference))
    gap = reference[rows, best] - reference[rows, picked]
    ties = (picked != best) & (gap <= TIE_RELATIVE * np.abs(reference).max(1))
    return {
        "argmax_agreement": float((picked == best).mean()),
        "argmax_ties": int(ties.sum()),
        "argmax_agreement_beyond_ties": float(((picked == best) | ties).mean()),
        "max_abs_diff": float(np.abs(candidate - reference).max()),
        "max_diff_lsb": float(np.abs(candidate - reference).max() / lsb),
    }


def fifo_check_report(ctx: StepContext, inputs: np.ndarray, csim: np.ndarray, graph: dict, meta: dict) -> dict:
    """The FIFO check on the first samples: passed True/False, or None with the reason it did not run."""
    firmware = ctx.path(PROJECT_DIR) / "firmware"
    reason = fifo_check.skipped(firmware)
    if reason:
        return {"passed": None, "status": reason}
    count = min(FIFO_CHECK_SAMPLES, len(inputs))
    perm = graph.get("input_perm")
    hls_inputs = artifacts.to_hls_layout(inputs[:count], perm)
    try:
        return {"status": "done", **fifo_check.run(firmware, ctx.path(FIFO_CHECK_DIR), hls_inputs, csim[:count],
                                                   meta["input_precision"], meta["output_precision"])}
    except fifo_check.FifoCheckError as exc:
        return {"status": "failed", "passed": False, "problems": [str(exc)]}


def run(ctx: StepContext) -> dict:
    graph = artifacts.read_json(ctx.build_dir, artifacts.GRAPH)
    meta = artifacts.read_json(ctx.build_dir, CSIM_META)
    source = artifacts.read_json(ctx.build_dir, artifacts.SOURCE)
    inputs = np.load(ctx.path(VERIFY_INPUTS))
    csim = np.load(ctx.path(CSIM_OUTPUTS))
    reference_name = reference_kind(ctx.build_dir)
    with ThreadPoolExecutor(max_workers=1) as background:
        # g++ builds the FIFO check while the reference runs here, so it adds little time to the step
        fifo_report = background.submit(fifo_check_report, ctx, inputs, csim, graph, meta)
        reference = (keras_frontend.reference_outputs(artifacts.keras_model_path(ctx.build_dir), inputs)
                     if reference_name == "keras"
                     else qonnx_outputs(ctx, inputs))
        brevitas = brevitas_outputs(ctx, inputs) if source["kind"] == "brevitas" else None
        fifo_report = fifo_report.result()
    atomic_save_npy(ctx.path(f"{reference_name}_outputs.npy"), reference)
    lsb = meta["output_lsb"]
    report = {
        "n_samples": len(inputs),
        "dataset": meta["dataset"],
        "output_precision": meta["output_precision"],
        "output_lsb": lsb,
        # an LSB bound only means something when the model itself ends on a quantization grid
        "lsb_bound_enforced": graph["output_quantized"],
        # which kernel each weight layer ran in this csim: flow's sparse one or hls4ml's dense one
        "kernels": {layer["name"]: layer["kernel"]
                    for layer in artifacts.read_json(ctx.build_dir, MEMORY)["layers"]},
        f"csim_vs_{reference_name}": compare(csim, reference, lsb),
        "fifo_check": fifo_report,
    }
    if graph.get("softmax_skipped"):
        report["softmax_skipped"] = (f"{graph['softmax_skipped']} runs on the host, not the FPGA: csim and "
                                     "the reference are compared before it")
    if brevitas is not None:
        report["qonnx_vs_brevitas"] = compare(reference, brevitas, lsb)
    labels_path = ctx.path(VERIFY_LABELS)
    if labels_path.is_file():
        labels = np.load(labels_path)
        report["accuracy"] = {"csim": float((csim.argmax(1) == labels).mean()),
                              reference_name: float((reference.argmax(1) == labels).mean())}
    # where the model ends on a quantizer every value is held to the LSB, ties included; on float outputs an
    # argmax between outputs equal to float32's precision is no disagreement
    agreement = "argmax_agreement" if report["lsb_bound_enforced"] else "argmax_agreement_beyond_ties"
    failures = [
        f"{pair}: argmax agreement {result[agreement]:.4f}, max |diff| {result['max_diff_lsb']:.2f} LSB"
        for pair, result in report.items()
        if pair in {"csim_vs_qonnx", "qonnx_vs_brevitas", "csim_vs_keras"}
        and (result[agreement] < REQUIRED_ARGMAX_AGREEMENT
             or (report["lsb_bound_enforced"] and result["max_diff_lsb"] > MAX_LSB_DIFFERENCE))
    ]
    if report["fifo_check"]["passed"] is False:
        failures.append(f"FIFO check of the stream top: {'; '.join(report['fifo_check']['problems'])}")
    report["passed"] = not failures
    atomic_write_json(ctx.path(CSIM_REPORT), report)
    if failures:
        rescaled = graph.get("rescaled_quantizers", []) if reference_name == "qonnx" else []
        hint = (f"; {', '.join(rescaled[:3])}{' ...' if len(rescaled) > 3 else ''} round after a batch norm or a "
                "non-power-of-two scale: --float32-rescales makes hls4ml round there as qonnx does"
                if rescaled and not ctx.config.float32_rescales else "")
        raise VerificationError(f"verification failed ({'; '.join(failures)}){hint}; see {ctx.path(CSIM_REPORT)}")
    return {"reference": reference_name,
            "argmax_agreement": report[f"csim_vs_{reference_name}"]["argmax_agreement"],
            "max_diff_lsb": report[f"csim_vs_{reference_name}"]["max_diff_lsb"],
            "fifo_check": "passed" if report["fifo_check"]["passed"] else report["fifo_check"]["status"]}


STEP = Step(name="verify", run=run, reads=("model", "float32_rescales"), outputs=outputs)
