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


class LearnedStepNarrowIntWeightQuant(ConstStepNarrowIntWeightQuant):
    """The same levels with a trainable step (LSQ, Esser et al. 2020): straight-through rounding passes the
    task loss's gradient to q, so retraining can trade rounding error against clipping per layer."""

    scaling_impl_type = ScalingImplType.PARAMETER
    restrict_scaling_type = RestrictValueType.LOG_FP  # trains log2(q): q stays positive, updates are relative


def nonzero_level_quant(bits: int, step: float, learned: bool = False):
    """Levels +-q .. +-(2**bits / 2) q need codes up to 2**(bits-1), so the narrow container has bits + 1 bits.

    Brevitas derives its scale as threshold / (2**bits - 1), the container's largest code; the
    retraining constraints keep the codes inside +-1 .. +-2**(bits-1).
    """
    threshold = step * (2**bits - 1)
    if learned:
        return LearnedStepNarrowIntWeightQuant.let(bit_width=bits + 1, scaling_init=threshold)
    return ConstStepNarrowIntWeightQuant.let(bit_width=bits + 1, scaling_const=threshold)


def learned_step(layer, bits: int) -> float:
    """A LearnedStep layer's q now, as Brevitas derives it (threshold / (2**bits - 1), in float32), without
    quantizing the whole weight tensor: enforce() asks for it after every optimizer step."""
    threshold = layer.weight_quant.tensor_quant.scaling_impl(layer.weight)
    return float(threshold.detach() / (2**bits - 1))
