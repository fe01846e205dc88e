"""Where a user's dataset copies live: arguments, a config file, or environment variables.

merkit never guesses dataset locations and never has them edited into code.
A loader's ``root`` is, in order of precedence:

1. the ``root=`` argument (or the ``ROOT`` argument of ``merkit datasets check``);
2. the environment variable ``MERKIT_<NAME>_ROOT`` (``MERKIT_CASME2_ROOT``,
   ``MERKIT_SAMM_ROOT``, ``MERKIT_SMIC_HS_ROOT`` or the shared ``MERKIT_SMIC_ROOT``, ...);
3. ``$MERKIT_DATA_ROOT/<folder>`` with the dataset's conventional folder name
   (``CASME2``, ``SAMM``, ``SMIC``, ``CASME``, ``CASME3``, ``MMEW``, ``4DME``).

A paths file (YAML or TOML) maps dataset names to a root and optional
annotation file, and is read with :func:`read_paths_file`::

    datasets:
      casme2: {root: /data/CASME2, annotation: /data/CASME2/CASME2-coding-20140508.xlsx}
      samm: {root: /data/SAMM}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from merkit.errors import ConfigError, DatasetNotFoundError

__all__ = ["resolve_root", "env_names", "read_paths_file", "DEFAULT_FOLDERS"]

#: Conventional folder name of each dataset under ``$MERKIT_DATA_ROOT``.
DEFAULT_FOLDERS: dict[str, str] = {
    "casme2": "CASME2",
    "samm": "SAMM",
    "smic_hs": "SMIC",
    "smic_vis": "SMIC",
    "smic_nir": "SMIC",
    "casme": "CASME",
    "casme3_a": "CASME3",
    "mmew": "MMEW",
    "fourdme": "4DME",
}


def env_names(name: str) -> list[str]:
    """Environment variables consulted for dataset ``name``, most specific first."""
    names = [f"MERKIT_{name.upper()}_ROOT"]
    if name.startswith("smic_"):
        names.append("MERKIT_SMIC_ROOT")
    return names


def resolve_root(name: str, root: str | os.PathLike | None) -> Path:
    """Return the existing root folder of dataset ``name``.

    Raises:
        DatasetNotFoundError: no root was given and no environment variable
            names one, or the chosen folder does not exist. The message lists
            where merkit looked.
    """
    tried = []
    if root is not None:
        path = Path(root).expanduser()
        source = "the root argument"
    else:
        path = None
        for var in env_names(name):
            if os.environ.get(var):
                path, source = Path(os.environ[var]).expanduser(), f"${var}"
                break
            tried.append(f"${var}")
        if path is None and os.environ.get("MERKIT_DATA_ROOT") and name in DEFAULT_FOLDERS:
            path = Path(os.environ["MERKIT_DATA_ROOT"]).expanduser() / DEFAULT_FOLDERS[name]
            source = "$MERKIT_DATA_ROOT"
        elif path is None:
            tried.append("$MERKIT_DATA_ROOT")
    if path is None:
        raise DatasetNotFoundError(
            f"no root folder given for dataset {name!r}; pass root=..., or set one of {tried!r} "
            f"(merkit never downloads or searches for licensed datasets)."
        )
    if not path.is_dir():
        raise DatasetNotFoundError(f"dataset root {str(path)!r} for {name!r} (from {source}) does not exist or is not a folder.")
    return path


def read_paths_file(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Read a YAML or TOML paths file into ``{dataset: {"root": ..., "annotation": ...}}``.

    Relative paths in the file are resolved against the file's folder.

    Raises:
        DatasetNotFoundError: the file does not exist.
        ConfigError: the file is not a mapping ``datasets: {name: {root: ...}}`` or has unknown keys.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"paths file {str(path)!r} does not exist.")
    try:
        text = path.read_text("utf-8")
        if path.suffix.casefold() == ".toml":
            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, ImportError) as exc:  # TOMLDecodeError is a ValueError
        raise ConfigError(f"paths file {str(path)!r} cannot be parsed ({type(exc).__name__}: {exc}).") from None
    except Exception as exc:  # yaml.YAMLError and its subclasses
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(f"paths file {str(path)!r} cannot be parsed as YAML ({exc}).") from None
        raise
    datasets = data.get("datasets") if isinstance(data, dict) else None
    if not isinstance(datasets, dict):
        raise ConfigError(f"paths file {str(path)!r}: expected a top-level mapping 'datasets: {{name: {{root: ...}}}}'.")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in datasets.items():
        if isinstance(entry, str):
            entry = {"root": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"paths file {str(path)!r}: entry {name!r} must be a path or a mapping with 'root'.")
        unknown = sorted(set(entry) - {"root", "annotation", "frames_dir"})
        if unknown:
            raise ConfigError(f"paths file {str(path)!r}: entry {name!r} has unknown keys {unknown!r}; expected root, annotation, frames_dir.")
        bad = sorted(k for k, v in entry.items() if v is not None and not isinstance(v, str))
        if bad:
            raise ConfigError(f"paths file {str(path)!r}: entry {name!r} keys {bad!r} must be paths (text).")
        out[str(name)] = {k: str((path.parent / Path(v).expanduser())) for k, v in entry.items() if v is not None}
    return out
