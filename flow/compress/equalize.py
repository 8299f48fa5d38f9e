"""Cross-layer channel equalization before quantization (Nagel et al. 2019, "Data-Free Quantization").

ReLU and max-pooling are positively homogeneous, so scaling one layer's output channel c (weights
and bias) by s > 0 and dividing the next layer's inputs from c by s leaves the network's function
unchanged. ADMM-NN gives each layer a single step q, and zero is no level, so a channel whose
weights are all small would round every one of them up to +-q. Before quantizing, we choose the
scales that minimise the quantization error the network sees: each quantized layer's squared
error measured in the original parametrization, relative to that layer's energy. The pruning
masks are untouched (zeros scale to zeros), and the levels stay per layer and equal-interval.

Brevitas' EqualizeGraph matches channel ranges (Nagel's rule, for a grid that has zero on it), sees pooling and
ReLU only as modules (LeNet5 calls them as functions) and does not equalize across a flatten; on a pruned LeNet-5
its scales raise the level error that this lowers (tests/test_library_equivalents.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .channels import ChannelLink
from .projections import optimal_step, quantize_nonzero

# candidate scales per channel: 1/8 .. 8 on a log grid with 1 in the middle
CANDIDATES = np.exp(np.linspace(np.log(1 / 8), np.log(8), 97))
MAX_SWEEPS = 10
MIN_RELATIVE_GAIN = 1e-4  # stop sweeping once a sweep lowers the error by less than this fraction


@dataclass
class _Layer:
    """A layer's nonzero weights in its original parametrization, and its current output/input column scales."""

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    bits: int | None  # None: not quantized in this stage, so its error does not count
    out_scale: np.ndarray
    in_scale: np.ndarray
    step: float = 1.0

    @classmethod
    def of(cls, weight: np.ndarray, bits: int | None) -> "_Layer":
        matrix = weight.reshape(weight.shape[0], -1).astype(np.float64)
        rows, columns = np.nonzero(matrix)
        return cls(rows, columns, matrix[rows, columns], bits, np.ones(matrix.shape[0]), np.ones(matrix.shape[1]))

    def scaled(self) -> np.ndarray:
        return self.values * self.out_scale[self.rows] / self.in_scale[self.columns]

    def refit_step(self) -> None:
        if self.bits is not None:
            self.step = optimal_step(self.scaled(), self.bits)

    def relative_error(self, scaled: np.ndarray, back: np.ndarray) -> np.ndarray:
        """Squared quantization error of `scaled` (any leading shape) mapped back to original units by `back`,
        relative to the layer's energy."""
        if self.bits is None:
            return np.zeros_like(scaled)
        rounded = quantize_nonzero(scaled, self.step, self.bits, np.ones(scaled.shape, bool))
        return ((scaled - rounded) * back) ** 2 / np.sum(self.values**2)

    def total_error(self) -> float:
        return float(np.sum(self.relative_error(self.scaled(), self.in_scale[self.columns] / self.out_scale[self.rows])))


def _sweep_link(link: ChannelLink, producer: _Layer, consumer: _Layer) -> None:
    """Best candidate scale per channel with every step fixed; channels of one link touch disjoint weights."""
    n_channels = producer.out_scale.size
    s = CANDIDATES[:, None]
    out_values = producer.values / producer.in_scale[producer.columns]
    out_error = producer.relative_error(out_values * s, producer.in_scale[producer.columns] / s)
    in_channels = consumer.columns // link.columns_per_channel
    in_values = consumer.values * consumer.out_scale[consumer.rows]
    in_error = consumer.relative_error(in_values / s, s / consumer.out_scale[consumer.rows])
    per_channel = np.zeros((CANDIDATES.size, n_channels))
    for channels, error in ((producer.rows, out_error), (in_channels, in_error)):
        for k in range(CANDIDATES.size):
            per_channel[k] += np.bincount(channels, weights=error[k], minlength=n_channels)
    # a channel no quantized weight touches keeps scale 1 instead of the first of many equal candidates
    best = np.where(np.ptp(per_channel, axis=0) > 0, CANDIDATES[np.argmin(per_channel, axis=0)], 1.0)
    producer.out_scale = best
    consumer.in_scale = np.repeat(best, link.columns_per_channel)


def equalization_scales(weights: dict[str, np.ndarray], bits: dict[str, int], links: tuple[ChannelLink, ...],
                        frozen: set[str] = frozenset()) -> tuple[dict[str, np.ndarray], dict]:
    """Per link, the output-channel scales of its producer (coordinate descent over channels, then each layer's
    optimal step, repeated); links touching a `frozen` layer keep scale 1. Returns the scales and a record of
    the relative error before and after."""
    layers = {name: _Layer.of(weight, bits.get(name)) for name, weight in weights.items()}
    active = [link for link in links if not {link.producer, link.consumer} & set(frozen)]

    def error() -> float:
        for layer in layers.values():
            layer.refit_step()
        return sum(layer.total_error() for layer in layers.values())

    start = best_error = error()
    best = {link.producer: layers[link.producer].out_scale.copy() for link in active}
    for _ in range(MAX_SWEEPS):
        for link in active:
            _sweep_link(link, layers[link.producer], layers[link.consumer])
        current = error()
        if current < best_error:
            improved = (best_error - current) / best_error
            best_error, best = current, {link.producer: layers[link.producer].out_scale.copy() for link in active}
            if improved >= MIN_RELATIVE_GAIN:
                continue
        break
    record = {"relative_error_before": start, "relative_error_after": best_error,
              "scale_range": {name: [float(s.min()), float(s.max())] for name, s in best.items()}}
    return best, record


@torch.no_grad()
def apply_scales(layers: dict[str, torch.nn.Module], links: tuple[ChannelLink, ...], scales: dict[str, np.ndarray]) -> None:
    """Scale each producer's output channels (weights and bias) and divide its consumer's matching inputs."""
    for link in links:
        if link.producer not in scales:
            continue
        scale = torch.from_numpy(scales[link.producer])
        producer, consumer = layers[link.producer], layers[link.consumer]
        producer.weight.mul_(scale.to(producer.weight).reshape(-1, *[1] * (producer.weight.dim() - 1)))
        if producer.bias is not None:
            producer.bias.mul_(scale.to(producer.bias))
        columns = torch.repeat_interleave(scale, link.columns_per_channel).to(consumer.weight)
        shape = consumer.weight.shape
        consumer.weight.copy_((consumer.weight.reshape(shape[0], -1) / columns[None, :]).reshape(shape))
