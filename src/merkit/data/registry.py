"""Dataset registry: ``load_dataset(name, root, **options)`` returns the sample table.

Every loader registers itself under a lowercase name with
:func:`register_dataset` when its module is imported. This module imports no
loader: :mod:`merkit.data` (the package) imports the built-in ones, so they are
registered before anything here can be called.

Example:
    >>> from merkit.data import load_dataset, list_datasets
    >>> "casme2" in list_datasets()
    True
    >>> table = load_dataset("casme2", "/data/CASME2", variant="cropped")  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

import pandas as pd

from merkit._options import coerce, did_you_mean, matches, type_name, unknown_name
from merkit.errors import ConfigError

__all__ = [
    "register_dataset", "create_dataset", "load_dataset", "list_datasets", "get_dataset_class",
    "loader_options", "describe_type", "create_dataset_spec", "load_dataset_spec", "DatasetSpec",
]

T = TypeVar("T")
#: A dataset entry of a config: the root folder, or a table ``{root = "...", <loader option> = ...}``.
DatasetSpec = Union[str, os.PathLike, Mapping[str, Any]]

_REGISTRY: dict[str, Any] = {}


def register_dataset(name: str) -> Callable[[T], T]:
    """Class decorator registering a dataset loader under ``name``; a duplicate name is an error."""

    def decorate(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ConfigError(f"dataset {name!r} is already registered by {_REGISTRY[name].__name__}; choose another name.")
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_datasets() -> list[str]:
    """Registered dataset names (``casme2``, ``samm``, ``smic_hs``, ..., ``megc2019_cde``)."""
    return sorted(_REGISTRY)


def get_dataset_class(name: str) -> Any:
    """The loader class registered as ``name``."""
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
    accepted = [p for p in loader_options(name) if p != "root"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"dataset {name!r} has no option(s) {unknown!r}; its options are {accepted!r}."
                          f"{did_you_mean(unknown[0], accepted)}")
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


def _param_docs(cls: Any) -> dict[str, str]:
    """``{option: first line of its description}`` from the Google-style ``Args:`` of the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        text = inspect.getdoc(klass) or ""
        block = re.search(r"^Args:\n(.*?)(?:\n\S|\Z)", text, re.S | re.M)
        if not block:
            continue
        for match in re.finditer(r"^    (\w+(?:, \w+)*): (.+?)(?=\n    \w|\Z)", block.group(1), re.S | re.M):
            doc = " ".join(match.group(2).split())
            for name in match.group(1).split(", "):
                if not doc.startswith("see ") or name not in docs:
                    docs[name] = doc
    return docs


def loader_options(name: str) -> dict[str, tuple[Any, Any, str]]:
    """The options of loader ``name``: ``{option: (type, default, description)}``, ``root`` first.

    ``type`` is the annotation of the constructor argument (e.g. ``str | None``); ``default``
    its default (``inspect.Parameter.empty`` when it has none). A clip loader's options are
    the keywords shared on :class:`~merkit.data._base.MEDataset` plus its own
    (:meth:`~merkit.data._base.MEDataset.option_parameters`); another loader's are the
    parameters of its ``__init__``. Used to validate dataset tables of configs
    (:func:`load_dataset_spec`), in error messages and in docs/datasets.md.

    Example:
        >>> opts = loader_options("smic_hs")
        >>> sorted(opts)[:4]
        ['annotation', 'apex_policy', 'corrections', 'frames_dir']
        >>> opts["variant"][1] is None
        True
    """
    cls = get_dataset_class(name)
    parameters = cls.option_parameters() if hasattr(cls, "option_parameters") else init_parameters(cls)
    docs = _param_docs(cls)
    return {param.name: (hint, param.default, docs.get(param.name, "")) for param, hint in parameters}


def init_parameters(cls: type) -> list[tuple[inspect.Parameter, Any]]:
    """``(parameter, type)`` of the named parameters of ``cls.__init__`` (not ``self``, ``*args``, ``**options``)."""
    hints = typing.get_type_hints(cls.__init__, globalns=vars(inspect.getmodule(cls)))
    return [(p, hints.get(p.name, Any)) for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def describe_type(hint: Any) -> str:
    """Short text of an option's type for messages and listings: ``str | os.PathLike | None``, ``Callable``."""
    return type_name(hint)


def _is_path_option(hint: Any) -> bool:
    return hint is os.PathLike or any(_is_path_option(a) for a in typing.get_args(hint))


def _spec_options(name: str, spec: DatasetSpec, base: str | os.PathLike | None) -> dict[str, Any]:
    """Validated constructor arguments (``root`` included) of loader ``name`` from a config entry."""
    if isinstance(spec, (str, os.PathLike)):
        spec = {"root": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"dataset {name!r}: expected a root folder or a table {{root = \"...\", <option> = ...}}; got "
            f"{type(spec).__name__} {spec!r}."
        )
    options = loader_options(name)
    valid = sorted(options)
    values: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in options:
            raise ConfigError(f"dataset {name!r} has no option {key!r}; its options are {valid!r}.{did_you_mean(str(key), valid)}")
        hint_type, default, _ = options[key]
        if key == "corrections" and isinstance(value, str) and value.casefold() == "none":
            value = None  # TOML has no null: corrections = "none" disables them
        if not matches(value, hint_type):
            raise ConfigError(
                f"dataset {name!r} option {key!r} must be {type_name(hint_type)}; got {type(value).__name__} {value!r}."
            )
        value = coerce(f"{name}.{key}", value, hint_type)  # read as everywhere else (YAML's "1e-3" is a float)
        if base is not None and isinstance(value, (str, os.PathLike)) and _is_path_option(hint_type) and value != "default":
            value = str(Path(base) / Path(value).expanduser())
        values[key] = value
    return values


def create_dataset_spec(name: str, spec: DatasetSpec, *, base: str | os.PathLike | None = None) -> Any:
    """Construct loader ``name`` from a config entry (see :func:`load_dataset_spec`); it reads nothing yet."""
    if name == "megc2019_cde" and isinstance(spec, Mapping):
        sources = _composite_spec(spec, base)
        values = _spec_options(name, {k: v for k, v in sources.items() if not k.endswith("_options")}, base)
        values.update({k: v for k, v in sources.items() if k.endswith("_options")})
    else:
        values = _spec_options(name, spec, base)
    root = values.pop("root", None)
    return get_dataset_class(name)(root, **values)


def load_dataset_spec(name: str, spec: DatasetSpec, *, base: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load dataset ``name`` from a config entry: a root path, or a table of loader options.

    Args:
        name: registered dataset name (:func:`list_datasets`).
        spec: the root folder (``"/data/SMIC"``), or a mapping such as
            ``{"root": "/data/SMIC/SMIC_all_raw/HS", "variant": "raw", "apex_policy": "motion_peak"}``
            whose keys are the loader's constructor options (:func:`loader_options`; ``root`` may be
            left out to use ``MERKIT_<NAME>_ROOT`` / ``MERKIT_DATA_ROOT``). ``corrections = "none"``
            disables corrections (TOML has no null). For ``megc2019_cde`` the keys ``casme2``,
            ``samm`` and ``smic_hs`` take each source's own spec (a root or a table of that
            loader's options), e.g. ``{"gt_csv": "gt.csv", "casme2": "/data/CASME2",
            "smic_hs": {"root": "/data/SMIC/SMIC_all_raw/HS"}}``.
        base: folder that relative paths in ``spec`` (options typed as paths: ``root``,
            ``annotation``, ``frames_dir``, ``corrections``, ``gt_csv``, ...) are resolved against,
            normally the config file's folder; ``None`` leaves them as written.

    Returns:
        The sample table (:data:`~merkit.data.sample.SAMPLE_TABLE_SCHEMA`).

    Raises:
        UnknownNameError: ``name`` is not a registered dataset, or ``apex_policy`` is not a known
            policy (the same class the loaders raise).
        ConfigError: ``spec`` has an option the loader does not take (the message lists the valid
            ones and the closest match) or a value of the wrong type (the message names the key);
            a bad ``variant`` value; several frame layouts where one must be chosen.
        DatasetNotFoundError, AnnotationError: what the loader raises for the copy itself.

    Example:
        >>> load_dataset_spec("smic_hs", {"root": "/data/SMIC/SMIC_all_raw/HS"})  # doctest: +SKIP
    """
    return create_dataset_spec(name, spec, base=base).load()


#: Composite source name -> prefix of its composite arguments (``casme2_root``, ``smic_options``, ...).
_COMPOSITE_SOURCES = {"casme2": "casme2", "samm": "samm", "smic_hs": "smic"}


def _composite_spec(spec: Mapping[str, Any], base: str | os.PathLike | None) -> dict[str, Any]:
    """A ``megc2019_cde`` table whose ``casme2`` / ``samm`` / ``smic_hs`` entries are source specs -> composite arguments."""
    out = dict(spec)
    for source, prefix in _COMPOSITE_SOURCES.items():
        for key in (source, f"{prefix}_options"):
            if key not in out:
                continue
            entry = out.pop(key)
            if entry is None:
                continue
            if key == source and not isinstance(entry, (str, os.PathLike, Mapping)):
                raise ConfigError(f"dataset 'megc2019_cde' source {source!r} must be a root folder or a table of "
                                  f"{source} options; got {type(entry).__name__} {entry!r}.")
            if key != source and not isinstance(entry, Mapping):
                raise ConfigError(f"dataset 'megc2019_cde' option {key!r} must be Mapping | None (a table of {source} "
                                  f"options); got {type(entry).__name__} {entry!r}.")
            values = _spec_options(source, entry, base)
            if "root" in values:
                out[f"{prefix}_root"] = values.pop("root")
            values.pop("strict", None)  # the composite loads its sources leniently and is strict itself
            out[f"{prefix}_options"] = {**out.get(f"{prefix}_options", {}), **values}
    return out
