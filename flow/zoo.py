"""Model zoo: Brevitas architectures by name, and checkpoints saved as plain tensors (weights_only)."""
from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn as nn
import brevitas.nn as qnn
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

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


ARCHITECTURES = {"lenet-digits": LeNetDigits}
DEFAULT_MODEL = "lenet-digits"
DEFAULT_CHECKPOINT = MODELS_DIR / "lenet-digits.pt"


def build_model(arch: str) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise FlowError(f"unknown architecture '{arch}'; known: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[arch]()


def save_checkpoint(model: nn.Module, arch: str, metrics: dict, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"arch": arch, "state_dict": model.state_dict(), "metrics": metrics}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint names; weights_only refuses pickled code objects."""
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"model file not found: {path}; pass an existing .pt checkpoint or .onnx model")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(blob["arch"])
        model.load_state_dict(blob["state_dict"])
    except FlowError:
        raise
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FlowError(
            f"{path} is not a flow checkpoint ({reason[:160]}); re-create it with 'flow train'"
        ) from None
    model.eval()
    return model, blob
