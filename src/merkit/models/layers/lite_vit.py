"""Paper 002's improved lightweight ViT block: MobileViT-style unfold/transformer/fold with Ghost attention.

Liu et al., Sci. Rep. 2022 (seed 002), section "Improved lightweight ViT
module", Eqs. 12-15, Fig. 4-5; the block structure follows MobileViT v1
(Mehta & Rastegari 2021; apple/ml-cvnets ``mobilevit_block.py``) and the
attention follows MoCoViT's branch sharing (Ma et al. 2022). Reconstructed,
see docs/models/shufflenet_me.md.

Data path for an input ``X`` of shape ``(B, C, H, W)``:

1. local representation: ``n x n`` convolution -> BN -> act, then a 1x1
   convolution to width ``d`` (no norm, no activation): ``X_L (B, d, H, W)``;
2. unfold into ``P = ph * pw`` pixel positions x ``N = HW / P`` patches
   (``X_U``); the map is bilinearly resized to a multiple of the patch size
   first when needed and back after folding (MobileViT's rule);
3. ``L`` transformer layers applied to each of the ``P`` sequences
   (pre-LayerNorm, Ghost attention + residual, MLP + residual), final LayerNorm;
4. fold back to ``(B, d, H, W)``, 1x1 convolution to ``C`` -> BN -> act;
5. concatenate with ``X`` (``2C`` channels) and fuse to ``C`` with an
   ``n x n`` convolution.

Ghost attention (Eqs. 13-14). One Ghost module (:mod:`.ghost`) is the only
projection: ``V = Ghost(X)``, ``K = V^T`` and ``Q = V`` by identity, so
``Attention(V) = softmax(V V^T / sqrt(d_v)) V`` per head (``d_v`` the head
width). The Ghost module's cheap depthwise convolution runs over the patch
grid of each pixel position, so it mixes neighbouring patches of the same
sequence. It is followed by a linear output projection (named option
``proj="linear"``; ``"none"`` drops it).

Reconstruction choices forced by the paper's 1.53 M-parameter budget
(docs/models/shufflenet_me.md: a dense 3x3 convolution at 464 channels alone is
1.94 M parameters), each a named option:

* ``local="depthwise"``: step 1's ``n x n`` convolution is depthwise
  (``"dense"`` is MobileViT's full convolution);
* ``fuse="dw_grouped"``: step 5 is a channel shuffle of the concatenation
  (so every group sees input and global channels), a depthwise ``n x n``
  convolution -> BN, and a grouped 1x1 convolution ``2C -> C`` with
  ``fuse_groups`` groups -> BN -> act (``"dense"`` is MobileViT's full
  ``n x n`` convolution ``2C -> C`` -> BN -> act).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.errors import ConfigError, ShapeError
from merkit.models.layers.ghost import GhostModule

__all__ = ["GhostAttention", "LiteTransformerLayer", "LiteViTBlock", "channel_shuffle", "LOCAL_MODES", "FUSE_MODES"]

LOCAL_MODES = ("depthwise", "dense")
FUSE_MODES = ("dw_grouped", "dense")
PROJ_MODES = ("linear", "none")


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle: ``(B, g * k, H, W)`` -> same shape, channels interleaved across groups."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class GhostAttention(nn.Module):
    """Self-attention with one shared Ghost projection: ``softmax(V V^T / sqrt(d_v)) V`` (Eq. 14).

    Args:
        dim: token width ``d``.
        num_heads: heads; ``d`` must be divisible by it (``d_v = d / num_heads``).
        proj: ``"linear"`` output projection or ``"none"``.

    Shape:
        x: ``(B', d, Nh, Nw)`` one sequence of ``N = Nh * Nw`` tokens per batch row, laid out
        on its patch grid -> tokens ``(B', N, d)``.
    """

    def __init__(self, dim: int, num_heads: int = 4, proj: str = "linear") -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"attention width {dim} is not divisible by num_heads={num_heads}.")
        if proj not in PROJ_MODES:
            raise unknown_name("proj", proj, PROJ_MODES)
        self.dim = dim
        self.num_heads = num_heads
        self.value = GhostModule(dim, dim, ratio=2, kernel_size=1, dw_size=3, act_layer=None)
        self.proj = nn.Linear(dim, dim) if proj == "linear" else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        bp, d, nh, nw = x.shape
        v = self.value(x).flatten(2).transpose(1, 2)  # (B', N, d)
        v = v.reshape(bp, nh * nw, self.num_heads, d // self.num_heads).transpose(1, 2)  # (B', heads, N, d_v)
        # Q = K = V (branch sharing): the default scale of sdpa is 1 / sqrt(d_v), as in Eq. 14
        out = F.scaled_dot_product_attention(v, v, v)
        out = out.transpose(1, 2).reshape(bp, nh * nw, d)
        return self.proj(out)


class LiteTransformerLayer(nn.Module):
    """Pre-norm transformer layer with :class:`GhostAttention` and a two-layer MLP.

    Args:
        dim: token width ``d``.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``d`` (MobileViT and paper 003 use 2).
        proj: attention output projection (:class:`GhostAttention`).

    Shape:
        x: tokens ``(B', N, d)`` with ``N = grid[0] * grid[1]`` -> ``(B', N, d)``.
    """

    def __init__(self, dim: int, num_heads: int = 4, mlp_ratio: float = 2.0, proj: str = "linear") -> None:
        super().__init__()
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = GhostAttention(dim, num_heads, proj)
        self.norm2 = nn.LayerNorm(dim)
        # SiLU as in MobileViT's transformer FFN (the paper cites MobileViT for this block)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        bp, n, d = x.shape
        h = self.norm1(x).transpose(1, 2).reshape(bp, d, grid[0], grid[1])
        x = x + self.attn(h)
        return x + self.mlp(self.norm2(x))


class LiteViTBlock(nn.Module):
    """Paper 002's improved ViT block (module docstring).

    Args:
        in_chs: channels ``C`` of the input (and output) map.
        dim: transformer width ``d``.
        depth: transformer layers ``L``.
        num_heads: attention heads.
        patch_size: patch side ``h = w`` (2 as in MobileViT and paper 003).
        mlp_ratio: transformer MLP hidden width over ``d``.
        kernel_size: ``n`` of the local and fusion convolutions.
        fuse_groups: groups of the 1x1 fusion convolution (``fuse="dw_grouped"``); must divide ``C``.
        act_layer: convolution activation (the backbone's).
        local: ``"depthwise"`` or ``"dense"`` local convolution.
        fuse: ``"dw_grouped"`` or ``"dense"`` fusion.
        proj: attention output projection, ``"linear"`` or ``"none"``.

    Shape:
        x: ``(B, C, H, W)`` -> ``(B, C, H, W)``.

    Example:
        >>> import torch
        >>> LiteViTBlock(32, dim=16, depth=1, num_heads=2, fuse_groups=4)(torch.zeros(2, 32, 7, 7)).shape
        torch.Size([2, 32, 7, 7])
    """

    def __init__(
        self,
        in_chs: int,
        dim: int = 64,
        depth: int = 1,
        num_heads: int = 4,
        patch_size: int = 2,
        mlp_ratio: float = 2.0,
        kernel_size: int = 3,
        fuse_groups: int = 8,
        act_layer: Callable[[], nn.Module] = nn.SiLU,
        local: str = "depthwise",
        fuse: str = "dw_grouped",
        proj: str = "linear",
    ) -> None:
        super().__init__()
        if local not in LOCAL_MODES:
            raise unknown_name("local", local, LOCAL_MODES)
        if fuse not in FUSE_MODES:
            raise unknown_name("fuse", fuse, FUSE_MODES)
        if depth < 1 or dim < 1 or patch_size < 1:
            raise ConfigError(
                f"ViT block needs depth, dim and patch_size >= 1; got {depth!r}, {dim!r}, {patch_size!r}.")
        if fuse == "dw_grouped" and (fuse_groups < 1 or (2 * in_chs) % fuse_groups or in_chs % fuse_groups):
            raise ConfigError(f"fuse_groups={fuse_groups!r} must divide the block's {in_chs} channels.")
        self.in_chs = in_chs
        self.dim = dim
        self.patch_size = patch_size
        pad = kernel_size // 2
        local_groups = in_chs if local == "depthwise" else 1
        self.local = nn.Sequential(
            nn.Conv2d(in_chs, in_chs, kernel_size, padding=pad, groups=local_groups, bias=False),
            nn.BatchNorm2d(in_chs),
            act_layer(),
            nn.Conv2d(in_chs, dim, 1, bias=False),
        )
        self.layers = nn.ModuleList([LiteTransformerLayer(dim, num_heads, mlp_ratio, proj) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.project = nn.Sequential(nn.Conv2d(dim, in_chs, 1, bias=False), nn.BatchNorm2d(in_chs), act_layer())
        self.fuse_mode = fuse
        if fuse == "dense":
            self.fuse = nn.Sequential(
                nn.Conv2d(2 * in_chs, in_chs, kernel_size, padding=pad, bias=False), nn.BatchNorm2d(in_chs), act_layer()
            )
        else:
            self.fuse = nn.Sequential(
                nn.Conv2d(2 * in_chs, 2 * in_chs, kernel_size, padding=pad, groups=2 * in_chs, bias=False),
                nn.BatchNorm2d(2 * in_chs),
                nn.Conv2d(2 * in_chs, in_chs, 1, groups=fuse_groups, bias=False),
                nn.BatchNorm2d(in_chs),
                act_layer(),
            )

    def unfold(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``(B, d, H, W)`` with ``H, W`` multiples of the patch -> ``(B * P, N, d)`` and the patch grid."""
        b, d, h, w = x.shape
        p = self.patch_size
        nh, nw = h // p, w // p
        x = x.reshape(b, d, nh, p, nw, p).permute(0, 3, 5, 2, 4, 1)  # (B, ph, pw, Nh, Nw, d)
        return x.reshape(b * p * p, nh * nw, d), (nh, nw)

    def fold(self, x: Tensor, batch: int, grid: tuple[int, int]) -> Tensor:
        """Inverse of :meth:`unfold`: ``(B * P, N, d)`` -> ``(B, d, H, W)``."""
        p = self.patch_size
        nh, nw = grid
        d = x.shape[-1]
        x = x.reshape(batch, p, p, nh, nw, d).permute(0, 5, 3, 1, 4, 2)  # (B, d, Nh, ph, Nw, pw)
        return x.reshape(batch, d, nh * p, nw * p)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_chs:
            raise ShapeError(f"LiteViTBlock expects (B, {self.in_chs}, H, W); got {tuple(x.shape)}.")
        b, _, h, w = x.shape
        y = self.local(x)
        p = self.patch_size
        th, tw = math.ceil(h / p) * p, math.ceil(w / p) * p
        resized = (th, tw) != (h, w)
        if resized:  # MobileViT's rule for maps that are not a multiple of the patch (7x7 at 224 input)
            y = F.interpolate(y, size=(th, tw), mode="bilinear", align_corners=False)
        tokens, grid = self.unfold(y)
        for layer in self.layers:
            tokens = layer(tokens, grid)
        y = self.fold(self.norm(tokens), b, grid)
        if resized:
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        y = torch.cat([x, self.project(y)], dim=1)
        if self.fuse_mode == "dw_grouped":
            y = channel_shuffle(y, 2)
        return self.fuse(y)
