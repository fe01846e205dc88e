"""ShuffleNetV2 1.0x with CBAM or the improved lightweight ViT, for micro-expressions (seed 002).

Liu et al., "Micro-expression recognition model based on TV-L1 optical flow
method and improved ShuffleNet", Sci. Rep. 12, 17522 (2022) (seed 002). The
backbone is torchvision's ``shufflenet_v2_x1_0(weights=None)`` (the paper's
Table 1 is exactly that network; docs/models/shufflenet_me.md); nothing is
downloaded. Reconstructed parts are marked and discussed in
docs/models/shufflenet_me.md.

=========  ===========================================  ======  ==========
layer      op                                           out C   map at 224
=========  ===========================================  ======  ==========
conv1      3x3 conv s2, BN, act                         24      112
maxpool    3x3 s2                                       24      56
stage2     ShuffleNetV2 units, 1 (s2) + 3               116     28
stage3     1 (s2) + 7                                   232     14
vit_pre    improved ViT block (``attention="vit"``)     232     14
stage4     1 (s2) + 3                                   464     7
vit_post   improved ViT block (``attention="vit"``)     464     7
conv5      1x1 conv, BN, act                            1024    7
pool/head  global mean, dropout, FC                     classes
=========  ===========================================  ======  ==========

Named options (reconstruction choices):

* ``in_chans``: 1 (default) reads the grayscale face (the paper converts to
  gray, Fig. 2b) through a 1-channel stem; 3 reads the flow images of the
  pre-training phase (or a gray image repeated). Transfer between the two
  sums the stem kernel over input channels (timm's ``adapt_input_conv``).
* ``act``: ``"leaky_relu"`` (default; the paper replaces ReLU by LeakyReLU to
  avoid dead neurons) or ``"relu"`` (torchvision's). ``leaky_slope`` 0.3 is the
  Keras 2.2.4 ``LeakyReLU`` default, the paper's framework; it states no value.
* ``attention``: ``"none"`` (plain ShuffleNetV2), ``"cbam"`` or ``"vit"``.
* ``cbam_position``: after which layer the single CBAM sits (``"stage2"``,
  ``"stage3"``, ``"stage4"`` or ``"conv5"``, default; the paper's Fig. 3 is
  lost and it only says CBAM is "applied only once"). ``cbam_reduction`` r = 16.
* ViT blocks "before and after the last ShuffleNetV2 layer" (Fig. 5 caption):
  ``vit_pre`` between stage3 and stage4 (232 ch) and ``vit_post`` between
  stage4 and conv5 (464 ch). Widths ``vit_dims`` = (64, 64), depths
  ``vit_depths`` = (2, 1), 4 heads, 2x2 patches, MLP ratio 2, ``n = 3``,
  fusion groups ``vit_fuse_groups`` = (4, 8): chosen so that the whole model
  has the paper's 1.53 M trainable parameters (1,522,447 for 3 classes and a
  gray stem, -0.5 %; tests assert 5 %). See :mod:`merkit.models.layers.lite_vit`
  for the block's own options (``vit_local``, ``vit_fuse``, ``vit_proj``).
* ``drop_rate``: dropout before the classifier, 0.5 as in the paper.

Parameters (3 classes, gray stem): ``shufflenet_v2_me`` 1,256,247;
``shufflenet_v2_me_cbam`` 1,388,507 (CBAM after conv5); ``shufflenet_v2_me_vit``
1,522,447.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.errors import ConfigError, ShapeError
from merkit.models._registry import register_model
from merkit.models.layers import CBAM, LiteViTBlock

__all__ = [
    "ShuffleNetME",
    "shufflenet_v2_me",
    "shufflenet_v2_me_cbam",
    "shufflenet_v2_me_vit",
    "ATTENTIONS",
    "CBAM_POSITIONS",
    "TRANSFER_SCOPES",
    "PAPER_PARAMS",
]

ATTENTIONS = ("none", "cbam", "vit")
CBAM_POSITIONS = ("stage2", "stage3", "stage4", "conv5")
ACTS = ("leaky_relu", "relu")
#: Weights handed from pre-training to fine-tuning (:meth:`ShuffleNetME.transfer_state_dict`).
TRANSFER_SCOPES = ("downsampling", "backbone")
#: The paper's total of trainable parameters (abstract of seed 002).
PAPER_PARAMS = 1_530_000
_CHANNELS = {"stage2": 116, "stage3": 232, "stage4": 464, "conv5": 1024}


def _replace_relu(module: nn.Module, make_act: Callable[[], nn.Module]) -> None:
    """Swap every ``nn.ReLU`` inside ``module`` (recursively) for ``make_act()``."""
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, make_act())
        else:
            _replace_relu(child, make_act)


class ShuffleNetME(nn.Module):
    """ShuffleNetV2 1.0x with an optional CBAM or two improved-ViT blocks (module docstring).

    Args:
        num_classes: output classes.
        in_chans: input channels (1: grayscale face; 3: flow image).
        input_size: ``(H, W)`` of the input; sets ``default_cfg`` (any size >= 32 works).
        act: ``"leaky_relu"`` or ``"relu"``.
        leaky_slope: negative slope of LeakyReLU.
        attention: ``"none"``, ``"cbam"`` or ``"vit"``.
        cbam_position: layer the CBAM follows.
        cbam_reduction: CBAM channel-MLP reduction ratio.
        vit_dims: transformer widths of (vit_pre, vit_post).
        vit_depths: transformer layers of (vit_pre, vit_post).
        vit_heads: attention heads in both blocks.
        vit_patch: patch side.
        vit_mlp_ratio: transformer MLP ratio.
        vit_kernel: ``n`` of the blocks' local and fusion convolutions.
        vit_fuse_groups: fusion groups of (vit_pre, vit_post).
        vit_local, vit_fuse, vit_proj: block options (:class:`~merkit.models.layers.LiteViTBlock`).
        drop_rate: dropout before the classifier.
        inputs: the input kind in ``default_cfg``: ``flow_image_then_masked_face`` (flow images in
            pre-training, the masked gray face in fine-tuning; :mod:`merkit.training.methods.flow_pretrain`).

    Shape:
        x: ``(B, in_chans, H, W)`` float32 in [0, 1] -> logits ``(B, num_classes)``.

    Example:
        >>> import torch
        >>> ShuffleNetME(attention="vit")(torch.zeros(2, 1, 64, 64)).shape
        torch.Size([2, 3])
    """

    #: How this model is trained by default (``merkit.training.methods``) and what it reads, readable
    #: without building it (``merkit.models.model_defaults``).
    default_method: ClassVar[str] = "flow_pretrain_finetune"
    default_inputs: ClassVar[str] = "flow_image_then_masked_face"

    num_features = 1024

    def __init__(
        self,
        num_classes: int = 3,
        in_chans: int = 1,
        input_size: tuple[int, int] = (224, 224),
        act: str = "leaky_relu",
        leaky_slope: float = 0.3,
        attention: str = "none",
        cbam_position: str = "conv5",
        cbam_reduction: int = 16,
        vit_dims: tuple[int, int] = (64, 64),
        vit_depths: tuple[int, int] = (2, 1),
        vit_heads: int = 4,
        vit_patch: int = 2,
        vit_mlp_ratio: float = 2.0,
        vit_kernel: int = 3,
        vit_fuse_groups: tuple[int, int] = (4, 8),
        vit_local: str = "depthwise",
        vit_fuse: str = "dw_grouped",
        vit_proj: str = "linear",
        drop_rate: float = 0.5,
        inputs: str = "flow_image_then_masked_face",
    ) -> None:
        super().__init__()
        from torchvision.models import shufflenet_v2_x1_0  # deferred: torchvision adds ~1.7 s

        if act not in ACTS:
            raise unknown_name("act", act, ACTS)
        if attention not in ATTENTIONS:
            raise unknown_name("attention", attention, ATTENTIONS)
        if cbam_position not in CBAM_POSITIONS:
            raise unknown_name("cbam_position", cbam_position, CBAM_POSITIONS)
        if in_chans < 1 or num_classes < 1:
            raise ConfigError(f"in_chans and num_classes must be >= 1; got {in_chans!r}, {num_classes!r}.")
        if not 0.0 <= drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1); got {drop_rate!r}.")
        for name, value in (("vit_dims", vit_dims), ("vit_depths", vit_depths), ("vit_fuse_groups", vit_fuse_groups)):
            if len(tuple(value)) != 2:
                raise ConfigError(f"{name} must hold 2 values (vit_pre, vit_post); got {value!r}.")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.attention = attention
        self.cbam_position = cbam_position if attention == "cbam" else None
        self.default_cfg = {"input_size": (in_chans, *input_size), "inputs": inputs, "num_classes": 3}
        make_act: Callable[[], nn.Module] = (
            partial(nn.LeakyReLU, leaky_slope, inplace=True) if act == "leaky_relu" else partial(nn.ReLU, inplace=True)
        )

        net = shufflenet_v2_x1_0(weights=None, num_classes=num_classes)
        if in_chans != 3:
            net.conv1[0] = nn.Conv2d(in_chans, 24, 3, 2, 1, bias=False)
            nn.init.kaiming_normal_(net.conv1[0].weight, mode="fan_out", nonlinearity="relu")
        if act != "relu":
            _replace_relu(net, make_act)
        self.conv1, self.maxpool = net.conv1, net.maxpool
        self.stage2, self.stage3, self.stage4, self.conv5 = net.stage2, net.stage3, net.stage4, net.conv5
        self.cbam = CBAM(_CHANNELS[cbam_position], cbam_reduction) if attention == "cbam" else None
        if attention == "vit":
            block = partial(
                LiteViTBlock, num_heads=vit_heads, patch_size=vit_patch, mlp_ratio=vit_mlp_ratio,
                kernel_size=vit_kernel, act_layer=make_act, local=vit_local, fuse=vit_fuse, proj=vit_proj,
            )
            self.vit_pre = block(232, dim=vit_dims[0], depth=vit_depths[0], fuse_groups=vit_fuse_groups[0])
            self.vit_post = block(464, dim=vit_dims[1], depth=vit_depths[1], fuse_groups=vit_fuse_groups[1])
        else:
            self.vit_pre = self.vit_post = None
        self.drop = nn.Dropout(drop_rate)
        self.fc = net.fc

    def _cbam(self, x: Tensor, position: str) -> Tensor:
        return self.cbam(x) if self.cbam_position == position else x

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, in_chans, H, W)`` -> globally mean-pooled ``(B, 1024)``."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ShapeError(
                f"ShuffleNetME expects (B, {self.in_chans}, H, W) inputs; got {tuple(x.shape)}. "
                f"Build the model with in_chans={x.shape[1] if x.ndim == 4 else '?'} for these inputs."
            )
        x = self.maxpool(self.conv1(x))
        x = self._cbam(self.stage2(x), "stage2")
        x = self._cbam(self.stage3(x), "stage3")
        if self.vit_pre is not None:
            x = self.vit_pre(x)
        x = self._cbam(self.stage4(x), "stage4")
        if self.vit_post is not None:
            x = self.vit_post(x)
        x = self._cbam(self.conv5(x), "conv5")
        return x.mean(dim=(2, 3))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, 1024)`` -> logits ``(B, num_classes)``, or the (dropped-out in training) features."""
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def transfer_state_dict(self, scope: str = "downsampling") -> dict[str, Tensor]:
        """The weights phase 1 (flow pre-training) hands to phase 2 (fine-tuning).

        Args:
            scope: ``"downsampling"`` (default): the stem and stages 2-4, the
                "down-sampled partial layers" the paper keeps (its Fig. 5 calls the
                ShuffleNetV2 convolutions the down-sampling part); ``"backbone"``:
                everything except the classifier (adds conv5 and the CBAM/ViT blocks).

        Returns:
            A state dict (tensors detached and cloned).
        """
        if scope not in TRANSFER_SCOPES:
            raise unknown_name("transfer scope", scope, TRANSFER_SCOPES)
        prefixes = ("conv1.", "stage2.", "stage3.", "stage4.")
        keep = (lambda k: k.startswith(prefixes)) if scope == "downsampling" else (lambda k: not k.startswith("fc."))
        return {k: v.detach().clone() for k, v in self.state_dict().items() if keep(k)}

    def load_transfer_state_dict(self, state: dict[str, Tensor]) -> list[str]:
        """Load a :meth:`transfer_state_dict` from a model that may have another ``in_chans``.

        The stem kernel is adapted to this model's input channels with timm's
        ``adapt_input_conv`` (3 -> 1 sums the kernel over the input channels).

        Returns:
            The loaded keys, sorted.

        Raises:
            ShapeError: a tensor other than the stem kernel does not match (another architecture).
        """
        from timm.models._manipulate import adapt_input_conv  # deferred: timm takes seconds to import

        own = self.state_dict()
        state = dict(state)
        stem = "conv1.0.weight"
        if stem in state and state[stem].shape[1] != self.in_chans:
            state[stem] = adapt_input_conv(self.in_chans, state[stem])
        for key, value in state.items():
            if key not in own or own[key].shape != value.shape:
                got = tuple(value.shape)
                want = tuple(own[key].shape) if key in own else "absent"
                raise ShapeError(f"transferred weight {key!r} has shape {got}; this model has {want}.")
        with torch.no_grad():
            self.load_state_dict(state, strict=False)
        return sorted(state)


def _build(**kwargs: Any) -> ShuffleNetME:
    for key in ("vit_dims", "vit_depths", "vit_fuse_groups"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    if "input_size" in kwargs:
        kwargs["input_size"] = tuple(kwargs["input_size"])
    return ShuffleNetME(**kwargs)


@register_model
def shufflenet_v2_me(**overrides: Any) -> ShuffleNetME:
    """Plain ShuffleNetV2 1.0x, LeakyReLU, gray 224x224 input, 3 classes (Table 2 "ShuffleNetV2")."""
    return _build(**{"attention": "none", **overrides})


@register_model
def shufflenet_v2_me_cbam(**overrides: Any) -> ShuffleNetME:
    """ShuffleNetV2 1.0x with one CBAM after conv5 (Table 2 "ShuffleNetV2 with CBAM")."""
    return _build(**{"attention": "cbam", **overrides})


@register_model
def shufflenet_v2_me_vit(**overrides: Any) -> ShuffleNetME:
    """ShuffleNetV2 1.0x with improved ViT blocks before and after stage4.

    1.52 M parameters (Table 2 "+ improved ViT").
    """
    return _build(**{"attention": "vit", **overrides})
