"""MOL: joint micro-expression recognition, optical flow and landmarks (Shao et al., arXiv 2506.14511).

Reconstructed from the seed paper 001 and the public code CYF-cuber/MOL
(``MOL_model.py``), see ``docs/models/mol.md``.

A clip of T gray frames (8 in MOL) goes through a shared 4-layer conv stack
(:class:`~merkit.models.mol_f5c.ConvStack`). For every consecutive pair
(t, t+1), frame t goes through the first F5C stream and frame t+1 through
the second (the code's ``FCC_1``/``CCC_1`` and ``FCC_2``/``CCC_2``; each
stream is shared across pairs). The 2 (T - 1) pair features are stacked
along a temporal axis and classified by a 3D CNN
(:class:`~merkit.models.mol_heads.MER3DCNN`). Two auxiliary heads are used
in training: a FlowNetC-style flow head per pair (raw frames + both F5C
features -> full-resolution flow) and a 68-point landmark head on the second
frame's F5C features of each pair.

``create_model("mol")`` is the recognition network (what predicts, about
1.05 M parameters for 3 classes); the training method builds it with
``flow_head=True, landmark_head=True`` (about 44.1 M). ``forward(x)`` returns
logits; :meth:`MOL.forward_joint` returns logits, flows and landmarks.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.errors import ConfigError, ShapeError
from merkit.models._registry import conv_out, register_model
from merkit.models.mol_f5c import ConvStack, F5CBlock
from merkit.models.mol_heads import MER3DCNN, FlowNetCHead, LandmarkHead

__all__ = ["MOL", "FUSIONS", "mol"]

#: How the pair features enter the 3D CNN (T XII): see :class:`MOL`.
FUSIONS = ("concat", "first", "last", "all", "add", "subtract")


def stem_size(size: int) -> int:
    """Side of the conv-stack map for an input side (128 -> 16)."""
    return conv_out(conv_out(conv_out(size, 4, 2), 3, 2), 2, 2, 1)


class MOL(nn.Module):
    """MOL network.

    Args:
        num_classes: output classes.
        num_frames: T, frames per clip (8; 2, 4, 16 in T XIII).
        img_size: side of the square gray input (128).
        num_blocks: F5C blocks per stream (1; 2 and 3 in T X).
        mixer: ``"fcc"`` (MOL), ``"transformer"`` (T XI) or ``"none"`` (w/o FCC).
        ccc: use CCC (False: w/o CCC; with ``mixer="none"`` too: w/o F5C).
        fcc_mode: ``"vh"`` (MOL), ``"v"`` (FCC-V only) or ``"h"`` (FCC-H only).
        fcc_fusion: after FCC's concatenation, ``"none"`` (code, default: reproduces the released
            pipeline and the measured parameter count), ``"conv"`` (paper: 1x1 conv) or ``"ffn"``
            (the code's unused FFN, applied residually).
        ccc_graph: ``"positions"`` (code, default: the released checkpoint's graph) or
            ``"channels"`` (paper).
        ccc_post_conv: the paper's convolution after CCC (default False, as in the code).
        k: neighbours of the CCC graph (4, self included).
        fusion: pair features -> 3D CNN input (T XII). ``"concat"`` (MOL): both frames of every
            pair, 2 (T - 1) maps; ``"first"`` / ``"last"``: the first / second frame of every pair,
            T - 1 maps; ``"all"``: every frame once (frames 0..T-2 from stream 1, frame T-1 from
            stream 2), T maps; ``"add"`` / ``"subtract"``: F(t) + F(t+1) / F(t+1) - F(t), T - 1 maps.
        shared_streams: one F5C stream for both frames of a pair (not in the paper, whose streams have
            their own weights; ``docs/models/mol.md``). With ``fusion="subtract"`` the 3D CNN then reads
            F(t+1) - F(t) of one function F, so whatever the two frames share (the face's identity)
            cancels before any training.
        flow_head: build the FlowNetC-style flow head (training only).
        landmark_head: build the 68-point landmark head (training only).
        drop_rate: dropout of the 3D-CNN head (0.5).
        meta_kernel_size: FCC meta-kernel length (32).

    Shape:
        x: ``(B, T, H, W)`` float32 gray frames (the frames are the channels), H = W = ``img_size``
        -> logits ``(B, num_classes)``.
    """

    #: How this model is trained by default (``merkit.training.methods``) and what it reads, readable
    #: without building it (``merkit.models.model_defaults``).
    default_method: ClassVar[str] = "multitask_clips"
    default_inputs: ClassVar[str] = "gray_clip"

    def __init__(
        self,
        num_classes: int = 3,
        num_frames: int = 8,
        img_size: int = 128,
        num_blocks: int = 1,
        mixer: str = "fcc",
        ccc: bool = True,
        fcc_mode: str = "vh",
        fcc_fusion: str = "none",
        ccc_graph: str = "positions",
        ccc_post_conv: bool = False,
        k: int = 4,
        fusion: str = "concat",
        shared_streams: bool = False,
        flow_head: bool = False,
        landmark_head: bool = False,
        drop_rate: float = 0.5,
        meta_kernel_size: int = 32,
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise unknown_name("MOL fusion", fusion, {f: None for f in FUSIONS})
        if num_frames < 2:
            raise ConfigError(f"MOL needs at least 2 frames per clip (one pair); got num_frames={num_frames}.")
        if not 1 <= num_blocks <= 8:
            raise ConfigError(f"MOL num_blocks must be in [1, 8]; got {num_blocks}.")
        side = stem_size(img_size)
        if side < 3 or side > meta_kernel_size:
            raise ConfigError(f"img_size {img_size} gives {side}x{side} F5C maps; need 3..{meta_kernel_size}.")
        self.num_classes, self.num_frames, self.img_size, self.fusion = num_classes, num_frames, img_size, fusion
        self.map_size = (side, side)
        self.default_cfg = {"input_size": (num_frames, img_size, img_size), "inputs": "gray_clip", "num_classes": 3}
        self.stem = ConvStack()
        block = dict(mixer=mixer, ccc=ccc, fcc_mode=fcc_mode, fcc_fusion=fcc_fusion, ccc_graph=ccc_graph,
                     ccc_post_conv=ccc_post_conv, k=k, meta_kernel_size=meta_kernel_size)
        self.stream1 = nn.Sequential(*(F5CBlock(128, self.map_size, **block) for _ in range(num_blocks)))
        self.stream2 = self.stream1 if shared_streams else nn.Sequential(
            *(F5CBlock(128, self.map_size, **block) for _ in range(num_blocks)))
        pairs = num_frames - 1
        depth = {"concat": 2 * pairs, "all": num_frames}.get(fusion, pairs)
        self.head = MER3DCNN(128, self.map_size, depth, num_classes, drop_rate=drop_rate)
        self.num_features = self.head.hidden
        if flow_head and img_size % 64:
            raise ConfigError(f"the flow head needs img_size to be a multiple of 64; got {img_size}.")
        self.flow_head = FlowNetCHead() if flow_head else None
        self.landmark_head = LandmarkHead(128, self.map_size) if landmark_head else None

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.num_frames, self.img_size, self.img_size):
            raise ShapeError(
                f"MOL expects (B, {self.num_frames}, {self.img_size}, {self.img_size}) gray clips "
                f"(frames as channels); got {tuple(x.shape)}."
            )

    def pair_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """F5C features of the first and second frame of every consecutive pair.

        Args:
            x: ``(B, T, H, W)``.

        Returns:
            ``(first, second)``, each ``(B, T - 1, 128, h, w)``: stream 1 on frames 0..T-2 and
            stream 2 on frames 1..T-1.
        """
        self._check_input(x)
        b, t, h, w = x.shape
        maps = self.stem(x.reshape(b * t, 1, h, w))
        maps = maps.reshape(b, t, *maps.shape[1:])
        first = self.stream1(maps[:, :-1].reshape(b * (t - 1), *maps.shape[2:]))
        second = self.stream2(maps[:, 1:].reshape(b * (t - 1), *maps.shape[2:]))
        return first.reshape(b, t - 1, *first.shape[1:]), second.reshape(b, t - 1, *second.shape[1:])

    def fuse(self, first: Tensor, second: Tensor) -> Tensor:
        """Pair features -> 3D-CNN input ``(B, 128, D, h, w)`` according to :attr:`fusion`."""
        if self.fusion == "concat":  # F1(0), F2(1), F1(1), F2(2), ... as the code stacks them
            stack = torch.stack([first, second], dim=2).flatten(1, 2)
        elif self.fusion == "first":
            stack = first
        elif self.fusion == "last":
            stack = second
        elif self.fusion == "all":
            stack = torch.cat([first, second[:, -1:]], dim=1)
        elif self.fusion == "add":
            stack = first + second
        else:
            stack = second - first
        return stack.transpose(1, 2)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, T, H, W)`` -> fused pair features ``(B, 128, D, h, w)``."""
        return self.fuse(*self.pair_features(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, 128, D, h, w)`` -> logits ``(B, num_classes)`` or ``(B, num_features)`` with ``pre_logits``."""
        return self.head.pre_logits(x) if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_joint(self, x: Tensor, flow_pairs: Tensor | None = None) -> dict[str, Tensor]:
        """Recognition plus the auxiliary heads that were built.

        Args:
            x: ``(B, T, H, W)`` gray clip.
            flow_pairs: optional ``(B, k)`` int64 indices of the pairs (0..T-2) whose flow is predicted;
                default every pair.

        Returns:
            dict with ``"logits"`` ``(B, num_classes)``; ``"flow"`` ``(B, T - 1, 2, H, W)`` (u, v) of
            each consecutive pair in input pixels, or ``(B, k, 2, H, W)`` of the chosen pairs with
            ``"flow_pairs"`` beside it (if ``flow_head``); ``"landmarks"`` ``(B, T - 1, 68, 2)`` (x, y)
            of frames 1..T-1 in input pixels (if ``landmark_head``).
        """
        first, second = self.pair_features(x)
        out = {"logits": self.forward_head(self.fuse(first, second))}
        b, p = first.shape[:2]
        if self.landmark_head is not None:
            out["landmarks"] = self.landmark_head(second.flatten(0, 1)).reshape(b, p, -1, 2)
        if self.flow_head is not None:
            h, w = x.shape[-2:]
            frames1, frames2, feats = x[:, :-1], x[:, 1:], torch.cat([first, second], dim=2)
            if flow_pairs is not None:
                if flow_pairs.dim() != 2 or flow_pairs.shape[0] != b or not 0 < flow_pairs.shape[1] <= p:
                    raise ShapeError(f"flow_pairs must be (B={b}, k) with 0 < k <= {p}; got {tuple(flow_pairs.shape)}.")
                rows = torch.arange(b, device=x.device).unsqueeze(1)
                frames1, frames2, feats = frames1[rows, flow_pairs], frames2[rows, flow_pairs], feats[rows, flow_pairs]
                out["flow_pairs"] = flow_pairs
            k = frames1.shape[1]
            flow = self.flow_head(frames1.reshape(b * k, 1, h, w), frames2.reshape(b * k, 1, h, w), feats.flatten(0, 1))
            out["flow"] = flow.reshape(b, k, 2, h, w)
        return out

    def recognition_parameters(self) -> int:
        """Parameters on the inference path (stem, both F5C streams, 3D CNN)."""
        heads = [m for m in (self.flow_head, self.landmark_head) if m is not None]
        return sum(p.numel() for p in self.parameters()) - sum(p.numel() for m in heads for p in m.parameters())


@register_model
def mol(**overrides: Any) -> MOL:
    """MOL recognition network, 8 gray 128x128 frames, 3 classes; ``flow_head``/``landmark_head`` add the aux heads."""
    return MOL(**overrides)
