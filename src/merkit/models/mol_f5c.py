"""MOL building blocks: shared conv stack and the F5C block (FCC + CCC) (Shao et al., arXiv 2506.14511).

Follows docs/models/mol.md (seed 001 and the public code
CYF-cuber/MOL, ``modules/Conv_stack.py``, ``modules/FCC.py``,
``modules/CCC.py``); every place where the paper and the code disagree is a
named option (``docs/models/mol.md``).

* :class:`ConvStack`: four convolutions without activations, 1 -> 128
  channels, 128x128 -> 16x16.
* :class:`FCC`: fully-connected (global circular) convolution, the ParC
  operator: two half-channel branches (vertical-then-horizontal and
  horizontal-then-vertical), learned positional embeddings, depthwise
  circular convolutions spanning the whole height or width with meta-kernels
  cropped to the map size, residual per branch.
* :class:`CCC`: channel correspondence convolution, a DGCNN-style edge
  convolution on a k-nearest-neighbour graph with max aggregation.
* :class:`TransformerMixer`: the "vanilla transformer in place of FCC" ablation.
* :class:`F5CBlock`: mixer (FCC, transformer or nothing) then CCC with a residual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.errors import ConfigError, ShapeError

__all__ = [
    "ConvStack",
    "FCC",
    "CCC",
    "TransformerMixer",
    "F5CBlock",
    "FCC_MODES",
    "FCC_FUSIONS",
    "CCC_GRAPHS",
    "MIXERS",
    "circular_conv",
]

#: FCC branch layouts: ``"vh"`` both branches (V->H and H->V, MOL); ``"v"`` / ``"h"`` one axis only (T XI).
FCC_MODES = ("vh", "v", "h")
#: How the two FCC branches are fused after concatenation (see :class:`FCC`).
FCC_FUSIONS = ("none", "conv", "ffn")
#: Vertices of the CCC graph: ``"positions"`` (code) or ``"channels"`` (paper).
CCC_GRAPHS = ("positions", "channels")
#: Token mixer at the start of an F5C block.
MIXERS = ("fcc", "transformer", "none")


def _check(kind: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise unknown_name(kind, value, {c: None for c in choices})


class ConvStack(nn.Module):
    """The shared per-frame stem: 4 convolutions, no activations in between (as in the code).

    Shape:
        x: ``(N, 1, H, W)`` float32 gray frames -> ``(N, 128, h, w)``; 128x128 -> 16x16.
    """

    def __init__(self, in_chans: int = 1, out_chans: int = 128) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_chans, 8, kernel_size=4, stride=2),
            nn.Conv2d(8, 32, kernel_size=3, stride=2),
            nn.Conv2d(32, 64, kernel_size=2, stride=2, padding=1),
            nn.Conv2d(64, out_chans, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.convs(x)


def circular_conv(x: Tensor, kernel: Tensor, bias: Tensor | None, axis: int) -> Tensor:
    """Depthwise circular convolution whose kernel spans the whole axis.

    Output position ``i`` along ``axis`` is ``sum_m kernel[m] * x[(i + m) mod L] + bias``, i.e. every
    output sees the whole column (``axis=2``) or row (``axis=3``). Padding is the first ``L - 1``
    entries appended after the last one, as in the reference code.

    Args:
        x: ``(N, C, H, W)``.
        kernel: ``(C, 1, L, 1)`` for ``axis=2`` or ``(C, 1, 1, L)`` for ``axis=3``, ``L`` = size of that axis.
        bias: ``(C,)`` or None.
        axis: 2 (height, vertical) or 3 (width, horizontal).

    Returns:
        ``(N, C, H, W)``.
    """
    length = x.shape[axis]
    if kernel.shape[axis] != length:
        raise ShapeError(f"circular kernel spans {kernel.shape[axis]} entries along axis {axis}; the map has {length}.")
    padded = torch.cat([x, x.narrow(axis, 0, length - 1)], dim=axis)
    return F.conv2d(padded, kernel, bias, groups=x.shape[1])


class _CircularStage(nn.Module):
    """One FCC stage: add a positional embedding along ``axis``, then the global circular conv along it."""

    def __init__(self, dim: int, meta_kernel_size: int, axis: int) -> None:
        super().__init__()
        self.axis = axis
        shape = (dim, 1, meta_kernel_size, 1) if axis == 2 else (dim, 1, 1, meta_kernel_size)
        # the code takes the weights of a fresh depthwise Conv2d (kaiming-uniform) and N(0, 1) biases/PEs
        self.kernel = nn.Parameter(nn.Conv2d(dim, dim, shape[2:], groups=dim).weight.detach().clone())
        self.bias = nn.Parameter(torch.randn(dim))
        self.pos_embed = nn.Parameter(torch.randn(1, *shape[:1], *shape[2:]))
        self.meta_kernel_size = meta_kernel_size

    def add_pos_embed(self, x: Tensor) -> Tensor:
        size = x.shape[self.axis]
        return x + self.pos_embed.narrow(self.axis, 0, size)  # cropped, broadcast over the other axis

    def conv(self, x: Tensor) -> Tensor:
        size = x.shape[self.axis]
        return circular_conv(x, self.kernel.narrow(self.axis, 0, size), self.bias, self.axis)


class FCC(nn.Module):
    """Fully-connected (global circular) convolution, MOL's transformer-style spatial mixer.

    The channels are split in two halves. Branch 1 (``mode="vh"``): vertical positional
    embedding -> BatchNorm -> depthwise circular convolution along H with a kernel as tall as
    the map -> horizontal positional embedding -> circular convolution along W -> plus the branch
    input. Branch 2 is the mirror (W first). Kernels and embeddings are meta-parameters of
    length ``meta_kernel_size`` cropped to the map size. The halves are concatenated.

    Args:
        dim: input and output channels (128 in MOL); must be even.
        meta_kernel_size: stored kernel/embedding length (32); maps up to this size are supported.
        mode: ``"vh"`` (MOL), ``"v"`` (both halves vertical only, "FCC-V only" of T XI) or
            ``"h"`` (horizontal only).
        fusion: after concatenation, ``"none"`` (the released code: concatenation only),
            ``"conv"`` (the paper's "concatenation and vanilla convolution": a 1x1 conv, dim -> dim)
            or ``"ffn"`` (the FFN the code builds but never calls: BN -> 1x1 dim->2 -> Hardswish ->
            1x1 2->dim, added residually).

    Shape:
        x: ``(N, dim, h, w)`` with ``h, w <= meta_kernel_size`` -> same shape.
    """

    def __init__(self, dim: int = 128, meta_kernel_size: int = 32, mode: str = "vh", fusion: str = "none") -> None:
        super().__init__()
        _check("FCC mode", mode, FCC_MODES)
        _check("FCC fusion", fusion, FCC_FUSIONS)
        if dim % 2:
            raise ConfigError(f"FCC dim must be even (two half-channel branches); got {dim}.")
        half = dim // 2
        axes = {"vh": ((2, 3), (3, 2)), "v": ((2,), (2,)), "h": ((3,), (3,))}[mode]
        self.mode, self.fusion_name, self.meta_kernel_size = mode, fusion, meta_kernel_size
        self.branches = nn.ModuleList(
            nn.ModuleList(_CircularStage(half, meta_kernel_size, a) for a in branch_axes) for branch_axes in axes
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(half) for _ in axes)
        if fusion == "conv":
            self.fuse = nn.Conv2d(dim, dim, kernel_size=1)
        elif fusion == "ffn":
            self.fuse = nn.Sequential(
                nn.BatchNorm2d(dim), nn.Conv2d(dim, 2, 1), nn.Hardswish(), nn.Conv2d(2, dim, 1), nn.Dropout(0.1)
            )
        else:
            self.fuse = None

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if max(h, w) > self.meta_kernel_size:
            raise ShapeError(
                f"FCC map is {h}x{w}; the meta-kernels span {self.meta_kernel_size}. Use a smaller input "
                f"or a larger meta_kernel_size."
            )
        outs = []
        for half, stages, norm in zip(torch.chunk(x, 2, dim=1), self.branches, self.norms):
            y = norm(stages[0].add_pos_embed(half))
            y = stages[0].conv(y)
            for stage in stages[1:]:
                y = stage.conv(stage.add_pos_embed(y))
            outs.append(half + y)
        out = torch.cat(outs, dim=1)
        if self.fusion_name == "conv":
            out = self.fuse(out)
        elif self.fusion_name == "ffn":
            out = out + self.fuse(out)
        return out


class TransformerMixer(nn.Module):
    """A vanilla pre-norm transformer layer over the ``h * w`` positions (ablation of T XI).

    Learned row and column positional embeddings (cropped from ``meta_kernel_size``, like FCC's),
    then one ``nn.TransformerEncoderLayer`` (``heads`` heads, MLP ratio 2, GELU, dropout 0.1).

    Shape:
        x: ``(N, dim, h, w)`` -> same shape.
    """

    def __init__(self, dim: int = 128, heads: int = 4, meta_kernel_size: int = 32) -> None:
        super().__init__()
        self.row_embed = nn.Parameter(torch.zeros(1, dim, meta_kernel_size, 1))
        self.col_embed = nn.Parameter(torch.zeros(1, dim, 1, meta_kernel_size))
        nn.init.trunc_normal_(self.row_embed, std=0.02)
        nn.init.trunc_normal_(self.col_embed, std=0.02)
        self.layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=0.1, activation="gelu", batch_first=True, norm_first=True
        )

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        x = x + self.row_embed[:, :, :h] + self.col_embed[:, :, :, :w]
        tokens = self.layer(x.flatten(2).transpose(1, 2))
        return tokens.transpose(1, 2).reshape(n, c, h, w)


def knn_indices(vertices: Tensor, k: int) -> Tensor:
    """Top-``k`` neighbours by cosine similarity, each vertex included in its own list.

    Args:
        vertices: ``(N, V, D)`` one ``D``-vector per vertex.
        k: neighbours per vertex.

    Returns:
        ``(N, V, k)`` int64 vertex indices, most similar first.
    """
    unit = F.normalize(vertices, p=2, dim=-1)
    return (unit @ unit.transpose(1, 2)).topk(k, dim=-1).indices


class CCC(nn.Module):
    """Channel correspondence convolution: edge convolution on a kNN graph, max over neighbours.

    Both graphs use the edge function of the paper, ``e_ij = ReLU(Phi f_i + Theta (f_j - f_i))``,
    with ``Phi`` and ``Theta`` dense maps of the ``h*w``-vector of one channel (the code's
    ``Conv1d(1 -> hw, kernel hw)``, i.e. ``nn.Linear(hw, hw)``), and the output of channel ``c``
    is the max over the ``k`` neighbours, reshaped to ``h x w``.

    ``graph="channels"`` (paper): vertices are the C channels, ``f_i`` the flattened map of
    channel ``i``, neighbours the top-k channels by cosine similarity.

    ``graph="positions"`` (code): vertices are the ``h*w`` positions with C-dim descriptors; for
    channel ``c`` the "neighbour" vector is ``x[c, nbr_j(p)] - x[c, p]`` over positions ``p``,
    and the edge term is ``Theta((x[c, nbr_j] - x[c]) - x[c])``, exactly as the code computes it.

    Args:
        channels: C (128).
        map_size: ``(h, w)`` of the maps (16x16 at 128x128 input); fixes the size of Phi and Theta.
        k: neighbours (4 in the code, self included).
        graph: ``"positions"`` or ``"channels"``.
        post_conv: the paper's convolution after CCC (a 1x1 conv C -> C); absent in the code.

    Shape:
        x: ``(N, C, h, w)`` -> ``(N, C, h, w)`` (the residual is added by :class:`F5CBlock`).
    """

    def __init__(
        self, channels: int = 128, map_size: tuple[int, int] = (16, 16), k: int = 4, graph: str = "positions",
        post_conv: bool = False,
    ) -> None:
        super().__init__()
        _check("CCC graph", graph, CCC_GRAPHS)
        points = map_size[0] * map_size[1]
        vertices = points if graph == "positions" else channels
        if not 1 <= k <= vertices:
            raise ConfigError(f"CCC k must be in [1, {vertices}] for a {graph} graph; got {k}.")
        self.graph, self.k, self.map_size = graph, k, tuple(map_size)
        self.phi = nn.Linear(points, points)  # code: conv1, applied to f_i
        self.theta = nn.Linear(points, points)  # code: conv2, applied to f_j - f_i
        self.post = nn.Conv2d(channels, channels, kernel_size=1) if post_conv else None

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        if (h, w) != self.map_size:
            raise ShapeError(f"CCC was built for {self.map_size} maps; got {(h, w)}.")
        flat = x.reshape(n, c, h * w)  # (N, C, P)
        if self.graph == "channels":
            idx = knn_indices(flat, self.k)  # (N, C, k)
            nbr = torch.gather(flat.unsqueeze(1).expand(n, c, c, h * w), 2,
                               idx.unsqueeze(-1).expand(n, c, self.k, h * w))  # (N, C, k, P)
            diff = nbr - flat.unsqueeze(2)
        else:
            idx = knn_indices(flat.transpose(1, 2), self.k)  # (N, P, k) over positions
            nbr = torch.gather(flat.unsqueeze(2).expand(n, c, self.k, h * w), 3,
                               idx.transpose(1, 2).reshape(n, 1, self.k, h * w).expand(n, c, self.k, h * w))
            diff = (nbr - flat.unsqueeze(2)) - flat.unsqueeze(2)  # the code's (x_nbr - x) - x_i
        edges = F.relu(self.phi(flat).unsqueeze(2) + self.theta(diff))  # (N, C, k, P)
        out = edges.amax(dim=2).reshape(n, c, h, w)
        return out if self.post is None else self.post(out)


class F5CBlock(nn.Module):
    """One F5C block: token mixer (FCC, transformer or nothing) then ``x + CCC(x)``.

    Args:
        dim: channels (128).
        map_size: ``(h, w)`` of the maps.
        mixer: ``"fcc"`` (MOL), ``"transformer"`` (T XI ablation) or ``"none"`` ("w/o FCC").
        ccc: use CCC (False: "w/o CCC").
        fcc_mode, fcc_fusion, meta_kernel_size: see :class:`FCC`.
        ccc_graph, ccc_post_conv, k: see :class:`CCC`.

    Shape:
        x: ``(N, dim, h, w)`` -> same shape.
    """

    def __init__(
        self, dim: int = 128, map_size: tuple[int, int] = (16, 16), *, mixer: str = "fcc", ccc: bool = True,
        fcc_mode: str = "vh", fcc_fusion: str = "none", meta_kernel_size: int = 32, ccc_graph: str = "positions",
        ccc_post_conv: bool = False, k: int = 4,
    ) -> None:
        super().__init__()
        _check("F5C mixer", mixer, MIXERS)
        if mixer == "fcc":
            self.mixer: nn.Module = FCC(dim, meta_kernel_size, fcc_mode, fcc_fusion)
        elif mixer == "transformer":
            self.mixer = TransformerMixer(dim, meta_kernel_size=meta_kernel_size)
        else:
            self.mixer = nn.Identity()
        self.ccc = CCC(dim, map_size, k, ccc_graph, ccc_post_conv) if ccc else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.mixer(x)
        return x if self.ccc is None else x + self.ccc(x)
