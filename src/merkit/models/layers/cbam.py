"""CBAM: convolutional block attention module (Woo et al., ECCV 2018).

Follows the public reference code (Jongchan/attention-module, ``MODELS/cbam.py``;
docs/models/shufflenet_me.md) and paper 002's Eqs. 10-11:

* channel gate ``M_c = sigmoid(MLP(avgpool(F)) + MLP(maxpool(F)))``, one MLP
  ``Linear(C -> C/r) -> ReLU -> Linear(C/r -> C)`` shared by both descriptors;
* spatial gate ``M_s = sigmoid(BN(conv7x7([mean_c(F); max_c(F)])))``;
* applied in that order: ``F' = M_c * F``, then ``F'' = M_s * F'``.

The spatial descriptor is stacked (mean; max) as paper 002 writes it (the
reference code stacks (max; mean); the two differ only by a permutation of
the 7x7 kernel's input channels, so nothing is lost). The reference code's BN
momentum of 0.01 after the 7x7 conv is kept. The hidden width is
``max(1, C // r)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from merkit.errors import ConfigError, ShapeError

__all__ = ["ChannelGate", "SpatialGate", "CBAM"]


def _check_map(x: Tensor, channels: int, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise ShapeError(f"{name} expects a (B, {channels}, H, W) feature map; got {tuple(x.shape)}.")


class ChannelGate(nn.Module):
    """Channel attention (Eq. 10): which channels matter.

    Args:
        channels: C of the input map.
        reduction: MLP reduction ratio r (hidden width ``max(1, C // r)``).

    Shape:
        x: ``(B, C, H, W)`` -> same shape, each channel scaled by a gate in (0, 1).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ConfigError(f"CBAM needs channels >= 1 and reduction >= 1; got {channels!r}, {reduction!r}.")
        hidden = max(1, channels // reduction)
        self.channels = channels
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def gate(self, x: Tensor) -> Tensor:
        """The gate ``M_c(x)``, shape ``(B, C, 1, 1)``."""
        _check_map(x, self.channels, "ChannelGate")
        avg = self.mlp(x.mean(dim=(2, 3)))
        mx = self.mlp(x.amax(dim=(2, 3)))
        return torch.sigmoid(avg + mx)[:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class SpatialGate(nn.Module):
    """Spatial attention (Eq. 11): where the informative positions are.

    Args:
        kernel_size: side of the convolution over the (mean; max) descriptor (7 in the paper).

    Shape:
        x: ``(B, C, H, W)`` -> same shape, each position scaled by a gate in (0, 1).
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"spatial gate kernel_size must be odd and >= 1; got {kernel_size!r}.")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def gate(self, x: Tensor) -> Tensor:
        """The gate ``M_s(x)``, shape ``(B, 1, H, W)``."""
        if x.ndim != 4:
            raise ShapeError(f"SpatialGate expects a (B, C, H, W) feature map; got {tuple(x.shape)}.")
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.bn(self.conv(desc)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class CBAM(nn.Module):
    """Channel gate, then spatial gate (module docstring).

    Args:
        channels: C of the input map.
        reduction: channel-MLP reduction ratio r.
        kernel_size: spatial-gate convolution size.
        spatial: keep the spatial gate (False: channel gate only, an ablation).

    Shape:
        x: ``(B, C, H, W)`` -> ``(B, C, H, W)``.

    Example:
        >>> import torch
        >>> CBAM(64)(torch.zeros(2, 64, 7, 7)).shape
        torch.Size([2, 64, 7, 7])
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, spatial: bool = True) -> None:
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction)
        self.spatial_gate = SpatialGate(kernel_size) if spatial else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.spatial_gate(self.channel_gate(x))
