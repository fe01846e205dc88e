"""RGB-apex CNN baseline: torchvision ResNet-18 trained from scratch on the apex frame.

A deliberately appearance-only reference (the seeds report no
number for it): it sees one still frame, so it can only learn the
expression from the apex appearance, not from motion. torchvision's
``resnet18(weights=None)``; nothing is downloaded.

Named option ``stem``: ``"imagenet"`` keeps torchvision's 7x7 stride-2
convolution and max-pool (default, for 112x112 and up); ``"small"`` replaces
them by a 3x3 stride-1 convolution and no pool, the usual adaptation for
inputs of 64x64 or less (as in CIFAR ResNets).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.models._registry import register_model

__all__ = ["ApexResNet", "resnet18_apex", "STEMS"]

STEMS = ("imagenet", "small")


class ApexResNet(nn.Module):
    """ResNet-18 on the apex frame.

    Args:
        num_classes: output classes.
        input_size: ``(H, W)`` of the apex image (any size works; sets ``default_cfg``).
        in_chans: input channels (3 for RGB).
        stem: ``"imagenet"`` or ``"small"`` (module docstring).
        drop_rate: dropout before the classifier.

    Shape:
        x: ``(B, 3, 112, 112)`` float32 RGB in [0, 1] -> logits ``(B, num_classes)``.
    """

    #: How this model is trained by default (``merkit.training.methods``) and what it reads, readable
    #: without building it (``merkit.models.model_defaults``).
    default_method: ClassVar[str] = "supervised"
    default_inputs: ClassVar[str] = "rgb_apex"

    def __init__(
        self,
        num_classes: int = 3,
        input_size: tuple[int, int] = (112, 112),
        in_chans: int = 3,
        stem: str = "imagenet",
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        from torchvision.models import resnet18  # deferred: torchvision adds ~1.7 s to importing merkit.models

        if stem not in STEMS:
            raise unknown_name("stem", stem, STEMS)
        self.num_classes = num_classes
        self.default_cfg = {"input_size": (in_chans, *input_size), "inputs": "rgb_apex", "num_classes": 3}
        net = resnet18(weights=None, num_classes=num_classes)
        if stem == "small":
            net.conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_chans != 3:
            net.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.num_features = net.fc.in_features
        self.head = net.fc
        net.fc = nn.Identity()
        self.body = net
        self.drop = nn.Dropout(drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> globally pooled ``(B, 512)``."""
        return self.body(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, 512)`` -> logits ``(B, num_classes)``, or the features with ``pre_logits``."""
        x = self.drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def resnet18_apex(**overrides: Any) -> ApexResNet:
    """ResNet-18 from scratch on the 112x112 RGB apex frame, 3 classes."""
    return ApexResNet(**overrides)


