"""ADMM-NN's splitting for constrained training (Ren et al. ASPLOS'19, section 3).

    min f(W) + sum_i g_i(Z_i)  s.t.  W_i = Z_i,   g_i the indicator of the constraint set S_i.

W-step: the optimizer minimises loss + sum_i rho/2 ||W_i - Z_i + U_i||_F^2 (`penalty`).
Z-step: Z_i = Pi_S(W_i + U_i).   Dual step: U_i += W_i - Z_i.   Both run in `update`, under no_grad.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .projections import optimal_power_of_two_step, optimal_step, prune_top_k, quantize_nonzero


@dataclass(frozen=True)
class SparsitySet:
    """At most `keep` nonzeros, all inside `allowed` (the previous mask, for progressive pruning)."""

    keep: int
    allowed: np.ndarray

    def project(self, values: np.ndarray) -> np.ndarray:
        return prune_top_k(np.where(self.allowed, values, 0.0).astype(values.dtype), self.keep)


@dataclass(frozen=True)
class LevelSet:
    """Nonzero exactly on `support`, each value on a level +-q .. +-(2**bits/2) q, with q free per projection."""

    bits: int
    support: np.ndarray
    power_of_two: bool = False

    def step_for(self, values: np.ndarray) -> float:
        choose = optimal_power_of_two_step if self.power_of_two else optimal_step
        return choose(values[self.support], self.bits)

    def quantize(self, values: np.ndarray, step: float) -> np.ndarray:
        return quantize_nonzero(values, step, self.bits, self.support)

    def project(self, values: np.ndarray) -> np.ndarray:
        return self.quantize(values, self.step_for(values))


def project_array(constraint: SparsitySet | LevelSet, values: np.ndarray) -> np.ndarray:
    """The projection computed in float64 (the step search needs it), returned in the values' dtype."""
    return constraint.project(values.astype(np.float64)).astype(values.dtype)


def dual_update(constraint: SparsitySet | LevelSet, weight: np.ndarray, dual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One layer's Z-step and dual step, Z = Pi_S(W + U) and U + W - Z, for every framework's adapter."""
    z = project_array(constraint, weight + dual)
    return z, dual + (weight - z)


def grown_rho(rho: float, growth: float, rho_max: float) -> float:
    return min(rho * growth, rho_max)


def project_tensor(constraint: SparsitySet | LevelSet, tensor: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(project_array(constraint, tensor.detach().cpu().numpy())).to(tensor.device)


class ADMM:
    """Auxiliary Z and scaled dual U per constrained layer, and the penalty weight rho.

    rho may grow by `rho_growth` per update up to `rho_max`. U is the scaled dual Y / rho, so a
    change of rho rescales U by old/new to keep Y fixed; forgetting that is what makes some public
    ports effectively double the dual on each growth step.
    """

    def __init__(self, layers: dict[str, torch.nn.Module], constraints: dict[str, SparsitySet | LevelSet],
                 rho: float, rho_growth: float = 1.0, rho_max: float | None = None,
                 narrow: Callable[[dict[str, np.ndarray]], dict] | None = None):
        """`narrow(values)`, if given, returns the constraints to project these values with (sets that depend
        on every layer's values, such as reachable pruning)."""
        self.layers, self.constraints, self.narrow = layers, constraints, narrow
        self.rho, self.rho_growth = rho, rho_growth
        self.rho_max = rho if rho_max is None else rho_max
        with torch.no_grad():
            current = self.constraints_for({name: layers[name].weight.detach().cpu().numpy() for name in constraints})
            self.Z = {name: project_tensor(current[name], layers[name].weight) for name in constraints}
            self.U = {name: torch.zeros_like(layers[name].weight) for name in constraints}

    def constraints_for(self, values: dict[str, np.ndarray]) -> dict[str, SparsitySet | LevelSet]:
        return self.narrow(values) if self.narrow else self.constraints

    def penalty(self) -> torch.Tensor:
        return sum(
            self.rho / 2 * (self.layers[name].weight - self.Z[name] + self.U[name]).pow(2).sum()
            for name in self.constraints
        )

    @torch.no_grad()
    def update(self) -> dict[str, float]:
        """One Z-step and dual step; returns the primal residual ||W - Z|| / ||W|| per layer."""
        residuals = {}
        current = self.constraints_for({name: (self.layers[name].weight + self.U[name]).detach().cpu().numpy()
                                        for name in self.constraints})
        for name, constraint in current.items():
            weight = self.layers[name].weight
            z, dual = dual_update(constraint, weight.detach().cpu().numpy(), self.U[name].cpu().numpy())
            self.Z[name], self.U[name] = torch.from_numpy(z).to(weight), torch.from_numpy(dual).to(weight)
            residuals[name] = float((weight - self.Z[name]).norm() / weight.norm().clamp_min(1e-12))
        new_rho = grown_rho(self.rho, self.rho_growth, self.rho_max)
        for name in self.U:
            self.U[name] *= self.rho / new_rho
        self.rho = new_rho
        return residuals

    def state_dict(self) -> dict:
        return {"rho": self.rho, "Z": self.Z, "U": self.U}

    def load_state_dict(self, state: dict) -> None:
        self.rho = state["rho"]
        self.Z = {name: tensor.to(self.layers[name].weight.device) for name, tensor in state["Z"].items()}
        self.U = {name: tensor.to(self.layers[name].weight.device) for name, tensor in state["U"].items()}
