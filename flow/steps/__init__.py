"""Named build steps, in order. Each module exposes NAME, run(ctx) -> dict, and OUTPUTS or outputs(build_dir)."""
from pathlib import Path

from . import bitstream, bundle, csim, estimate, export, hls4ml_project, qonnx_transform, synth, verify

STEPS = [export, qonnx_transform, hls4ml_project, estimate, csim, verify, synth, bitstream, bundle]
STEP_NAMES = [step.NAME for step in STEPS]


def outputs_of(step, build_dir: Path) -> list[str]:
    """The files a step writes; the first two steps write different ones for Keras and ONNX sources."""
    return step.outputs(build_dir) if hasattr(step, "outputs") else step.OUTPUTS
