"""Training methods, registered by name as timm registers models.

:func:`register_method` adds a :class:`~merkit.training.methods.base.Method`
subclass under a name; :func:`create_method` builds the method of an
experiment config (``[method] name``, else the model's class-level
``default_method``, :func:`merkit.models.model_defaults`); :func:`list_methods`
names them all. ``docs/training.md`` describes each method and its options.

=========================  ==========================================================
``supervised``             a network on precomputed inputs, cross-entropy (+ identity-adversarial)
``descriptor_svm``         LBP-TOP / Bi-WOOF + SVM
``multitask_clips``        MOL: raw clips, recognition + optical-flow + landmark heads
``flow_pretrain_finetune`` flow-image pre-training, masked-face fine-tuning, SVM head (seed 002)
``macro_transfer``         macro-expression pre-training, progressive unfreezing (seed 003)
=========================  ==========================================================
"""

from __future__ import annotations

import dataclasses
from typing import Any

from merkit._options import unknown_name
from merkit.errors import ConfigError
from merkit.models import model_defaults
from merkit.training.settings import TrainConfig

__all__ = ["register_method", "list_methods", "get_method", "method_name_for", "create_method",
           "Method", "FittedModel", "encode_labels"]

from merkit.training.methods.base import FittedModel, Method, build_options, encode_labels  # noqa: E402

_METHODS: dict[str, type] = {}


def register_method(name: str):
    """Class decorator registering a Method subclass under ``name`` (sets ``cls.name``)."""

    def wrap(cls: type) -> type:
        if name in _METHODS and _METHODS[name] is not cls:
            raise ConfigError(
                f"method {name!r} is registered twice ({_METHODS[name].__module__} and {cls.__module__}).")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return wrap


def list_methods() -> list[str]:
    """Registered method names, sorted."""
    return sorted(_METHODS)


def get_method(name: str) -> type:
    """The Method class registered as ``name``."""
    if name not in _METHODS:
        raise unknown_name("method", name, _METHODS, hint="See merkit.training.methods.list_methods().")
    return _METHODS[name]


def method_name_for(model: str, method: str = "") -> str:
    """The method that trains ``model``: ``method`` if given, else the model's default."""
    if method:
        return method
    if model in _descriptor_svm.DESCRIPTOR_BASELINES:  # the method modules are imported at the end of this file
        return "descriptor_svm"
    return model_defaults(model)["method"]


def create_method(cfg: Any, progress: bool | None = None) -> Any:
    """The configured method of an :class:`~merkit.experiments.config.ExperimentConfig`.

    Raises:
        UnknownNameError: unknown model or method name.
        ConfigError: a ``[method] options`` key the method does not have, or a value of the wrong type.
    """
    name = method_name_for(cfg.model.name, cfg.method.name)
    cls = get_method(name)
    misplaced = sorted(set(cfg.model.options) & {f.name for f in dataclasses.fields(cls.options_class)})
    if misplaced:
        moved = ", ".join(f"{k} = {cfg.model.options[k]!r}" for k in misplaced)
        raise ConfigError(f"model.options {misplaced!r} are options of method {name!r}, not of model "
                          f"{cfg.model.name!r}: move them to the [method] section, options = {{ {moved} }}.")
    own = {f.name for f in dataclasses.fields(cls.options_class)}
    train_keys = sorted(set(cfg.method.options) & ({f.name for f in dataclasses.fields(TrainConfig)} - own))
    if train_keys:
        raise ConfigError(f"method.options {train_keys!r} are [train] settings (the one training loop's), not options "
                          f"of method {name!r}: write them in the [train] section.")
    options = build_options(cls.options_class, cfg.method.options, "method.options")
    return cls(cfg.model.name, cfg.model.options, options, cfg.train, cfg.features,
               cfg.train.progress if progress is None else progress)


# Importing a method module registers it (one line per module).
from merkit.training.methods import descriptor_svm as _descriptor_svm  # noqa: E402
from merkit.training.methods import flow_pretrain as _flow_pretrain  # noqa: F401,E402
from merkit.training.methods import macro_transfer as _macro_transfer  # noqa: F401,E402
from merkit.training.methods import multitask_clips as _multitask_clips  # noqa: F401,E402
from merkit.training.methods import supervised as _supervised  # noqa: F401,E402
