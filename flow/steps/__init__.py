"""Named build steps, in order. Each module exposes NAME, OUTPUTS and run(ctx) -> dict."""
from . import bitstream, bundle, csim, estimate, export, hls4ml_project, qonnx_transform, synth, verify

STEPS = [export, qonnx_transform, hls4ml_project, estimate, csim, verify, synth, bitstream, bundle]
STEP_NAMES = [step.NAME for step in STEPS]
