"""Seeded weight layers for the gate-level calibration: ADMM-NN's equal-interval levels, random masks.

A layer's weights are k x q with k in +-{1 .. 2^(n-1)} (zero excluded: zero means pruned) for
n-bit level codes, on a uniformly random mask; its inputs are random values of an n-bit
fixed-point type, its accumulator holds every sum exactly, and its result is either the
accumulator itself or an 8-bit type that rounds half to even and saturates (a merged output
quantizer). The expected outputs are computed here in exact arithmetic, so a form that
reproduces them is right.

Example::

    layer = seeded_layer(LayerSpec(seed=0, n_in=64, n_out=16, pruned=0.9, level_bits=3, input_bits=4,
                                   signed_inputs=False, pes=1, narrow_result=False))
    layer.weight_type.width   # 4: three code bits of magnitude plus a sign
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .layers import FixedType, LayerVectors

RANGES = {"n_in": (16, 25, 32, 48, 64, 100, 128, 150, 200), "n_out": (4, 8, 10, 16, 20, 32),
          "pruned": (0.5, 0.997), "level_bits": (1, 7), "input_bits": (1, 8), "pes": (1, 1, 2, 4)}
VECTORS = 64  # random input vectors each form is simulated on
NARROW_RESULT_BITS = 8


@dataclass(frozen=True)
class LayerSpec:
    """One seeded layer: shape, pruned portion, level-code and input bits, the sparse form's PE count."""

    seed: int
    n_in: int
    n_out: int
    pruned: float
    level_bits: int  # n: 2^n nonzero levels
    input_bits: int
    signed_inputs: bool
    pes: int
    narrow_result: bool  # an 8-bit RND_CONV / SAT result type instead of the accumulator's

    @property
    def name(self) -> str:
        return (f"seeded{self.seed}_{self.n_in}x{self.n_out}_p{round(1000 * self.pruned)}"
                f"_w{self.level_bits}a{self.input_bits}")

    def to_json(self) -> dict:
        return asdict(self)


def seeded_specs(count: int, seed: int) -> list[LayerSpec]:
    """count layer specs drawn from RANGES with one generator; level and input bits cycle through their ranges
    so every width appears."""
    generator = np.random.default_rng(seed)
    low_w, high_w = RANGES["level_bits"]
    low_a, high_a = RANGES["input_bits"]
    specs = []
    for index in range(count):
        specs.append(LayerSpec(seed=seed * 1000 + index, n_in=int(generator.choice(RANGES["n_in"])),
                               n_out=int(generator.choice(RANGES["n_out"])),
                               pruned=round(float(generator.uniform(*RANGES["pruned"])), 4),
                               level_bits=low_w + index % (high_w - low_w + 1),
                               input_bits=low_a + (index * 3) % (high_a - low_a + 1),
                               signed_inputs=bool(index % 3 == 0), pes=int(generator.choice(RANGES["pes"])),
                               narrow_result=bool(index % 2)))
    return specs


def seeded_layer(spec: LayerSpec) -> LayerVectors:
    """The layer `spec` describes, with VECTORS input vectors and their exact outputs."""
    generator = np.random.default_rng(spec.seed)
    n = spec.level_bits
    weight_type = FixedType(True, n + 1, 2)  # k x 2^-(n-1): magnitudes up to 1.0
    magnitudes = generator.integers(1, 2 ** (n - 1) + 1, (spec.n_in, spec.n_out))
    signs = generator.choice((-1, 1), (spec.n_in, spec.n_out))
    kept = generator.random((spec.n_in, spec.n_out)) >= spec.pruned
    if not kept.any():
        kept[generator.integers(spec.n_in), generator.integers(spec.n_out)] = True
    weights = signs * magnitudes * kept * 2.0 ** -(n - 1)
    input_fraction = spec.input_bits // 2
    input_type = FixedType(spec.signed_inputs, spec.input_bits, spec.input_bits - input_fraction)
    low = -(2 ** (spec.input_bits - 1)) if spec.signed_inputs else 0
    inputs = generator.integers(low, low + 2 ** spec.input_bits, (VECTORS, spec.n_in)) * 2.0 ** -input_fraction
    fraction = input_fraction + weight_type.fraction
    bias = generator.integers(-8, 9, spec.n_out) * 2.0 ** -fraction
    largest_input = 2.0 ** (spec.input_bits - input_fraction - int(spec.signed_inputs))
    bound = float(np.max(np.abs(weights).sum(axis=0) * largest_input + np.abs(bias)))
    accum_integer = 1 + max(1, math.ceil(math.log2(bound + 2.0 ** -fraction)) + 1)  # the sign and every sum
    accum_type = FixedType(True, accum_integer + fraction, accum_integer)
    result_type = accum_type
    if spec.narrow_result:
        result_fraction = min(fraction, 3)
        result_type = FixedType(True, NARROW_RESULT_BITS, NARROW_RESULT_BITS - result_fraction, "RND_CONV", "SAT")
    outputs = result_type.cast(inputs @ weights + bias)
    return LayerVectors(name=spec.name, kind="dense", weights=weights, bias=bias, input_type=input_type,
                        weight_type=weight_type, accum_type=accum_type, result_type=result_type,
                        firmware_entries=None, inputs=inputs, outputs=outputs)
