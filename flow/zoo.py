"""Model zoo: Brevitas architectures by name, and checkpoints saved as plain tensors (weights_only)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import brevitas.nn as qnn
from brevitas.quant import Int16Bias, Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

from .compress.channels import ChannelLink
from .compress.level_quant import nonzero_level_quant
from .errors import FlowError
from .paths import atomic_write_bytes


# Power-of-two scales make every Brevitas quantizer an exact ap_fixed type in hls4ml.
class Weight4bPo2(Int8WeightPerTensorFixedPoint):
    bit_width = 4


class Act8bUnsignedPo2(Uint8ActPerTensorFixedPoint):
    bit_width = 8


class Act8bSignedPo2(Int8ActPerTensorFixedPoint):
    bit_width = 8


class LeNetDigits(nn.Module):
    """LeNet-style CNN for 1x8x8 digits: conv-pool-conv-pool-fc-fc, 4-bit weights, 8-bit activations."""

    input_shape = (1, 8, 8)
    n_classes = 10
    quantized = True

    def __init__(self):
        super().__init__()

        def quant(quantizer):  # the float twin keeps every layer and parameter name, without quantizers
            return quantizer if self.quantized else None

        self.features = nn.Sequential(
            qnn.QuantIdentity(act_quant=quant(Act8bUnsignedPo2), return_quant_tensor=self.quantized),
            qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, weight_quant=quant(Weight4bPo2),
                            return_quant_tensor=self.quantized),
            qnn.QuantReLU(act_quant=quant(Act8bUnsignedPo2), return_quant_tensor=self.quantized),
            nn.MaxPool2d(2),
            qnn.QuantConv2d(8, 16, 3, padding=1, bias=False, weight_quant=quant(Weight4bPo2),
                            return_quant_tensor=self.quantized),
            qnn.QuantReLU(act_quant=quant(Act8bUnsignedPo2), return_quant_tensor=self.quantized),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            qnn.QuantLinear(64, 32, bias=False, weight_quant=quant(Weight4bPo2), return_quant_tensor=self.quantized),
            qnn.QuantReLU(act_quant=quant(Act8bUnsignedPo2), return_quant_tensor=self.quantized),
            qnn.QuantLinear(32, 10, bias=False, weight_quant=quant(Weight4bPo2), return_quant_tensor=self.quantized),
            qnn.QuantIdentity(act_quant=quant(Act8bSignedPo2), return_quant_tensor=False),
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class LeNetDigitsFloat(LeNetDigits):
    """The same network with float weights and activations: the reference its quantization is measured against."""

    quantized = False


class LeNet5(nn.Module):
    """Caffe's LeNet-5 for 28x28 MNIST as ADMM-NN uses it: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, ReLU, fc 10.

    430.5K weights, float until ADMM quantization gives layers fixed nonzero levels
    (`weight_levels`: layer name -> {"bits": n, "step": q}).

    `activation_bits` (input, conv1, conv2, fc1 -> n) makes it a model an FPGA can run: an unsigned
    n-bit power-of-two input quantizer, a QuantReLU of that many bits after conv1, conv2 and fc1, and
    biases on the integer grid of input scale x weight scale (Int16Bias), so hls4ml maps every tensor
    to an exact fixed-point type. Without it the activations and biases are float and only fc1 has a
    ReLU (Caffe's net); fc2's output, the logits, is the accumulator either way. Layers still without
    levels keep float weights and biases (the training stages before ADMM quantization).

    >>> LeNet5(activation_bits={"input": 8, "conv1": 8, "conv2": 8, "fc1": 8}).activation_bits["fc1"]
    8
    """

    input_shape = (1, 28, 28)
    n_classes = 10
    takes_weight_levels = True
    activation_sites = ("input", "conv1", "conv2", "fc1")
    # only max-pooling and ReLU sit between these layers; a flattened conv2 channel is 4x4 = 16 consecutive fc1 inputs
    channel_links = (ChannelLink("conv1", "conv2", 25), ChannelLink("conv2", "fc1", 16), ChannelLink("fc1", "fc2", 1))

    def __init__(self, weight_levels: dict[str, dict] | None = None, activation_bits: dict[str, int] | None = None):
        super().__init__()
        levels = weight_levels or {}
        unknown = set(levels) - {"conv1", "conv2", "fc1", "fc2"}
        if unknown:
            raise FlowError(f"LeNet-5 has no layer(s) {sorted(unknown)}; its layers are conv1, conv2, fc1, fc2")
        self.activation_bits = dict(activation_bits) if activation_bits else None
        if self.activation_bits is not None and set(self.activation_bits) != set(self.activation_sites):
            raise FlowError(f"LeNet-5's activation_bits names {sorted(self.activation_bits)}; give bits for exactly "
                            f"{', '.join(self.activation_sites)}")
        quantized = self.activation_bits is not None

        def layer(cls, *args, name: str, **kwargs):
            # a bias on the grid needs both scales: quantized activations and the layer's weight levels
            return cls(*args, weight_quant=nonzero_level_quant(**levels[name]) if name in levels else None,
                       bias_quant=Int16Bias if quantized and name in levels else None, **kwargs)

        self.conv1 = layer(qnn.QuantConv2d, 1, 20, 5, name="conv1")
        self.conv2 = layer(qnn.QuantConv2d, 20, 50, 5, name="conv2")
        self.fc1 = layer(qnn.QuantLinear, 800, 500, bias=True, name="fc1")
        self.fc2 = layer(qnn.QuantLinear, 500, 10, bias=True, name="fc2")
        # training stages before quantization-aware ones set this: ReLUs in the same places, no quantizers
        self.float_activations = False
        if quantized:
            self.activations = nn.ModuleDict({
                site: (qnn.QuantIdentity if site == "input" else qnn.QuantReLU)(
                    act_quant=Act8bUnsignedPo2.let(bit_width=bits), return_quant_tensor=True)
                for site, bits in self.activation_bits.items()})

    def _activation(self, site: str, x):
        if self.activation_bits is None:  # Caffe's net: a ReLU after fc1 only
            return F.relu(x) if site == "fc1" else x
        if self.float_activations:
            return x if site == "input" else F.relu(x)
        return self.activations[site](x)

    def forward(self, x):
        x = F.max_pool2d(self._activation("conv1", self.conv1(self._activation("input", x))), 2)
        x = F.max_pool2d(self._activation("conv2", self.conv2(x)), 2)
        return self.fc2(self._activation("fc1", self.fc1(x.flatten(1))))


ARCHITECTURES = {"lenet-digits": LeNetDigits, "lenet-digits-float": LeNetDigitsFloat, "lenet5": LeNet5}


def build_model(arch: str, weight_levels: dict[str, dict] | None = None,
                activation_bits: dict[str, int] | None = None) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise FlowError(f"unknown architecture '{arch}'; known: {', '.join(sorted(ARCHITECTURES))}")
    if activation_bits:
        if not getattr(ARCHITECTURES[arch], "activation_sites", ()):
            raise FlowError(f"architecture '{arch}' has fixed activation quantizers; activation_bits apply to "
                            + ", ".join(name for name, cls in ARCHITECTURES.items() if getattr(cls, "activation_sites", ())))
        return ARCHITECTURES[arch](weight_levels=weight_levels, activation_bits=activation_bits)
    if weight_levels:
        if not getattr(ARCHITECTURES[arch], "takes_weight_levels", False):
            levelled = ", ".join(name for name, cls in ARCHITECTURES.items() if getattr(cls, "takes_weight_levels", False))
            raise FlowError(f"architecture '{arch}' has fixed Brevitas quantizers; ADMM levels apply to {levelled}")
        return ARCHITECTURES[arch](weight_levels=weight_levels)
    return ARCHITECTURES[arch]()


def compressible_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The conv and fully connected layers, by module name: what ADMM prunes and quantizes."""
    return {name: module for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))}


def layer_sizes(model: nn.Module) -> dict[str, int]:
    """Weights per compressible layer: what per-layer keep counts and bits are checked against."""
    return {name: layer.weight.numel() for name, layer in compressible_layers(model).items()}


def load_weights(model: nn.Module, state_dict: dict) -> None:
    """load_state_dict, allowing only activation scales that are still being calibrated to be absent.

    Brevitas leaves a runtime-statistics scale out of the state dict until its first
    collect_stats_steps training steps are done (a float-activation stage runs none); the model
    built to load it then calibrates that scale afresh in its next training steps.
    """
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    calibrating = {key for key in missing if key.startswith("activations.") and key.endswith(".scaling_impl.value")}
    if unexpected or set(missing) - calibrating:
        raise RuntimeError(f"state dict does not match the model: missing {sorted(set(missing) - calibrating)[:3]}, "
                           f"unexpected {sorted(unexpected)[:3]}")


def activation_bits_of(model: nn.Module) -> dict[str, int] | None:
    """The activation_bits a model was built with (None: float activations, or fixed quantizers)."""
    return getattr(model, "activation_bits", None)


def save_checkpoint(model: nn.Module, arch: str, metrics: dict, path: Path,
                    weight_levels: dict[str, dict] | None = None) -> None:
    buffer = io.BytesIO()
    torch.save({"arch": arch, "state_dict": model.state_dict(), "metrics": metrics,
                "weight_levels": weight_levels or {}, "activation_bits": activation_bits_of(model)}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint names; weights_only refuses pickled code objects."""
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"model file not found: {path}; pass an existing .pt checkpoint or .onnx model")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(blob["arch"], blob.get("weight_levels"), blob.get("activation_bits"))
        load_weights(model, blob["state_dict"])
    except FlowError:
        raise
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FlowError(
            f"{path} is not a flow checkpoint ({reason[:160]}); re-create it with 'flow train'"
        ) from None
    check_weights({name: tensor.detach().numpy() for name, tensor in blob["state_dict"].items()},
                  {f"{name}.weight" for name in compressible_layers(model)}, path)
    model.eval()
    return model, blob


def check_weights(arrays: dict, weight_names: set[str], source: Path) -> None:
    """Refuse NaN/Inf anywhere and weight tensors pruned to 100%: neither can become a working accelerator."""
    for name, array in arrays.items():
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise FlowError(f"{source}: tensor '{name}' holds NaN or Inf values; retrain or re-export the model "
                            "from a run whose loss stayed finite")
    for name in sorted(weight_names):
        if not np.any(arrays[name]):
            raise FlowError(f"{source}: every weight of '{name}' is zero (pruned to 100%), so the layer outputs only "
                            "its bias; keep at least one weight per layer (keep >= 1) and retrain")
