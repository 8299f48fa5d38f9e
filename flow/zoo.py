"""Model zoo: Brevitas architectures by name, and checkpoints saved as plain tensors (weights_only)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import brevitas.nn as qnn
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

from .compress.channels import ChannelLink
from .compress.level_quant import nonzero_level_quant
from .errors import FlowError
from .paths import MODELS_DIR, atomic_write_bytes


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

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            qnn.QuantIdentity(act_quant=Act8bUnsignedPo2, return_quant_tensor=True),
            qnn.QuantConv2d(1, 8, 3, padding=1, bias=False, weight_quant=Weight4bPo2, return_quant_tensor=True),
            qnn.QuantReLU(act_quant=Act8bUnsignedPo2, return_quant_tensor=True),
            nn.MaxPool2d(2),
            qnn.QuantConv2d(8, 16, 3, padding=1, bias=False, weight_quant=Weight4bPo2, return_quant_tensor=True),
            qnn.QuantReLU(act_quant=Act8bUnsignedPo2, return_quant_tensor=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            qnn.QuantLinear(64, 32, bias=False, weight_quant=Weight4bPo2, return_quant_tensor=True),
            qnn.QuantReLU(act_quant=Act8bUnsignedPo2, return_quant_tensor=True),
            qnn.QuantLinear(32, 10, bias=False, weight_quant=Weight4bPo2, return_quant_tensor=True),
            qnn.QuantIdentity(act_quant=Act8bSignedPo2, return_quant_tensor=False),
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class LeNet5(nn.Module):
    """Caffe's LeNet-5 for 28x28 MNIST as ADMM-NN uses it: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, ReLU, fc 10.

    430.5K weights, float until ADMM quantization gives layers fixed nonzero levels
    (`weight_levels`: layer name -> {"bits": n, "step": q}).
    """

    input_shape = (1, 28, 28)
    n_classes = 10
    takes_weight_levels = True
    # only max-pooling and ReLU sit between these layers; a flattened conv2 channel is 4x4 = 16 consecutive fc1 inputs
    channel_links = (ChannelLink("conv1", "conv2", 25), ChannelLink("conv2", "fc1", 16), ChannelLink("fc1", "fc2", 1))

    def __init__(self, weight_levels: dict[str, dict] | None = None):
        super().__init__()
        levels = weight_levels or {}
        unknown = set(levels) - {"conv1", "conv2", "fc1", "fc2"}
        if unknown:
            raise FlowError(f"LeNet-5 has no layer(s) {sorted(unknown)}; its layers are conv1, conv2, fc1, fc2")

        def weight_quant(name):
            return nonzero_level_quant(**levels[name]) if name in levels else None

        self.conv1 = qnn.QuantConv2d(1, 20, 5, weight_quant=weight_quant("conv1"))
        self.conv2 = qnn.QuantConv2d(20, 50, 5, weight_quant=weight_quant("conv2"))
        self.fc1 = qnn.QuantLinear(800, 500, bias=True, weight_quant=weight_quant("fc1"))
        self.fc2 = qnn.QuantLinear(500, 10, bias=True, weight_quant=weight_quant("fc2"))

    def forward(self, x):
        x = F.max_pool2d(self.conv2(F.max_pool2d(self.conv1(x), 2)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


ARCHITECTURES = {"lenet-digits": LeNetDigits, "lenet5": LeNet5}
DEFAULT_MODEL = "lenet-digits"
DEFAULT_CHECKPOINT = MODELS_DIR / "lenet-digits.pt"


def build_model(arch: str, weight_levels: dict[str, dict] | None = None) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise FlowError(f"unknown architecture '{arch}'; known: {', '.join(sorted(ARCHITECTURES))}")
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


def save_checkpoint(model: nn.Module, arch: str, metrics: dict, path: Path,
                    weight_levels: dict[str, dict] | None = None) -> None:
    buffer = io.BytesIO()
    torch.save({"arch": arch, "state_dict": model.state_dict(), "metrics": metrics,
                "weight_levels": weight_levels or {}}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint names; weights_only refuses pickled code objects."""
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"model file not found: {path}; pass an existing .pt checkpoint or .onnx model")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(blob["arch"], blob.get("weight_levels"))
        model.load_state_dict(blob["state_dict"])
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
