"""Masked retraining: pruned weights stay exactly zero, quantized weights stay on their nonzero levels."""
from __future__ import annotations

import torch

from .level_quant import learned_step

# A kept weight at exactly half a step would round (half to even) to code 0, i.e. be pruned.
HALF_STEP_MARGIN = 1 + 2**-10


class WeightConstraints:
    """Per-layer 0/1 masks and ADMM levels, enforced around every optimizer step; every quantized layer has a mask.

    Quantized layers train float shadow weights through Brevitas' straight-through rounding;
    clamping their magnitudes to [q/2, (2**bits/2) q] keeps every rounded code in +-1 .. +-2**(bits-1).
    """

    def __init__(self, layers: dict[str, torch.nn.Module], masks: dict[str, torch.Tensor],
                 weight_levels: dict[str, dict]):
        self.layers, self.masks, self.weight_levels = layers, masks, weight_levels

    def mask_gradients(self) -> None:
        for name, mask in self.masks.items():
            grad = self.layers[name].weight.grad
            if grad is not None:
                grad.mul_(mask)

    @torch.no_grad()
    def enforce(self) -> None:
        for name, mask in self.masks.items():
            self.layers[name].weight.mul_(mask)
        for name, level in self.weight_levels.items():
            weight = self.layers[name].weight
            step, top = self.step(name), 2 ** (level["bits"] - 1)
            magnitude = weight.abs().clamp(step / 2 * HALF_STEP_MARGIN, top * step)
            signs = torch.where(weight < 0, -1.0, 1.0)
            weight.copy_(signs * magnitude * self.masks[name])

    def step(self, name: str) -> float:
        """The layer's step as its quantizer has it now (a learned step moves with training)."""
        level = self.weight_levels[name]
        return learned_step(self.layers[name], level["bits"]) if level.get("learned") else level["step"]

    @torch.no_grad()
    def snap_to_levels(self) -> None:
        """Replace the shadow weights by their quantized values, so saved and exported weights are the levels."""
        for name in self.weight_levels:
            layer = self.layers[name]
            layer.weight.copy_(layer.quant_weight().value)
