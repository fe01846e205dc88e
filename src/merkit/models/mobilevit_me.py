"""MobileViT for micro-expressions on the grayscale apex frame (seed 003).

Liu et al., "Lightweight ViT Model for Micro-Expression Recognition Enhanced
by Transfer Learning", Front. Neurorobot. 2022 (seed 003); the network is
MobileViT-S (Mehta & Rastegari, ICLR 2022; apple/ml-cvnets), built here with
timm's ``mobilevit_s`` (``pretrained=False``, nothing is downloaded).
The layout (``docs/models/mobilevit_me.md``):

=============  ======================================  ======  ===========
stage          blocks                                  out C   map at 256
=============  ======================================  ======  ===========
stem           3x3 conv s2, BN, SiLU                   16      128
stages.0       1 MV2 (expand 4)                        32      128
stages.1       3 MV2, first s2                         64      64
stages.2       MV2 s2 + MobileViT block (d 144, L 2)   96      32
stages.3       MV2 s2 + MobileViT block (d 192, L 4)   128     16
stages.4       MV2 s2 + MobileViT block (d 240, L 3)   160     8
final_conv     1x1 conv, BN, SiLU                      640     8
head           global average pool, dropout, FC        classes
=============  ======================================  ======  ===========

Patches are 2x2 at every level and the transformer FFN is 2d, as the paper
states. Size: 4,939,267 parameters for 3 classes with the 1-channel stem
(timm's 3-channel model has 4,939,555; the paper's Keras model is not
published; it reports 4.94 M).

Named options (reconstruction choices, see docs/models/mobilevit_me.md):

* ``in_chans``: ``1`` (default) feeds the grayscale apex frame to a
  1-channel stem (16 x 1 x 3 x 3 weights, 288 fewer parameters than RGB);
  ``3`` expects the grayscale frame replicated to three channels, the other
  reading of "grayscale input" (``docs/models/mobilevit_me.md``).
* ``drop_rate``: dropout before the classifier; the paper's 0.5.
* ``variant``: ``mobilevit_s`` (the paper's "largest of the three scales");
  ``mobilevit_xxs`` (registered as ``mobilevit_xxs_me``, 0.95 M parameters) is a
  smaller ablation; ``mobilevit_xs`` is reachable through ``variant``.

Transfer scopes (:meth:`MobileViTME.transfer_state_dict`), the weights that
phase 1 (macro-expressions) hands to phase 2 (micro-expressions):

* ``"mv2"`` (default): the stem and every MobileNetV2 (inverted residual)
  block. The paper keeps "the weights of the MobileNetV2 block"; the stem is
  included because the MV2 weights are only meaningful on the features the
  stem they were trained with produces.
* ``"mv2_only"``: the MV2 blocks alone (the literal reading).
* ``"backbone"``: everything but the classifier (stem, MV2 and MobileViT
  blocks, final 1x1 conv).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar

from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.errors import ConfigError, ShapeError
from merkit.models._registry import register_model

__all__ = [
    "MobileViTME",
    "TRANSFER_SCOPES",
    "VARIANTS",
    "mobilevit_s_me",
    "mobilevit_xxs_me",
]

VARIANTS = ("mobilevit_s", "mobilevit_xs", "mobilevit_xxs")
TRANSFER_SCOPES = ("mv2", "mv2_only", "backbone")


class MobileViTME(nn.Module):
    """MobileViT on the eye-masked grayscale apex frame.

    Args:
        num_classes: output classes (3: negative, positive, surprise).
        in_chans: 1 (grayscale stem) or 3 (grayscale replicated), see module docstring.
        input_size: ``(H, W)`` the model is specified for (256 x 256 in the paper; any multiple
            of 32 runs, smaller maps are resized inside the MobileViT blocks by timm).
        drop_rate: dropout before the classifier.
        variant: timm architecture name, one of :data:`VARIANTS`.

    Shape:
        x: ``(B, in_chans, 256, 256)`` float32 grey levels scaled to [0, 1], eye regions set to 0
        -> logits ``(B, num_classes)``.

    Example:
        >>> import torch
        >>> model = MobileViTME(num_classes=3)
        >>> model(torch.zeros(2, 1, 64, 64)).shape
        torch.Size([2, 3])
    """

    #: How this model is trained by default (``merkit.training.methods``) and what it reads, readable
    #: without building it (``merkit.models.model_defaults``).
    default_method: ClassVar[str] = "macro_transfer"
    default_inputs: ClassVar[str] = "gray_apex_masked"

    def __init__(
        self,
        num_classes: int = 3,
        in_chans: int = 1,
        input_size: tuple[int, int] = (256, 256),
        drop_rate: float = 0.5,
        variant: str = "mobilevit_s",
    ) -> None:
        super().__init__()
        import timm  # deferred: timm takes seconds to import; only this model needs it

        if variant not in VARIANTS:
            raise unknown_name("MobileViT variant", variant, VARIANTS)
        if in_chans not in (1, 3):
            raise ConfigError(f"in_chans must be 1 (grayscale stem) or 3 (grayscale replicated); got {in_chans!r}.")
        if not 0.0 <= drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1); got {drop_rate!r}.")
        # timm only touches the hub for pretrained weights; make sure an accident cannot download
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        net = timm.create_model(variant, pretrained=False, num_classes=num_classes, in_chans=in_chans,
                                drop_rate=drop_rate)
        self.stem = net.stem
        self.stages = net.stages
        self.final_conv = net.final_conv
        self.head = net.head
        self.variant = variant
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = int(net.num_features)
        self.default_cfg = {"input_size": (in_chans, *input_size), "inputs": "gray_apex_masked", "num_classes": 3}

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> the ``(B, 640, H/32, W/32)`` map after the final 1x1 conv."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ShapeError(
                f"{self.variant} input must have shape (B, {self.in_chans}, H, W); got {tuple(x.shape)}. "
                f"Pass the grayscale apex frame{' replicated to 3 channels' if self.in_chans == 3 else ''}."
            )
        x = self.stem(x)
        x = self.stages(x)
        return self.final_conv(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pooled ``(B, num_features)`` features with ``pre_logits``, else logits ``(B, num_classes)``."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    # ----------------------------------------------------------------------------------------- groups
    def layer_groups(self) -> list[tuple[str, nn.Module]]:
        """The network as ``(name, module)`` groups from input to output.

        ``stem``, ``stages.0`` ... ``stages.4``, ``final_conv``, ``head``: the
        units progressive unfreezing walks through (deepest first).
        """
        groups: list[tuple[str, nn.Module]] = [("stem", self.stem)]
        groups += [(f"stages.{i}", stage) for i, stage in enumerate(self.stages)]
        groups += [("final_conv", self.final_conv), ("head", self.head)]
        return groups

    def mv2_blocks(self) -> Iterator[tuple[str, nn.Module]]:
        """``(qualified name, block)`` of every MobileNetV2 inverted-residual block, input first."""
        from timm.models.byobnet import BottleneckBlock  # deferred: timm takes seconds to import

        for name, module in self.named_modules():
            if isinstance(module, BottleneckBlock):
                yield name, module

    def transfer_prefixes(self, scope: str = "mv2") -> tuple[str, ...]:
        """State-dict key prefixes (``"stages.1.0."``) that ``scope`` transfers, input first."""
        if scope not in TRANSFER_SCOPES:
            raise unknown_name("transfer scope", scope, TRANSFER_SCOPES)
        if scope == "backbone":
            return ("stem.", "stages.", "final_conv.")
        blocks = tuple(f"{name}." for name, _ in self.mv2_blocks())
        return (("stem.",) if scope == "mv2" else ()) + blocks

    def transfer_state_dict(self, scope: str = "mv2") -> dict[str, Tensor]:
        """The weights (and BN statistics) phase 1 keeps, as CPU tensors (see module docstring)."""
        prefixes = self.transfer_prefixes(scope)
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items() if k.startswith(prefixes)}

    def load_transfer_state(self, state: dict[str, Tensor], scope: str = "mv2") -> list[str]:
        """Copy transferred weights into this model; returns the loaded keys.

        Raises:
            ConfigError: when a key of ``scope`` is missing from ``state`` or a shape differs
                (e.g. phase 1 used another ``variant`` or ``in_chans``).
        """
        own = self.state_dict()
        wanted = [k for k in own if k.startswith(self.transfer_prefixes(scope))]
        missing = [k for k in wanted if k not in state]
        if missing:
            raise ConfigError(
                f"transfer weights lack {len(missing)} of the {len(wanted)} tensors of scope {scope!r}, "
                f"e.g. {missing[0]!r}; were they saved with the same scope and variant ({self.variant!r})?"
            )
        for k in wanted:
            if tuple(state[k].shape) != tuple(own[k].shape):
                raise ConfigError(
                    f"transfer weight {k!r} has shape {tuple(state[k].shape)}; this {self.variant} with "
                    f"in_chans={self.in_chans} expects {tuple(own[k].shape)}."
                )
        self.load_state_dict({k: state[k] for k in wanted}, strict=False)
        return wanted

    def regularized_weights(self) -> list[Tensor]:
        """Kernels of every convolution and fully connected layer (the paper's L2 targets; no biases, no norms)."""
        return [m.weight for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _build(variant: str, **overrides: Any) -> MobileViTME:
    return MobileViTME(variant=variant, **overrides)


@register_model
def mobilevit_s_me(**overrides: Any) -> MobileViTME:
    """MobileViT-S on the 256x256 eye-masked grayscale apex (seed 003): 4.94 M params at 3 classes."""
    return _build("mobilevit_s", **overrides)


@register_model
def mobilevit_xxs_me(**overrides: Any) -> MobileViTME:
    """MobileViT-XXS on the same input (the smallest ablation, not in the paper)."""
    return _build("mobilevit_xxs", **overrides)
