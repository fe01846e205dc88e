"""The input registry: one preparer per input kind, shared by training and prediction.

A model declares the kind it reads (``default_inputs``, :data:`merkit.models.INPUT_KINDS`); a
method names the kind and its settings; :func:`prepare_inputs` turns the rows of a sample table
into that kind's inputs, keyed by sample key. ``Method.prepare`` in a run and
``LoadedModel.predict`` on a new clip go through the same preparer, so a bundle computes its
inputs exactly as its training did.

A preparer is ``fn(table, settings, *, kind, progress) -> Inputs`` (something with
``take(sample_keys)``), registered with :func:`register_inputs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from merkit._options import unknown_name
from merkit.errors import ConfigError

__all__ = ["register_inputs", "list_input_kinds", "get_preparer", "prepare_inputs"]

Preparer = Callable[..., Any]
_PREPARERS: dict[str, tuple[Preparer, type]] = {}


def register_inputs(*kinds: str, settings: type) -> Callable[[Preparer], Preparer]:
    """Decorator registering a preparer for ``kinds``, whose settings are instances of ``settings``."""

    def wrap(fn: Preparer) -> Preparer:
        for kind in kinds:
            if kind in _PREPARERS and _PREPARERS[kind][0] is not fn:
                raise ConfigError(f"input kind {kind!r} is registered twice ({_PREPARERS[kind][0].__module__} and "
                                  f"{fn.__module__}).")
            _PREPARERS[kind] = (fn, settings)
        return fn

    return wrap


def list_input_kinds() -> list[str]:
    """Registered input kinds, sorted."""
    return sorted(_PREPARERS)


def get_preparer(kind: str) -> tuple[Preparer, type]:
    """The preparer of ``kind`` and the class of its settings."""
    if kind not in _PREPARERS:
        raise unknown_name("input kind", kind, _PREPARERS, hint="See merkit.inputs.list_input_kinds().")
    return _PREPARERS[kind]


def prepare_inputs(kind: str, table: pd.DataFrame, settings: Any, *, progress: bool = False) -> Any:
    """The ``kind`` inputs of every row of ``table``, computed with ``settings``.

    Raises:
        UnknownNameError: ``kind`` is not registered.
        ConfigError: ``settings`` is not the settings class of ``kind``'s preparer.
    """
    fn, settings_class = get_preparer(kind)
    if not isinstance(settings, settings_class):
        raise ConfigError(f"input kind {kind!r} is prepared with {settings_class.__name__} settings; got "
                          f"{type(settings).__name__}.")
    return fn(table, settings, kind=kind, progress=progress)
