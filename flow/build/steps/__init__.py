"""The build's steps, in order: one module per step, named as the step, each exposing `STEP` (flow.build.step).

Only the runner imports these modules.
"""
from . import bitstream, bundle, csim, estimate, estimate_after_synth, export, fit, hls4ml, qonnx, rtl, synth, verify

STEPS = [step.STEP for step in (export, qonnx, hls4ml, estimate, fit, csim, verify, rtl, synth, estimate_after_synth,
                                bitstream, bundle)]
STEP_NAMES = [step.name for step in STEPS]
