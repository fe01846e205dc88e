"""MiER-CvT: a three-stage convolutional vision transformer on onset->apex flow + strain (seed 000).

The paper states the stage table (embedding kernel 32/5/3, stride 16/3/1,
padding 8/0/0; widths 64/192/384; heads 1/3/6; depths 1/2/3), the
attention-projection and classifier-input ablations (Tables 4 and 6) and the
size (7.5 M parameters, 0.1 GFLOPs). Everything else is reconstructed from
CvT's public code (microsoft/CvT ``cls_cvt.py``), see ``docs/models/mier_cvt.md``:

* convolutional token embedding = Conv2d + LayerNorm, no positional embedding;
* convolutional projection ``dw_bn`` ("InnerBN_DWConv"): depthwise 3x3 conv ->
  BatchNorm -> Linear for q, k, v; k and v use stride 2; attention scale is
  ``dim ** -0.5`` with the full width, as in CvT's code;
* pre-norm blocks, MLP ratio 4, GELU;
* input (u, v, optical strain) at 224x224: the embedding schedule tiles it
  exactly (224 -> 14 -> 4 -> 2) and the count is 7.49 M parameters,
  0.093 GMACs (a test asserts both).

SeqSoftmax is not defined in any public text; we read it as softmax-weighted
pooling over the last stage's token sequence (CCT's SeqPool), see
:class:`SeqSoftmaxPool`. The identity-adversarial head (gradient reversal +
subject classifier, DANN schedule) is :class:`IdentityHead`; it is used only
in training and is not part of the counted model.

Stage presets (:data:`STAGE_PRESETS`, the ``stages`` option) are named
``cvt{S}_d{D}[_w{W}][_k{K}]``: ``S`` stages with depths ``D`` (one digit per
stage), the paper's token embedding (kernels 32/5/3, strides 16/3/1, padding
8/0/0) and widths 64/192/384 with one head per 64 channels. A ``_w`` suffix
lists the stage widths where they differ (heads stay width / 64); a ``_k``
suffix lists the embedding kernels where they differ (``_k7_3_3``: CvT-13's
embedding, strides 4/2/2, padding 2/1/1). Beside the paper's Table 4 rows:

=========================  =========  ==========================================
preset                     Table 4    stages
=========================  =========  ==========================================
``cvt3_d123`` (default)    row 1      depths 1/2/3 (the released model)
``cvt3_d124``              row 2      depths 1/2/4
``cvt3_d125``              row 3      depths 1/2/5
``cvt3_d133``              row 4      depths 1/3/3
``cvt3_d134``              row 5      depths 1/3/4
``cvt3_d223``              row 6      depths 2/2/3
``cvt3_d123_w64_192_768``  row 7      widths 64/192/768, heads 1/3/12
``cvt3_d123_w64_384_768``  row 8      widths 64/384/768, heads 1/6/12
``cvt3_d123_k7_3_3``       row 9      embedding kernels 7/3/3, strides 4/2/2
``cvt2_d12``               row 10     two stages (64/192), depths 1/2
``cvt1_d1``                row 11     one stage (64), depth 1
=========================  =========  ==========================================

The former keys ``"row1"`` .. ``"row11"`` are still read as aliases (older run
directories and bundles store them), but are never suggested.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from merkit.errors import ConfigError
from merkit.models._registry import register_model

__all__ = [
    "StageSpec",
    "STAGE_PRESETS",
    "MiERCvT",
    "SeqSoftmaxPool",
    "IdentityHead",
    "GradientReversal",
    "dann_coefficient",
    "mier_cvt",
    "mier_cvt_id",
]

PROJECTIONS = ("linear", "conv_bn", "dw_bn")
#: Input kinds of Table 5 -> input channels (the ``uniform`` kinds stack k (u, v, strain) maps).
INPUT_CHANNELS = {"flow_uv_strain": 3, "flow_uv": 2, "rgb_apex": 3, "flow_uv_strain_uniform2": 6,
                  "flow_uv_strain_uniform4": 12}
CLASSIFIER_INPUTS = ("cls_token", "seqsoftmax_x", "seqsoftmax_g")


@dataclass(frozen=True)
class StageSpec:
    """One stage: embedding conv (kernel, stride, padding), width, heads, transformer depth."""

    kernel: int
    stride: int
    padding: int
    width: int
    heads: int
    depth: int


def _stages(k, s, p, c, h, d) -> tuple[StageSpec, ...]:
    return tuple(StageSpec(*row) for row in zip(k, s, p, c, h, d))


#: Stage configurations of the paper's Table 4, named by what they are (scheme in the module docstring).
#: The comment beside each gives its Table 4 row; ``cvt3_d123`` (row 1) is the released model.
STAGE_PRESETS: dict[str, tuple[StageSpec, ...]] = {
    "cvt3_d123": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 192, 384), (1, 3, 6), (1, 2, 3)),  # row 1
    "cvt3_d124": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 192, 384), (1, 3, 6), (1, 2, 4)),  # row 2
    "cvt3_d125": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 192, 384), (1, 3, 6), (1, 2, 5)),  # row 3
    "cvt3_d133": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 192, 384), (1, 3, 6), (1, 3, 3)),  # row 4
    "cvt3_d134": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 192, 384), (1, 3, 6), (1, 3, 4)),  # row 5
    "cvt3_d223": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 192, 384), (1, 3, 6), (2, 2, 3)),  # row 6
    "cvt3_d123_w64_192_768": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 192, 768), (1, 3, 12), (1, 2, 3)),  # row 7
    "cvt3_d123_w64_384_768": _stages((32, 5, 3), (16, 3, 1), (8, 0, 0), (64, 384, 768), (1, 6, 12), (1, 2, 3)),  # row 8
    "cvt3_d123_k7_3_3": _stages((7, 3, 3), (4, 2, 2), (2, 1, 1), (64, 192, 384), (1, 3, 6), (1, 2, 3)),  # row 9
    "cvt2_d12": _stages((32, 5), (16, 3), (8, 0), (64, 192), (1, 3), (1, 2)),  # row 10
    "cvt1_d1": _stages((32,), (16,), (8,), (64,), (1,), (1,)),  # row 11
}

#: The Table 4 row numbers the presets were keyed by before they were named ("row1".."row11"), still
#: read so that older run directories, config files and bundle cards (``model_options``) load; not
#: listed in messages.
_ROW_ALIASES: dict[str, str] = {
    "row1": "cvt3_d123", "row2": "cvt3_d124", "row3": "cvt3_d125", "row4": "cvt3_d133", "row5": "cvt3_d134",
    "row6": "cvt3_d223", "row7": "cvt3_d123_w64_192_768", "row8": "cvt3_d123_w64_384_768",
    "row9": "cvt3_d123_k7_3_3", "row10": "cvt2_d12", "row11": "cvt1_d1",
}


class ConvProjection(nn.Module):
    """Token projection for q, k or v: optional (depthwise) conv + BN on the map, then Linear.

    ``method``: ``"linear"`` (ViT), ``"conv_bn"`` (full 3x3 conv + BN),
    ``"dw_bn"`` (depthwise 3x3 conv + BN, CvT's default).
    """

    def __init__(self, dim: int, method: str, stride: int, bias: bool = True) -> None:
        super().__init__()
        if method == "linear":
            self.conv = None
        else:
            groups = dim if method == "dw_bn" else 1
            self.conv = nn.Sequential(
                nn.Conv2d(dim, dim, 3, stride=stride, padding=1, groups=groups, bias=False), nn.BatchNorm2d(dim)
            )
        self.linear = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: Tensor, hw: tuple[int, int]) -> Tensor:
        """``(B, N, C)`` tokens of an ``hw`` map -> ``(B, N', C)``."""
        if self.conv is not None:
            b, n, c = x.shape
            x = self.conv(x.transpose(1, 2).reshape(b, c, *hw)).flatten(2).transpose(1, 2)
        return self.linear(x)


class ConvAttention(nn.Module):
    """Multi-head attention with convolutional q/k/v projections (CvT)."""

    def __init__(self, dim: int, heads: int, projection: str, kv_stride: int = 2) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"width {dim} is not divisible by {heads} heads.")
        self.heads = heads
        # CvT's code scales by the full width, not the head width
        self.scale = dim**-0.5
        kv_stride = 1 if projection == "linear" else kv_stride
        self.q = ConvProjection(dim, projection, stride=1)
        self.k = ConvProjection(dim, projection, stride=kv_stride)
        self.v = ConvProjection(dim, projection, stride=kv_stride)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, hw: tuple[int, int], n_cls: int) -> Tensor:
        cls, tokens = x[:, :n_cls], x[:, n_cls:]
        # the cls token bypasses the convolution but shares the Linear (CvT)
        q, k, v = (
            torch.cat([p.linear(cls), p(tokens, hw)], dim=1) if n_cls else p(tokens, hw)
            for p in (self.q, self.k, self.v)
        )
        b = x.shape[0]
        q, k, v = (t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2) for t in (q, k, v))
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, x.shape[1], -1)
        return self.proj(out)


class Block(nn.Module):
    """Pre-norm transformer block: conv attention + MLP (ratio 4, GELU), both residual."""

    def __init__(self, dim: int, heads: int, projection: str, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ConvAttention(dim, heads, projection)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = drop_path

    def _drop(self, x: Tensor) -> Tensor:
        if not self.training or self.drop_path == 0.0:
            return x
        keep = 1.0 - self.drop_path
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def forward(self, x: Tensor, hw: tuple[int, int], n_cls: int) -> Tensor:
        x = x + self._drop(self.attn(self.norm1(x), hw, n_cls))
        return x + self._drop(self.mlp(self.norm2(x)))


class Stage(nn.Module):
    """Convolutional token embedding (conv + LN) followed by transformer blocks."""

    def __init__(self, in_chans: int, spec: StageSpec, projection: str, cls_token: bool, drop_path: float) -> None:
        super().__init__()
        self.embed = nn.Conv2d(in_chans, spec.width, spec.kernel, stride=spec.stride, padding=spec.padding)
        self.embed_norm = nn.LayerNorm(spec.width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, spec.width)) if cls_token else None
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList(
            Block(spec.width, spec.heads, projection, drop_path=drop_path) for _ in range(spec.depth))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(B, C_in, H, W)`` -> map ``(B, C, H', W')`` and the cls token ``(B, C)`` (or None)."""
        x = self.embed(x)
        b, c, h, w = x.shape
        tokens = self.embed_norm(x.flatten(2).transpose(1, 2))
        n_cls = 0
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
            n_cls = 1
        for block in self.blocks:
            tokens = block(tokens, (h, w), n_cls)
        cls = tokens[:, 0] if n_cls else None
        return tokens[:, n_cls:].transpose(1, 2).reshape(b, c, h, w), cls


class SeqSoftmaxPool(nn.Module):
    """Softmax-weighted pooling over the token sequence ("SeqSoftmax", reconstructed).

    ``mode="x"`` (SeqSoftmax-x, default): one score per token from
    ``Linear(d -> 1)``, softmax over the sequence, pool the token features x
    (exactly CCT's SeqPool). ``mode="g"`` (SeqSoftmax-g): ``g = Linear(d -> d)``,
    a per-channel softmax over the sequence, pool ``g(x)``.

    Shape: ``(B, N, d)`` -> ``(B, d)``.
    """

    def __init__(self, dim: int, mode: str = "x") -> None:
        super().__init__()
        if mode not in ("x", "g"):
            raise ConfigError(f"SeqSoftmax mode must be 'x' or 'g'; got {mode!r}.")
        self.mode = mode
        self.score = nn.Linear(dim, 1 if mode == "x" else dim)

    def forward(self, tokens: Tensor) -> Tensor:
        scores = self.score(tokens)
        weights = scores.softmax(dim=1)
        values = tokens if self.mode == "x" else scores
        return (weights * values).sum(dim=1)


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-coeff`` backward (Ganin and Lempitsky)."""

    @staticmethod
    def forward(ctx, x: Tensor, coeff: float) -> Tensor:  # type: ignore[override]
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return -ctx.coeff * grad, None


def dann_coefficient(progress: float, gamma: float = 10.0) -> float:
    """DANN schedule ``2 / (1 + exp(-gamma p)) - 1`` for training progress ``p`` in [0, 1]."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


class IdentityHead(nn.Module):
    """Subject classifier behind a gradient-reversal layer (identity-adversarial training).

    ``Linear(d -> hidden) -> ReLU -> Dropout -> Linear(hidden -> num_subjects)``
    (reconstructed; ``docs/models/mier_cvt.md``).

    Shape: features ``(B, d)`` -> subject logits ``(B, num_subjects)``.
    """

    def __init__(self, dim: int, num_subjects: int, hidden: int = 256, drop_rate: float = 0.5) -> None:
        super().__init__()
        if num_subjects < 2:
            raise ConfigError(f"the identity head needs at least 2 training subjects; got {num_subjects}.")
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Dropout(drop_rate),
                                 nn.Linear(hidden, num_subjects))

    def forward(self, features: Tensor, coeff: float) -> Tensor:
        return self.net(GradientReversal.apply(features, coeff))


class MiERCvT(nn.Module):
    """MiER-CvT (seed 000), with every ablation of its Tables 4 to 6 as an option.

    Args:
        num_classes: emotion classes.
        in_chans: input channels; None (default) takes them from ``inputs`` (:data:`INPUT_CHANNELS`:
            3 for (u, v, strain) or RGB apex, 2 for (u, v), 6 or 12 for 2 or 4 stacked uniform frames).
        img_size: input side in pixels (224 as reconstructed).
        stages: a key of :data:`STAGE_PRESETS` (the Table 4 stage configurations, e.g. ``"cvt3_d123"``)
            or a sequence of :class:`StageSpec`.
        projection: ``"dw_bn"`` (InnerBN_DWConv, default), ``"conv_bn"`` or ``"linear"`` (Table 6).
        classifier_input: ``"seqsoftmax_x"`` (default), ``"seqsoftmax_g"`` or ``"cls_token"`` (Table 6).
        drop_rate: dropout before the emotion classifier.
        drop_path_rate: stochastic depth of the last stage (CvT uses 0.1).
        identity_adversarial: marks the model for identity-adversarial training: the trainer
            builds an :class:`IdentityHead` over the fold's training subjects (their number
            changes per fold, so the head is not part of the model) and adds its loss.
        identity_loss_weight: weight lambda of the identity loss (reconstructed default 1.0).
        identity_hidden: hidden width of the identity MLP (reconstructed default 256).
        identity_gamma: steepness of the DANN coefficient schedule (DANN's 10).
        inputs: the feature kind read (Table 5): ``flow_uv_strain`` (flow + strain at the apex, default),
            ``flow_uv``, ``rgb_apex``, ``flow_uv_strain_uniform2`` or ``flow_uv_strain_uniform4``.

    Shape:
        x: ``(B, in_chans, 224, 224)`` float32 -> logits ``(B, num_classes)``.
    """

    #: How this model is trained by default (``merkit.training.methods``) and what it reads, readable
    #: without building it (``merkit.models.model_defaults``).
    default_method: ClassVar[str] = "supervised"
    default_inputs: ClassVar[str] = "flow_uv_strain"

    def __init__(
        self,
        num_classes: int = 3,
        in_chans: int | None = None,
        img_size: int = 224,
        stages: str | Sequence[StageSpec] = "cvt3_d123",
        projection: str = "dw_bn",
        classifier_input: str = "seqsoftmax_x",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        identity_adversarial: bool = False,
        identity_loss_weight: float = 1.0,
        identity_hidden: int = 256,
        identity_gamma: float = 10.0,
        inputs: str = "flow_uv_strain",
    ) -> None:
        super().__init__()
        if projection not in PROJECTIONS:
            raise ConfigError(f"projection must be one of {list(PROJECTIONS)!r}; got {projection!r}.")
        if classifier_input not in CLASSIFIER_INPUTS:
            raise ConfigError(f"classifier_input must be one of {list(CLASSIFIER_INPUTS)!r}; got {classifier_input!r}.")
        if inputs not in INPUT_CHANNELS:
            raise ConfigError(f"inputs must be one of {sorted(INPUT_CHANNELS)!r}; got {inputs!r}.")
        in_chans = INPUT_CHANNELS[inputs] if in_chans is None else int(in_chans)
        if isinstance(stages, str):
            stages = _ROW_ALIASES.get(stages, stages)
            if stages not in STAGE_PRESETS:
                raise ConfigError(
                    f"stages must be one of {sorted(STAGE_PRESETS)!r} or a list of StageSpec; got {stages!r}.")
            stages = STAGE_PRESETS[stages]
        self.stage_specs = tuple(stages)
        self.classifier_input = classifier_input
        self.num_classes = num_classes
        self.default_cfg = {
            "input_size": (in_chans, img_size, img_size),
            "inputs": inputs,
            "num_classes": 3,
            "identity_adversarial": bool(identity_adversarial),
            "identity_loss_weight": float(identity_loss_weight),
            "identity_hidden": int(identity_hidden),
            "identity_gamma": float(identity_gamma),
        }
        chans = in_chans
        blocks = []
        for i, spec in enumerate(self.stage_specs):
            last = i == len(self.stage_specs) - 1
            blocks.append(Stage(chans, spec, projection, cls_token=last and classifier_input == "cls_token",
                                drop_path=drop_path_rate if last else 0.0))
            chans = spec.width
        self.stages = nn.ModuleList(blocks)
        self.num_features = chans
        self.norm = nn.LayerNorm(chans)
        self.pool = None if classifier_input == "cls_token" else SeqSoftmaxPool(chans, classifier_input[-1])
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(chans, num_classes)
        self.apply(_init_weights)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> pooled features ``(B, num_features)`` (after the final LayerNorm)."""
        cls = None
        for stage in self.stages:
            x, cls = stage(x)
        if self.pool is None:
            return self.norm(cls)
        return self.pool(self.norm(x.flatten(2).transpose(1, 2)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return x if pre_logits else self.head(self.head_drop(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


@register_model
def mier_cvt(**overrides: Any) -> MiERCvT:
    """MiER-CvT, stages ``cvt3_d123`` (Table 4 row 1) with dw_bn projection and SeqSoftmax-x, (u, v, strain) at 224."""
    return MiERCvT(**overrides)


@register_model
def mier_cvt_id(**overrides: Any) -> MiERCvT:
    """MiER-CvT trained with identity-adversarial domain adaptation (subject = domain)."""
    overrides.setdefault("identity_adversarial", True)
    return MiERCvT(**overrides)
