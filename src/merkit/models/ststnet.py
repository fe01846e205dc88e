"""STSTNet: shallow triple-stream CNN on onset->apex (u, v, strain) (Liong et al., FG 2019).

Follows the public code christy1206/STSTNet (``main.py``), see
docs/training.md: three parallel 3x3 convolutions (padding 2)
with 3, 5 and 8 output channels on the same 3-channel input, each followed by
ReLU -> BatchNorm -> MaxPool 3x3 stride 3 padding 1 -> Dropout 0.5; the 16
concatenated channels are average-pooled 2x2 and flattened (400 values at
28x28) into one linear layer. About 1.7 K parameters.

The ``inputs`` option exists for the strain ablation of the SynthME difficulty
ladder: ``"flow_uv"`` trains the same network on (u, v) alone, so that flow
only and flow + strain are compared with everything else held fixed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from merkit.errors import ConfigError
from merkit.models._registry import conv_out, register_model

__all__ = ["STSTNet", "ststnet", "STSTNET_INPUTS"]

#: Feature kinds STSTNet can read -> channel count.
STSTNET_INPUTS = {"flow_uv_strain": 3, "flow_uv": 2}


class STSTNet(nn.Module):
    """Shallow triple-stream network.

    Args:
        num_classes: output classes.
        in_chans: input channels; None (default) takes them from ``inputs``.
        input_size: ``(H, W)`` of the input; sets :attr:`num_features`.
        stream_channels: output channels of the three streams.
        drop_rate: dropout after each stream's pooling (0.5 in the reference).
        inputs: the feature kind read: ``"flow_uv_strain"`` (the published input, default) or
            ``"flow_uv"`` (flow only, the strain ablation).

    Shape:
        x: ``(B, C, 28, 28)`` float32, channels (u, v, strain) (or (u, v)) each min-max scaled to [0, 1]
        -> logits ``(B, num_classes)``.
    """

    #: How this model is trained by default (``merkit.training.methods``) and what it reads, readable
    #: without building it (``merkit.models.model_defaults``).
    default_method: ClassVar[str] = "supervised"
    default_inputs: ClassVar[str] = "flow_uv_strain"

    def __init__(
        self,
        num_classes: int = 3,
        in_chans: int | None = None,
        input_size: tuple[int, int] = (28, 28),
        stream_channels: tuple[int, ...] = (3, 5, 8),
        drop_rate: float = 0.5,
        inputs: str = "flow_uv_strain",
    ) -> None:
        super().__init__()
        if inputs not in STSTNET_INPUTS:
            raise ConfigError(f"STSTNet inputs must be one of {sorted(STSTNET_INPUTS)!r}; got {inputs!r}.")
        if in_chans is None:
            in_chans = STSTNET_INPUTS[inputs]
        elif in_chans != STSTNET_INPUTS[inputs]:
            raise ConfigError(f"STSTNet in_chans={in_chans} does not match inputs={inputs!r} "
                              f"({STSTNET_INPUTS[inputs]} channels); give one of them.")
        self.num_classes = num_classes
        self.default_cfg = {"input_size": (in_chans, *input_size), "inputs": inputs, "num_classes": 3}
        self.streams = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_chans, c, kernel_size=3, padding=2),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(c),
                nn.MaxPool2d(kernel_size=3, stride=3, padding=1),
                nn.Dropout(drop_rate),
            )
            for c in stream_channels
        )
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        h, w = (conv_out(conv_out(conv_out(s, 3, 1, 2), 3, 3, 1), 2, 2) for s in input_size)
        self.num_features = sum(stream_channels) * h * w
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, num_features)`` (400 at 28x28)."""
        x = torch.cat([stream(x) for stream in self.streams], dim=1)
        return torch.flatten(self.pool(x), 1)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, num_features)`` -> logits ``(B, num_classes)``, or the features with ``pre_logits``."""
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def ststnet(**overrides: Any) -> STSTNet:
    """STSTNet at its published input: (u, v, strain) 28x28, 3 classes."""
    return STSTNet(**overrides)
