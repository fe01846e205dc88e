"""One validator for every raw option table, and one "did you mean" helper.

Experiment-file sections, ``[method] options``, dataset specs, SynthME overrides and
``--set KEY=VALUE`` arguments all arrive as plain dicts of TOML/YAML/command-line values
and become frozen dataclasses through :func:`build`, so a value is read the same way
wherever it is written. The rules (:func:`coerce`):

* an ``int`` (not a bool) is accepted where a ``float`` is expected, and so is a numeric
  string: YAML 1.1 reads ``lr: 1e-3`` (no dot) as the string ``'1e-3'``;
* an integral float (``10.0``) is accepted where an ``int`` is expected, ``2.5`` is not;
* a list, a scalar number or a comma-separated string is accepted where a ``tuple`` is expected;
* ``X | None`` accepts ``None``; a table is accepted for a nested dataclass, which its owner builds;
  other annotations (``Any``, callables) are checked loosely.

Unknown keys are errors that list the valid keys and name the closest one (:func:`did_you_mean`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Union

import yaml

from merkit.errors import ConfigError, UnknownNameError

__all__ = ["did_you_mean", "unknown_name", "unknown_key", "choice", "positive", "coerce", "matches", "type_name",
           "field_types", "build", "parse_value",
           "parse_assignments"]


def did_you_mean(name: str, valid: Iterable[str], prefix: str = "") -> str:
    """``" Did you mean 'x'?"`` for the valid name closest to ``name`` (``prefix`` before it), or ``""``."""
    close = difflib.get_close_matches(str(name), sorted(str(v) for v in valid), n=1)
    return f" Did you mean {prefix}{close[0]!r}?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """The error for an unknown registry name: the valid names and the closest one."""
    valid = sorted(choices)
    msg = f"unknown {kind} {name!r}; valid names: {valid!r}.{did_you_mean(name, valid)}"
    return UnknownNameError(f"{msg} {hint}" if hint else msg)


def unknown_key(where: str, key: str, valid: Iterable[str], source: str = "config") -> ConfigError:
    """The error for a key ``where.key`` that the table does not have: the valid keys and the closest one."""
    valid = sorted(valid)
    name = f"{where}.{key}" if where else key
    return ConfigError(f"unknown key in {source}: {name!r}; valid: {valid!r}.{did_you_mean(key, valid)}")


def choice(key: str, value: Any, choices: Iterable[str]) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if value not in tuple(choices):
        raise ConfigError(f"{key} must be one of {sorted(choices)!r}; got {value!r}.")


def positive(key: str, value: float, allow_zero: bool = False) -> None:
    """Raise ConfigError unless ``value > 0`` (``>= 0`` with ``allow_zero``)."""
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key} must be {'>= 0' if allow_zero else '> 0'}; got {value!r}.")


def type_name(hint: Any) -> str:
    """A readable name of an annotation (``str | None``, ``os.PathLike``)."""
    if hint is type(None) or hint is None:
        return "None"
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is not None:
        return type_name(typing.get_origin(hint))
    return getattr(hint, "__name__", str(hint)).replace("PathLike", "os.PathLike")


def _is_callable_hint(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    return (origin is not None and getattr(origin, "__module__", "") == "collections.abc"
            and origin.__name__ == "Callable")


_MISMATCH = object()


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` under the module's rules, or ``_MISMATCH``."""
    if hint is Any:
        return value
    if hint is type(None) or hint is None:
        return None if value is None else _MISMATCH
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = typing.get_args(hint)
        for arg in sorted(args, key=lambda a: a is str):  # an exact match first; str last so "1e-3" stays a number
            if isinstance(arg, type) and arg is not str and isinstance(value, arg) and not isinstance(value, bool):
                return value
        for arg in sorted(args, key=lambda a: a is str):
            out = _convert(value, arg)
            if out is not _MISMATCH:
                return out
        return _MISMATCH
    if hint is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if hint is int:
        if isinstance(value, bool):
            return _MISMATCH
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _MISMATCH
    if hint is float:
        if isinstance(value, bool):
            return _MISMATCH
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return _MISMATCH
        return _MISMATCH
    if hint is tuple or typing.get_origin(hint) is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (value,)
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return _MISMATCH
    if hint is os.PathLike:
        return value if isinstance(value, (str, os.PathLike)) else _MISMATCH
    origin = typing.get_origin(hint)
    if hint is dict or hint is Mapping or (isinstance(origin, type) and issubclass(origin, Mapping)):
        return value if isinstance(value, Mapping) else _MISMATCH
    if _is_callable_hint(hint):
        return value if callable(value) else _MISMATCH
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return value  # a nested table: the owning dataclass builds it (its __post_init__ names the place)
    if isinstance(hint, type):
        return value if isinstance(value, hint) else _MISMATCH
    return value


def matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is acceptable for the annotation ``hint`` (see :func:`coerce`)."""
    return _convert(value, hint) is not _MISMATCH


def coerce(key: str, value: Any, hint: Any) -> Any:
    """``value`` converted to the annotation ``hint`` (module rules), or a ConfigError naming ``key``."""
    out = _convert(value, hint)
    if out is _MISMATCH:
        raise ConfigError(f"config key {key!r} must be of type {type_name(hint)}; got {type(value).__name__} "
                          f"{value!r}.")
    return out


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of each field of the dataclass ``cls``."""
    try:
        hints = typing.get_type_hints(cls)
    except NameError:  # an annotation names a type imported for type checkers only: read the simple ones
        simple = {"int": int, "float": float, "bool": bool, "str": str, "dict": dict, "tuple": tuple}
        hints = {f.name: simple.get(f.type, Any) if isinstance(f.type, str) else f.type
                 for f in dataclasses.fields(cls)}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def build(cls: type, raw: Mapping | None, where: str, source: str = "config") -> Any:
    """Validate the raw table ``raw`` into the dataclass ``cls``.

    Args:
        cls: a (frozen) dataclass whose annotations give the types.
        raw: the table as read (TOML, YAML, ``--set``); ``None`` is an empty table.
        where: the table's place in messages, e.g. ``"train"`` or ``"method.options"``.
        source: the file or input the table came from, for messages.

    Raises:
        ConfigError: for a key ``cls`` does not have (naming the closest) or a value of the wrong type;
            and whatever ``cls.__post_init__`` raises for a bad value.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: {where} must be a table of keys; got {type(raw).__name__} {raw!r}.")
    types_ = field_types(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in types_:
            raise unknown_key(where, str(key), types_, source)
        kwargs[key] = coerce(f"{where}.{key}" if where else str(key), value, types_[key])
    return cls(**kwargs)


def parse_value(text: str) -> Any:
    """A command-line value: a YAML scalar or list (``1e-4`` as a float, ``[0, 1]`` as a list, ``yes`` as True)."""
    value = yaml.safe_load(text) if text.strip() else ""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_assignments(items: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` command-line items as a raw table, each value read by :func:`parse_value`.

    Raises:
        ConfigError: an item without ``=`` or without a key, naming the option it came from.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects KEY=VALUE; got {item!r}.")
        out[key.strip()] = parse_value(text)
    return out
