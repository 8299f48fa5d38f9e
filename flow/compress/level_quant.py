"""The Brevitas weight quantizer that holds a layer on ADMM-NN's nonzero levels during retraining."""
from __future__ import annotations

from brevitas.inject.enum import RestrictValueType, ScalingImplType, ScalingPerOutputType
from brevitas.quant.base import NarrowIntQuant
from brevitas.quant.solver import WeightQuantSolver


class ConstStepNarrowIntWeightQuant(NarrowIntQuant, WeightQuantSolver):
    """Signed narrow-range integer codes times a constant step; `.let()` sets bit width and threshold per layer."""

    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP
    scaling_per_output_type = ScalingPerOutputType.TENSOR


def nonzero_level_quant(bits: int, step: float):
    """Levels +-q .. +-(2**bits / 2) q need codes up to 2**(bits-1), so the narrow container has bits + 1 bits.

    Brevitas derives its scale as threshold / (2**bits - 1), the container's largest code; the
    retraining constraints keep the codes inside +-1 .. +-2**(bits-1).
    """
    return ConstStepNarrowIntWeightQuant.let(bit_width=bits + 1, scaling_const=step * (2**bits - 1))
