"""Model registry: ``register_model``, ``create_model``, ``list_models``, ``model_info``.

Each architecture file defines a model class with the timm-like API
(``default_cfg``, ``num_features``, ``forward_features``, ``forward_head``,
``forward``) and one small entry-point function per variant, decorated with
:func:`register_model`. The entry point's name is the registered name
(lowercase snake_case, as in timm).

``default_cfg`` keys:

* ``input_size``: ``(C, H, W)`` the model is specified for;
* ``inputs``: the feature kind it reads, one of :data:`INPUT_KINDS`
  (the channel meaning matters for augmentation: a horizontal flip negates
  the ``u`` channel of flow inputs but not of RGB images);
* ``num_classes``: default class count (3, the MEGC2019 composite classes).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from merkit._options import unknown_name
from merkit.errors import ConfigError

__all__ = [
    "INPUT_KINDS",
    "ModelInfo",
    "register_model",
    "create_model",
    "list_models",
    "model_info",
    "model_class",
    "model_defaults",
    "count_macs",
]

#: Feature kinds a model may read, with the meaning of their channels.
INPUT_KINDS: dict[str, str] = {
    "flow_uv_strain": "(u, v, optical strain) of the onset->apex flow, each channel min-max scaled to [0, 1]",
    "flow_uv": "(u, v) of the onset->apex flow, each channel min-max scaled to [0, 1]",
    "flow_uv_strain_uniform2": "(u, v, strain) from the onset to 2 frames spread evenly up to the offset, "
    "stacked as 6 channels, each map min-max scaled to [0, 1] (MiER-CvT Table 5)",
    "flow_uv_strain_uniform4": "the same for 4 frames: 12 channels (MiER-CvT Table 5)",
    "rgb_apex": "the apex frame as RGB, scaled to [0, 1]",
    "gray_clip": "T aligned gray frames of one clip as channels (B, T, H, W), grey level / 255 - 0.5 (MOL)",
    "gray_apex_masked": "the aligned apex frame as grey levels scaled to [0, 1], eye regions set to 0",
    "flow_image_then_masked_face": "seed 002 two phases: onset->apex flow images (3, H, W) in [0, 1], then the aligned "
    "gray apex face (1, H, W) in [0, 1] with eyes and non-face masked to 0",
}

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a model entry point under its function name.

    Raises:
        ConfigError: if the name is already registered.
    """
    name = fn.__name__
    if name in _MODELS:
        raise ConfigError(f"model {name!r} is registered twice ({_MODELS[name].__module__} and {fn.__module__}).")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model, e.g. ``create_model('ststnet', num_classes=5)``.

    Args:
        name: a name from :func:`list_models`.
        **overrides: constructor arguments of the model class (``num_classes``,
            ``drop_rate``, ...).

    Raises:
        UnknownNameError: for an unknown name (with the closest matches).
        ConfigError: for an argument the model does not take.
    """
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS, hint="See merkit.models.list_models() or `merkit models`.")
    try:
        return _MODELS[name](**overrides)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad option(s) {sorted(overrides)!r} ({exc}).") from None


def model_class(name: str) -> type[nn.Module]:
    """The class a registered entry point builds (its return annotation), without building it.

    Raises:
        UnknownNameError: for an unknown name.
        ConfigError: when the entry point has no class return annotation.
    """
    if name not in _MODELS:
        raise unknown_name("model", name, _MODELS, hint="See merkit.models.list_models() or `merkit models`.")
    cls = typing.get_type_hints(_MODELS[name]).get("return")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigError(f"model entry point {name!r} must be annotated with the nn.Module class it returns.")
    return cls


def model_defaults(name: str) -> dict[str, str]:
    """``{"method": ..., "inputs": ...}``: the class-level training method and input kind of model ``name``."""
    cls = model_class(name)
    return {"method": getattr(cls, "default_method", "supervised"), "inputs": getattr(cls, "default_inputs", "")}


@dataclass(frozen=True)
class ModelInfo:
    """Size and cost of a model at its default input.

    Attributes:
        name: registered name.
        params: number of parameters (all, trainable or not).
        gmacs: multiply-accumulates for one sample, in units of 1e9
            (``torch.utils.flop_counter`` FLOPs / 2: convolutions and matrix products).
        input_size: ``(C, H, W)`` the count was taken at.
        inputs: the feature kind (see :data:`INPUT_KINDS`).
        num_classes: output classes of the counted model.
    """

    name: str
    params: int
    gmacs: float
    input_size: tuple[int, int, int]
    inputs: str
    num_classes: int


def count_macs(model: nn.Module, input_size: tuple[int, ...]) -> float:
    """Multiply-accumulates of one forward pass on a single ``(1, *input_size)`` zero tensor.

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode` (which counts
    2 FLOPs per MAC for convolutions and matrix products; element-wise ops,
    pooling and normalisation are not counted, as in fvcore). Fused attention
    (``F.scaled_dot_product_attention``, used by timm's ViT and MobileViT) is
    run with the math backend while counting: the CPU flash kernel has no FLOP
    formula and its two matrix products would silently count as zero. With this,
    torchvision's ResNet-18 counts 1.81 and timm's ViT-B/16 17.56 GMACs at 224,
    the "FLOPs" seed 000's Table 3 reports for them (1.8 G and 17.6 G).
    """
    from torch.utils.flop_counter import FlopCounterMode  # deferred: ~150 ms on top of torch; only MAC counts need it

    was_training = model.training
    model.eval()
    x = torch.zeros((1, *input_size))
    with torch.no_grad(), sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2.0


def model_info(name: str, **overrides: Any) -> ModelInfo:
    """Parameter count and GMACs of a registered model at its default input size."""
    model = create_model(name, **overrides)
    cfg = model.default_cfg
    input_size = tuple(int(v) for v in cfg["input_size"])
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model, input_size)
    return ModelInfo(name, int(params), macs / 1e9, input_size, cfg["inputs"], int(cfg["num_classes"]))


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis."""
    return math.floor((size + 2 * padding - kernel) / stride) + 1
