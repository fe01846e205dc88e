"""OFF-ApexNet: two-stream CNN on the onset->apex horizontal and vertical flow (Gan et al., SPIC 2019).

Follows the PyTorch re-implementation in ECNU-Cross-Innovation-Lab/PRICAI2021-Off-TANet
(``models/off_apexnet.py``; the original was TensorFlow; ``docs/training.md``,
"Models"): per stream (u, then v; each 1x28x28) Conv 5x5 (6 filters, pad 2)
-> MaxPool 2 -> Conv 5x5 (16 filters, pad 2) -> MaxPool 2 (16x7x7 = 784);
concatenate (1568) -> FC 1024 -> ReLU -> Dropout 0.5 -> FC 1024 -> ReLU ->
Dropout 0.5 -> FC classes. About 2.66 M parameters.

Named option ``conv_act``: the re-implementation has no activation after the
convolutions (``"none"``); the paper presumably used ReLU (``"relu"``,
default; reconstructed).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.models._registry import register_model

__all__ = ["OffApexNet", "off_apexnet", "CONV_ACTIVATIONS"]

CONV_ACTIVATIONS = ("relu", "none")


def _stream(conv_act: str) -> nn.Sequential:
    act = (lambda: nn.ReLU(inplace=True)) if conv_act == "relu" else nn.Identity
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), act(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5, padding=2), act(), nn.MaxPool2d(2),
    )


class OffApexNet(nn.Module):
    """Two-stream (u, v) CNN with a two-layer fully connected head.

    Args:
        num_classes: output classes.
        input_size: ``(H, W)`` of each flow channel (divisible by 4).
        hidden: width of the two fully connected layers (1024).
        drop_rate: dropout after each hidden layer (0.5).
        conv_act: ``"relu"`` or ``"none"`` after the convolutions (module docstring).

    Shape:
        x: ``(B, 2, 28, 28)`` float32, channels (u, v) each min-max scaled to [0, 1]
        -> logits ``(B, num_classes)``.
    """

    #: How this model is trained by default (``merkit.training.methods``) and what it reads, readable
    #: without building it (``merkit.models.model_defaults``).
    default_method: ClassVar[str] = "supervised"
    default_inputs: ClassVar[str] = "flow_uv"

    def __init__(
        self,
        num_classes: int = 3,
        input_size: tuple[int, int] = (28, 28),
        hidden: int = 1024,
        drop_rate: float = 0.5,
        conv_act: str = "relu",
    ) -> None:
        super().__init__()
        if conv_act not in CONV_ACTIVATIONS:
            raise unknown_name("conv_act", conv_act, CONV_ACTIVATIONS)
        self.num_classes = num_classes
        self.default_cfg = {"input_size": (2, *input_size), "inputs": "flow_uv", "num_classes": 3}
        self.stream_u = _stream(conv_act)
        self.stream_v = _stream(conv_act)
        flat = 2 * 16 * (input_size[0] // 4) * (input_size[1] // 4)
        self.fc = nn.Sequential(
            nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(drop_rate),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(drop_rate),
        )
        self.num_features = hidden
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, 2, H, W)`` -> ``(B, hidden)`` (after the two hidden layers)."""
        u = torch.flatten(self.stream_u(x[:, 0:1]), 1)
        v = torch.flatten(self.stream_v(x[:, 1:2]), 1)
        return self.fc(torch.cat([u, v], dim=1))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, hidden)`` -> logits ``(B, num_classes)``, or the features with ``pre_logits``."""
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def off_apexnet(**overrides: Any) -> OffApexNet:
    """OFF-ApexNet at its published input: (u, v) 28x28, 3 classes."""
    return OffApexNet(**overrides)
