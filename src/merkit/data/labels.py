"""Label sets: which emotion strings of which dataset become which protocol class.

The maps are versioned package data (``label_maps.json``), never literals
scattered through loaders. A :class:`LabelSet` turns a sample table's
``emotion`` column into its ``label`` column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from collections.abc import Mapping

import pandas as pd

from merkit._options import unknown_name
from merkit.errors import ProtocolError, UnknownNameError

__all__ = ["LabelSet", "get_label_set", "list_label_sets", "normalise_emotion"]


def normalise_emotion(emotion: str) -> str:
    """Case-fold and strip an emotion string (``' Happiness '`` -> ``'happiness'``)."""
    return str(emotion).strip().casefold()


@dataclass(frozen=True)
class LabelSet:
    """A named, ordered set of classes and the per-dataset emotion mapping into it.

    Attributes:
        name: registered name (``megc3``, ``casme2_5``, ``samm_5``).
        classes: class names in their canonical order (index = class id).
        mapping: ``{dataset: {normalised emotion: class}}``; emotions not listed are dropped.
    """

    name: str
    classes: tuple[str, ...]
    mapping: Mapping[str, Mapping[str, str]]
    description: str = ""

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(sorted(self.mapping))

    def class_of(self, dataset: str, emotion: str) -> str | None:
        """Return the class of ``emotion`` in ``dataset``, or ``None`` if the protocol drops it.

        Raises:
            ProtocolError: if the dataset is not covered by this label set.
        """
        base = _dataset_family(dataset, self.mapping)
        if base is None:
            raise ProtocolError(
                f"label set {self.name!r} has no mapping for dataset {dataset!r}; "
                f"it covers {list(self.datasets)!r}."
            )
        return self.mapping[base].get(normalise_emotion(emotion))

    def apply(self, table: pd.DataFrame, drop: bool = True) -> pd.DataFrame:
        """Return a copy of ``table`` with ``label`` filled from ``emotion``.

        Rows whose emotion the protocol drops get ``label=None`` and are removed
        when ``drop`` is true. The row order of kept rows is preserved and the
        index is reset.
        """
        out = table.copy()
        out["label"] = [self.class_of(d, e) for d, e in zip(out["dataset"], out["emotion"])]
        if drop:
            out = out[out["label"].notna()].reset_index(drop=True)
        return out

    def encode(self, labels: pd.Series | list[str], context: pd.Series | list[str] | None = None) -> list[int]:
        """Map class names to class ids; an unknown name raises naming the sample (``context``)."""
        index = {c: i for i, c in enumerate(self.classes)}
        ids = []
        labels = list(labels)
        keys = list(context) if context is not None else [None] * len(labels)
        for label, key in zip(labels, keys):
            if label not in index:
                where = f"sample {key!r}: " if key is not None else ""
                raise ProtocolError(
                    f"{where}label {label!r} is outside label set {self.name!r} "
                    f"(classes {list(self.classes)!r}); apply the label set first or choose another protocol."
                )
            ids.append(index[label])
        return ids


def _dataset_family(dataset: str, mapping: Mapping[str, Mapping[str, str]]) -> str | None:
    # 'casme2_cropped' and 'casme2' share one mapping; match the longest registered prefix
    candidates = [d for d in mapping if dataset == d or dataset.startswith(d + "_")]
    return max(candidates, key=len) if candidates else None


@lru_cache(maxsize=1)
def _load() -> dict[str, LabelSet]:
    raw = json.loads(resources.files("merkit.data").joinpath("label_maps.json").read_text("utf-8"))
    sets = {}
    for name, spec in raw["label_sets"].items():
        mapping = MappingProxyType({d: MappingProxyType(dict(m)) for d, m in spec["mapping"].items()})
        sets[name] = LabelSet(name, tuple(spec["classes"]), mapping, spec.get("description", ""))
    return sets


def list_label_sets() -> list[str]:
    """Names of the packaged label sets."""
    return sorted(_load())


#: Label sets renamed so that names say what they are: old name -> new name.
RENAMED_LABEL_SETS = {"p002_3": "megc3_with_mmew"}


def get_label_set(name: str) -> LabelSet:
    """Return the packaged label set ``name`` (``megc3``, ``casme2_5``, ``samm_5``)."""
    sets = _load()
    if name in RENAMED_LABEL_SETS:
        raise UnknownNameError(f"label set {name!r} was renamed {RENAMED_LABEL_SETS[name]!r}; "
                               f"write protocol.label_set = {RENAMED_LABEL_SETS[name]!r}.")
    if name not in sets:
        raise unknown_name("label set", name, sets)
    return sets[name]
