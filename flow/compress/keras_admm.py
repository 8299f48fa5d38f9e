"""ADMM-NN for Keras and QKeras models: the Keras adapter of flow.compress.admm.

The projections (SparsitySet, LevelSet) and the Z/U step (`dual_update`) are the PyTorch path's;
this file only holds Z, U and rho as Keras variables, adds the penalty rho/2 ||W - Z + U||^2 to the
model's loss, and runs the updates from a callback. Constrain QDense/QConv2D kernels with
SparsitySet only: their own quantizer already puts the kept weights on its grid.

    admm = KerasADMM(model, {"fc1": SparsitySet(keep=100, allowed=np.ones(shape, bool))}, rho=3e-3)
    model.compile(...); model.fit(..., callbacks=[admm])      # penalty added by KerasADMM
    masks = admm.hard_project()
    model.fit(..., callbacks=[KeepMasked(model, masks)])       # masked retraining
"""
from __future__ import annotations

import numpy as np

from ..frontends.keras import tf_keras
from .admm import LevelSet, SparsitySet, dual_update, grown_rho, project_array


def _kernel(model, name: str):
    return model.get_layer(name).kernel


class KerasADMM(tf_keras().callbacks.Callback):
    def __init__(self, model, constraints: dict[str, SparsitySet | LevelSet], rho: float = 3e-3,
                 rho_growth: float = 1.0, rho_max: float | None = None, update_every: int = 1):
        super().__init__()
        import tensorflow as tf

        self.constraints, self.rho_growth = constraints, rho_growth
        self.rho_max = rho if rho_max is None else rho_max
        self.update_every = update_every
        self.kernels = {name: _kernel(model, name) for name in constraints}
        self.rho = tf.Variable(rho, trainable=False, dtype=tf.float32)
        self.Z = {name: tf.Variable(project_array(constraint, self.kernels[name].numpy()), trainable=False)
                  for name, constraint in constraints.items()}
        self.U = {name: tf.Variable(tf.zeros_like(kernel), trainable=False) for name, kernel in self.kernels.items()}
        self.residuals: list[dict[str, float]] = []  # per update, ||W - Z|| / ||W|| per layer
        model.add_loss(self.penalty)

    def penalty(self):
        import tensorflow as tf

        return self.rho / 2 * tf.add_n([tf.reduce_sum(tf.square(kernel - self.Z[name] + self.U[name]))
                                        for name, kernel in self.kernels.items()])

    def update(self) -> dict[str, float]:
        residuals = {}
        for name, constraint in self.constraints.items():
            weight = self.kernels[name].numpy()
            z, dual = dual_update(constraint, weight, self.U[name].numpy())
            self.Z[name].assign(z)
            self.U[name].assign(dual)
            residuals[name] = float(np.linalg.norm(weight - z) / max(np.linalg.norm(weight), 1e-12))
        rho = float(self.rho.numpy())
        new_rho = grown_rho(rho, self.rho_growth, self.rho_max)
        for dual in self.U.values():
            dual.assign(dual * (rho / new_rho))  # U is Y / rho: keep the unscaled dual Y
        self.rho.assign(new_rho)
        self.residuals.append(residuals)
        return residuals

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.update_every == 0:
            self.update()

    def hard_project(self) -> dict[str, np.ndarray]:
        """Put every constrained kernel on its set, stop the penalty, and return the 0/1 masks for retraining."""
        masks = {}
        for name, constraint in self.constraints.items():
            projected = project_array(constraint, self.kernels[name].numpy())
            self.kernels[name].assign(projected)
            masks[name] = (projected != 0).astype(np.float32)
        self.rho.assign(0.0)
        return masks


class KeepMasked(tf_keras().callbacks.Callback):
    """Masked retraining: pruned kernel entries are zeroed again after every optimizer step."""

    def __init__(self, model, masks: dict[str, np.ndarray]):
        super().__init__()
        self.kernels = {name: _kernel(model, name) for name in masks}
        self.masks = masks

    def on_train_batch_end(self, batch, logs=None):
        for name, kernel in self.kernels.items():
            kernel.assign(kernel * self.masks[name])
