"""Ghost module (Han et al., GhostNet, CVPR 2020).

Follows timm's ``GhostModule`` (``timm/models/ghostnet.py``; ``docs/models/shufflenet_me.md``): a primary
``k x k`` convolution makes ``ceil(out / ratio)``
intrinsic maps, a cheap depthwise ``d x d`` convolution on them makes
``(ratio - 1)`` times as many "ghost" maps, and the two are concatenated and
cut to ``out`` channels. Each part is followed by BatchNorm and, when ``act``
is set, the activation.

Used in paper 002's improved ViT block as the shared Q/K/V projection, where
it replaces a linear layer; there the activation is off (GhostNet's
``relu=False`` form) so the projection stays linear up to BatchNorm.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from merkit.errors import ConfigError, ShapeError

__all__ = ["GhostModule"]


class GhostModule(nn.Module):
    """Primary conv + cheap depthwise conv, concatenated.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        ratio: output channels per intrinsic channel (2 halves the primary conv).
        kernel_size: primary convolution size (1: a pointwise projection).
        dw_size: cheap depthwise convolution size.
        act_layer: activation after each part, or None for a linear module.

    Shape:
        x: ``(B, in_chs, H, W)`` -> ``(B, out_chs, H, W)``.

    Example:
        >>> import torch
        >>> GhostModule(64, 64)(torch.zeros(2, 64, 4, 4)).shape
        torch.Size([2, 64, 4, 4])
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        ratio: int = 2,
        kernel_size: int = 1,
        dw_size: int = 3,
        act_layer: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if ratio < 2:
            raise ConfigError(f"ghost ratio must be >= 2 (1 would leave no cheap part); got {ratio!r}.")
        if in_chs < 1 or out_chs < 1:
            raise ConfigError(f"ghost module channels must be >= 1; got in_chs={in_chs!r}, out_chs={out_chs!r}.")
        self.in_chs = in_chs
        self.out_chs = out_chs
        init_chs = math.ceil(out_chs / ratio)
        new_chs = init_chs * (ratio - 1)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_chs, init_chs, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(init_chs),
            act_layer() if act_layer is not None else nn.Identity(),
        )
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(init_chs, new_chs, dw_size, padding=dw_size // 2, groups=init_chs, bias=False),
            nn.BatchNorm2d(new_chs),
            act_layer() if act_layer is not None else nn.Identity(),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chs:
            raise ShapeError(f"GhostModule expects (B, {self.in_chs}, H, W); got {tuple(x.shape)}.")
        primary = self.primary_conv(x)
        ghost = self.cheap_operation(primary)
        return torch.cat([primary, ghost], dim=1)[:, : self.out_chs]
