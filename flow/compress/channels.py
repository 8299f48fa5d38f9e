"""How one layer's output channels feed the next layer's weight columns, as an architecture declares it.

Equalization moves a channel's scale across such a link; reachable pruning drops weights on either
side of a link whose other side is empty.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChannelLink:
    """`producer`'s output channel c feeds `consumer`'s input columns c*k .. c*k + k - 1 (k = columns_per_channel:
    kernel positions of a convolution, or the spatial positions a flatten lays out per channel), with only
    positively homogeneous operations (ReLU, max-pooling) between them."""

    producer: str
    consumer: str
    columns_per_channel: int

    def channels_with_weights(self, producer_pattern: np.ndarray) -> np.ndarray:
        return producer_pattern.reshape(producer_pattern.shape[0], -1).any(axis=1)

    def channels_read(self, consumer_pattern: np.ndarray) -> np.ndarray:
        return self.column_blocks(consumer_pattern).any(axis=(0, 2))

    def column_blocks(self, consumer_array: np.ndarray) -> np.ndarray:
        """The consumer's weights as (rows, producer channels, columns per channel); a view where the array allows."""
        return consumer_array.reshape(consumer_array.shape[0], -1, self.columns_per_channel)


def reachable_sets(sets: dict, values: dict[str, np.ndarray], links: tuple[ChannelLink, ...],
                   other_patterns: dict[str, np.ndarray]) -> dict:
    """The pruning sets narrowed so that each layer's top-k lands only on weights that can matter.

    A producer channel no consumer weight reads cannot reach the output, and consumer weights that read a
    channel with no weights of its own only add a constant; plain per-layer top-k keeps both kinds. Their
    positions are disallowed and each layer's count refilled from the rest, until nothing changes (the
    allowed sets only shrink, so this ends). `other_patterns`: nonzero patterns of layers this stage does
    not prune.
    """
    allowed = {name: constraint.allowed.copy() for name, constraint in sets.items()}
    while True:
        narrowed = {name: type(constraint)(constraint.keep, allowed[name]) for name, constraint in sets.items()}
        patterns = {**other_patterns, **{name: constraint.project(values[name]) != 0 for name, constraint in narrowed.items()}}
        changed = False
        for link in links:
            with_weights = link.channels_with_weights(patterns[link.producer])
            read = link.channels_read(patterns[link.consumer])
            unread, empty = with_weights & ~read, read & ~with_weights
            if link.producer in allowed and unread.any():
                rows = allowed[link.producer].reshape(unread.size, -1)
                rows[unread] = False
                changed = True
            if link.consumer in allowed and empty.any():
                link.column_blocks(allowed[link.consumer])[:, empty, :] = False
                changed = True
        if not changed:
            return narrowed


def wasted_weights(patterns: dict[str, np.ndarray], links: tuple[ChannelLink, ...]) -> dict[str, int]:
    """Per layer, kept weights that change the output by at most a constant: in a channel no later weight reads,
    or reading a channel that has no weights of its own (its output is a constant a bias could carry)."""
    wasted = {name: 0 for name in patterns}
    for link in links:
        with_weights = link.channels_with_weights(patterns[link.producer])
        read = link.channels_read(patterns[link.consumer])
        wasted[link.producer] += int(patterns[link.producer].reshape(with_weights.size, -1)[with_weights & ~read].sum())
        wasted[link.consumer] += int(link.column_blocks(patterns[link.consumer])[:, read & ~with_weights, :].sum())
    return wasted
