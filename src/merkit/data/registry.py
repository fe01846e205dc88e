"""Dataset registry: ``load_dataset(name, root, **options)`` returns the sample table.

Every loader registers itself under a lowercase name with
:func:`register_dataset`. The built-in loaders are imported the first time
the registry is asked for anything, so importing :mod:`merkit.data` stays cheap.

Example:
    >>> from merkit.data import load_dataset, list_datasets
    >>> "casme2" in list_datasets()
    True
    >>> table = load_dataset("casme2", "/data/CASME2", variant="cropped")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from merkit._names import unknown_name
from merkit.errors import ConfigError

__all__ = ["register_dataset", "create_dataset", "load_dataset", "list_datasets", "get_dataset_class"]

T = TypeVar("T")

_REGISTRY: dict[str, Any] = {}
_BUILTIN_MODULES = ("casme2", "samm", "smic", "casme", "casme3", "mmew", "fourdme", "composite")
_loaded = False


def register_dataset(name: str) -> Callable[[T], T]:
    """Class decorator registering a dataset loader under ``name``; a duplicate name is an error."""

    def decorate(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ConfigError(f"dataset {name!r} is already registered by {_REGISTRY[name].__name__}; choose another name.")
        _REGISTRY[name] = cls
        return cls

    return decorate


def _ensure_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in _BUILTIN_MODULES:
            importlib.import_module(f"merkit.data.{module}")
        _loaded = True


def list_datasets() -> list[str]:
    """Registered dataset names (``casme2``, ``samm``, ``smic_hs``, ..., ``megc2019_cde``)."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def get_dataset_class(name: str) -> Any:
    """The loader class registered as ``name``."""
    _ensure_builtins()
    if name not in _REGISTRY:
        raise unknown_name("dataset", name, _REGISTRY, hint="See merkit.data.list_datasets().")
    return _REGISTRY[name]


def create_dataset(name: str, root: str | os.PathLike | None = None, **options: Any) -> Any:
    """Construct the loader ``name`` (it reads nothing until ``.load()``).

    Raises:
        UnknownNameError: ``name`` is not registered.
        ConfigError: an option the loader does not take (the message lists the ones it does).
    """
    cls = get_dataset_class(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "root")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"dataset {name!r} has no option(s) {unknown!r}; its options are {accepted!r}.")
    return cls(root, **options)


def load_dataset(name: str, root: str | os.PathLike | None = None, **options: Any) -> pd.DataFrame:
    """Load dataset ``name`` from ``root`` and return its sample table.

    Args:
        name: registered dataset name (see :func:`list_datasets`).
        root: the user's dataset folder; ``None`` reads ``MERKIT_<NAME>_ROOT`` / ``MERKIT_DATA_ROOT``.
        **options: loader options (``variant``, ``annotation``, ``apex_policy``, ``corrections``, ``strict``, ...).

    Returns:
        The sample table (:data:`~merkit.data.sample.SAMPLE_TABLE_SCHEMA`).
    """
    return create_dataset(name, root, **options).load()
