"""What each recipe stage adds to plain training: ADMM penalties and updates, pruning, quantization.

A stage session is rebuilt from the recipe whenever training (re)starts and then loads its
optimizer, scheduler and ADMM state from the checkpoint, so a resumed stage continues exactly.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
import torch

from ..zoo import activation_bits_of, build_model, compressible_layers, layer_sizes
from .admm import ADMM, LevelSet, SparsitySet, project_tensor
from .channels import reachable_sets
from .constraints import WeightConstraints
from .equalize import apply_scales, equalization_scales
from .projections import optimal_power_of_two_step, optimal_step, quantization_error
from .recipe import Stage, keep_counts, per_layer


def step_choices(kept: np.ndarray, bits: int) -> dict:
    """The exact best step and the best power-of-two step, with their relative squared errors."""
    energy = float(np.sum(kept**2))
    exact, power_of_two = optimal_step(kept, bits), optimal_power_of_two_step(kept, bits)
    return {"step": exact, "relative_error": quantization_error(kept, exact, bits) / energy,
            "power_of_two_step": power_of_two,
            "power_of_two_relative_error": quantization_error(kept, power_of_two, bits) / energy}


class StageSession:
    """One stage's optimizer and rules around a model; `model` is the one to train (a learn_step stage
    swaps the quantizers for trainable-step ones)."""

    def __init__(self, stage: Stage, arch: str, model: torch.nn.Module, masks: dict, weight_levels: dict,
                 evaluate: Callable[[torch.nn.Module], float], starting: bool = True):
        self.stage, self.arch, self.masks, self.weight_levels = stage, arch, masks, weight_levels
        self.evaluate = evaluate
        self.model = self._with_learned_steps(model) if stage.learn_step else model
        self.layers = compressible_layers(self.model)
        self.sizes = layer_sizes(self.model)
        self.optimizer = torch.optim.Adam(self._parameter_groups(), lr=stage.lr)
        self.scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=stage.epochs)
                          if stage.schedule == "cosine" else None)
        self.constraints = WeightConstraints(self.layers, masks, weight_levels)
        self.admm = None
        # for the run's record: both step rules and their errors (quantize), or the steps learned (retrain)
        self.results = {}
        if stage.equalize and starting:  # a resumed stage's checkpoint already holds the rescaled weights
            self.results["equalization"] = self._equalize()
        if stage.kind in ("admm_prune", "admm_quantize"):
            constraints = self.constraint_sets()
            self.admm = ADMM(self.layers, constraints, stage.rho, stage.rho_growth, stage.rho_max,
                             narrow=partial(self._reachable, constraints) if stage.reachable else None)

    def _parameter_groups(self) -> list[dict]:
        """Trainable steps (the weight quantizers' parameters) get their own, smaller learning rate: with the
        stage's lr, Adam moved log2(q) so far per epoch that the 1-bit fc1 step fell 2.6x and accuracy to 0.98.
        Frozen levels get no optimizer at all."""
        steps = [p for layer in self.layers.values() for p in layer.weight_quant.parameters()]
        # freeze_levels: after ADMM put the weights on their levels, retraining them through straight-through
        # rounding raised the training loss epoch after epoch (codes flipping back and forth); biases still train
        frozen = [self.layers[name].weight for name in self.weight_levels] if self.stage.freeze_levels else []
        apart = {id(p) for p in steps + frozen}
        others = [p for p in self.model.parameters() if id(p) not in apart]
        return [{"params": others}, *([{"params": steps, "lr": self.stage.step_lr}] if steps else [])]

    def _rebuilt(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model rebuilt for the current weight_levels; only quantizer state differs, and it comes from the levels."""
        rebuilt = build_model(self.arch, self.weight_levels, activation_bits_of(model)).to(next(model.parameters()).device)
        rebuilt.load_state_dict(model.state_dict(), strict=False)
        return rebuilt

    def _with_learned_steps(self, model: torch.nn.Module) -> torch.nn.Module:
        if all(level.get("learned") for level in self.weight_levels.values()):
            return model  # resumed inside the stage: the checkpoint already holds the trainable steps
        for level in self.weight_levels.values():
            level["learned"] = True
        return self._rebuilt(model)

    def _equalize(self) -> dict:
        """Rescale channels so this stage's layers fit their levels better; layers already on levels keep theirs."""
        links = self.model.channel_links
        bits = per_layer(self.stage.bits, self.sizes, "bits")
        weights = {name: layer.weight.detach().cpu().numpy() for name, layer in self.layers.items()}
        scales, record = equalization_scales(weights, bits, links, frozen=set(self.weight_levels))
        apply_scales(self.layers, links, scales)
        return record

    def _reachable(self, sets: dict, values: dict[str, np.ndarray]) -> dict:
        others = {name: layer.weight.detach().cpu().numpy() != 0 for name, layer in self.layers.items() if name not in values}
        return reachable_sets(sets, values, self.model.channel_links, others)

    def _hard_constraints(self) -> dict:
        """The ADMM constraints for the weights as they are now (reachable pruning depends on them)."""
        return self.admm.constraints_for({name: self.layers[name].weight.detach().cpu().numpy()
                                          for name in self.admm.constraints})

    def _allowed(self, name: str) -> np.ndarray:
        if name in self.masks:
            return self.masks[name].detach().cpu().numpy().astype(bool)
        return np.ones(tuple(self.layers[name].weight.shape), dtype=bool)

    def constraint_sets(self) -> dict:
        if self.stage.kind == "admm_prune":
            return {name: SparsitySet(count, self._allowed(name))
                    for name, count in keep_counts(self.stage.keep, self.sizes).items()}
        return {name: LevelSet(int(bits), self._allowed(name), self.stage.power_of_two)
                for name, bits in per_layer(self.stage.bits, self.sizes, "bits").items()}

    def penalty(self) -> torch.Tensor | None:
        return self.admm.penalty() if self.admm else None

    def before_epoch(self, epoch: int) -> None:
        """Magnitude pruning (Han et al. 2015): at each cycle start, prune to the next step of a geometric schedule."""
        if self.stage.kind != "magnitude_prune":
            return
        cycle_length = self.stage.epochs // self.stage.iterations
        if epoch % cycle_length:
            return
        fraction_done = (epoch // cycle_length + 1) / self.stage.iterations
        with torch.no_grad():
            for name, final in keep_counts(self.stage.keep, self.sizes).items():
                count = int(round(self.sizes[name] * (final / self.sizes[name]) ** fraction_done))
                pruned = project_tensor(SparsitySet(count, self._allowed(name)), self.layers[name].weight)
                self._set_mask(name, pruned)
        self.constraints.enforce()

    def after_epoch(self, epoch: int) -> dict:
        if self.scheduler:
            self.scheduler.step()
        record = {}
        if self.admm and (epoch + 1) % self.stage.update_every == 0:
            record["rho"] = self.admm.rho
            record["residual"] = self.admm.update()
            record["projected_accuracy"] = self._projected_accuracy()
        return record

    def _projected_accuracy(self) -> float:
        """Accuracy if the constraints were imposed now (hard projection of W, not of W + U)."""
        saved = {name: self.layers[name].weight.detach().clone() for name in self.admm.constraints}
        with torch.no_grad():
            for name, constraint in self._hard_constraints().items():
                self.layers[name].weight.copy_(project_tensor(constraint, saved[name]))
        try:
            return self.evaluate(self.model)
        finally:
            with torch.no_grad():
                for name, weight in saved.items():
                    self.layers[name].weight.copy_(weight)

    def _set_mask(self, name: str, projected: torch.Tensor) -> None:
        self.layers[name].weight.copy_(projected)
        self.masks[name] = (projected != 0).to(projected.dtype)

    @torch.no_grad()
    def finish(self) -> torch.nn.Module:
        """Hard projection at the end of an ADMM stage; a quantize or learn_step stage returns the model rebuilt
        with constant steps, so every checkpoint between stages has the same form."""
        if self.stage.kind == "admm_prune":
            for name, constraint in self._hard_constraints().items():
                self._set_mask(name, project_tensor(constraint, self.layers[name].weight))
        if self.stage.kind == "admm_quantize":
            for name, constraint in self.admm.constraints.items():
                weight = self.layers[name].weight
                values = weight.detach().cpu().numpy().astype(np.float64)
                choices = step_choices(values[constraint.support], constraint.bits)
                self.results.setdefault("step_choices", {})[name] = choices
                step = choices["power_of_two_step" if constraint.power_of_two else "step"]
                weight.copy_(torch.from_numpy(constraint.quantize(values, step)).to(weight))
                self.masks[name] = torch.from_numpy(constraint.support).to(weight)
                self.weight_levels[name] = {"bits": constraint.bits, "step": step}
        elif self.stage.learn_step:
            self.constraints.snap_to_levels()
            learned = {name: self.constraints.step(name) for name in self.weight_levels}
            self.results["learned_steps"] = {name: {"from": level["step"], "to": learned[name]}
                                             for name, level in self.weight_levels.items()}
            for name, level in self.weight_levels.items():
                self.weight_levels[name] = {"bits": level["bits"], "step": learned[name]}
        else:
            self.constraints.snap_to_levels()
            return self.model
        rebuilt = self._rebuilt(self.model)
        WeightConstraints(compressible_layers(rebuilt), self.masks, self.weight_levels).snap_to_levels()
        return rebuilt

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "admm": self.admm.state_dict() if self.admm else None,
            "results": self.results,  # what happened as the stage started (equalization) is not redone on resume
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.admm:
            self.admm.load_state_dict(state["admm"])
        self.results = state.get("results", {})  # checkpoints written before results were kept have none
