"""Evaluation protocols as index splits over a sample table.

A protocol never copies files: it turns a sample table into a list of
:class:`Fold` records holding integer row positions. Every protocol names its
label set and refuses samples whose label lies outside it.

Registered protocols (:func:`create_protocol`):

* ``loso``: leave-one-subject-out within one dataset (``dataset=`` picks it
  when the table holds several).
* ``megc2019_composite``: the MEGC2019 composite protocol, one fold per
  subject over the union of the sources (subject keys are unique across
  datasets, so CASME II ``sub01`` and SAMM ``006`` never merge).
* ``cross_dataset``: train on dataset(s) A, test on dataset(s) B (one fold).
* ``leave_one_dataset_out``: one fold per dataset.

Validation policy. The test fold is never used for selection. A method that
needs a validation set asks :func:`inner_validation_split` for one, drawn
from the *training subjects only*, by subject, seeded. The paper-style
``select_on_test`` reproduction mode is handled by the runner, which then
stamps every output it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from merkit._options import unknown_name
from merkit.data.labels import LabelSet, get_label_set
from merkit.errors import ProtocolError

__all__ = [
    "Fold",
    "Protocol",
    "LOSO",
    "CompositeLOSO",
    "CrossDataset",
    "LeaveOneDatasetOut",
    "create_protocol",
    "list_protocols",
    "protocol_kind",
    "SPOTTING_PROTOCOLS",
    "check_folds",
    "inner_validation_split",
]


@dataclass(frozen=True)
class Fold:
    """One train/test split.

    Attributes:
        name: fold name, used in file names (the test subject key or dataset).
        train_idx: sorted row positions of the training samples (int64).
        test_idx: sorted row positions of the test samples (int64).
    """

    name: str
    train_idx: np.ndarray = field(repr=False)
    test_idx: np.ndarray = field(repr=False)

    @property
    def file_stem(self) -> str:
        return self.name.replace("/", "__")


class Protocol:
    """Base class: a label set plus a rule that turns a table into folds.

    Subclasses implement :meth:`_split`. Call :meth:`prepare` first to select
    and label the protocol's samples, then :meth:`folds`.
    """

    name: str = ""

    def __init__(self, label_set: str | LabelSet = "megc3") -> None:
        self.label_set = label_set if isinstance(label_set, LabelSet) else get_label_set(label_set)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.label_set.classes

    def config(self) -> dict:
        """Plain-data description written into run directories."""
        return {"name": self.name, "label_set": self.label_set.name}

    def prepare(self, table: pd.DataFrame) -> pd.DataFrame:
        """Return the protocol's samples with ``label`` set, index reset.

        Rows that already carry a label (e.g. from the MEGC ground-truth list)
        keep it; rows without one are labelled from ``emotion`` by the label
        set and dropped if the label set drops their emotion.

        Raises:
            ProtocolError: if a row's label is outside the label set (naming the sample).
        """
        table = table.reset_index(drop=True)
        labels = table["label"] if "label" in table.columns else pd.Series([None] * len(table))
        unlabeled = labels.isna()
        if unlabeled.any():
            filled = self.label_set.apply(table[unlabeled], drop=False)["label"].to_numpy()
            labels = labels.astype(object).copy()
            labels[unlabeled.to_numpy()] = filled
        out = table.assign(label=labels.to_numpy())
        out = out[out["label"].notna()].reset_index(drop=True)
        self.label_set.encode(out["label"], context=out["sample_key"])
        return out

    def folds(self, table: pd.DataFrame) -> list[Fold]:
        """Split a prepared table (see :meth:`prepare`) into folds, checked by :func:`check_folds`."""
        if "label" not in table.columns or table["label"].isna().any():
            raise ProtocolError(f"protocol {self.name!r}: call prepare(table) before folds(table).")
        self.label_set.encode(table["label"], context=table["sample_key"])
        folds = self._split(table)
        check_folds(folds, table)
        return folds

    def _split(self, table: pd.DataFrame) -> list[Fold]:  # pragma: no cover - abstract
        raise ProtocolError(f"{type(self).__name__} does not define a split rule.")


def _by_group(table: pd.DataFrame, column: str, groups: Sequence[str] | None = None) -> list[Fold]:
    keys = table[column].astype(str).to_numpy()
    groups = sorted(set(keys)) if groups is None else list(groups)
    return [
        Fold(g, np.flatnonzero(keys != g).astype(np.int64), np.flatnonzero(keys == g).astype(np.int64))
        for g in groups
    ]


class LOSO(Protocol):
    """Leave-one-subject-out within one dataset; folds in sorted subject-key order."""

    name = "loso"

    def __init__(self, label_set: str | LabelSet = "megc3", dataset: str | None = None) -> None:
        super().__init__(label_set)
        self.dataset = dataset

    def config(self) -> dict:
        return {**super().config(), "dataset": self.dataset}

    def prepare(self, table: pd.DataFrame) -> pd.DataFrame:
        datasets = sorted(table["dataset"].unique())
        if self.dataset is None and len(datasets) > 1:
            raise ProtocolError(
                f"protocol 'loso' runs within one dataset but the table holds {datasets!r}; "
                f"pass dataset=... or use 'megc2019_composite'."
            )
        if self.dataset is not None:
            if self.dataset not in datasets:
                raise ProtocolError(f"protocol 'loso': dataset {self.dataset!r} is not in the table ({datasets!r}).")
            table = table[table["dataset"] == self.dataset]
        return super().prepare(table)

    def _split(self, table: pd.DataFrame) -> list[Fold]:
        return _by_group(table, "subject_key")


class CompositeLOSO(Protocol):
    """MEGC2019 composite: leave-one-subject-out over the union of all sources."""

    name = "megc2019_composite"

    def _split(self, table: pd.DataFrame) -> list[Fold]:
        return _by_group(table, "subject_key")


class CrossDataset(Protocol):
    """Train on ``train`` dataset(s), test on ``test`` dataset(s); one fold named after the test set."""

    name = "cross_dataset"

    def __init__(
        self, train: str | Sequence[str], test: str | Sequence[str], label_set: str | LabelSet = "megc3"
    ) -> None:
        super().__init__(label_set)
        self.train = [train] if isinstance(train, str) else list(train)
        self.test = [test] if isinstance(test, str) else list(test)
        overlap = sorted(set(self.train) & set(self.test))
        if overlap:
            raise ProtocolError(f"cross_dataset: datasets {overlap!r} are in both train and test; they must differ.")
        if not self.train or not self.test:
            raise ProtocolError("cross_dataset needs at least one train and one test dataset.")

    def config(self) -> dict:
        return {**super().config(), "train": self.train, "test": self.test}

    def prepare(self, table: pd.DataFrame) -> pd.DataFrame:
        present = set(table["dataset"])
        missing = sorted(set(self.train + self.test) - present)
        if missing:
            raise ProtocolError(f"cross_dataset: datasets {missing!r} are not in the table ({sorted(present)!r}).")
        return super().prepare(table[table["dataset"].isin(self.train + self.test)])

    def _split(self, table: pd.DataFrame) -> list[Fold]:
        ds = table["dataset"].to_numpy()
        train = np.flatnonzero(np.isin(ds, self.train)).astype(np.int64)
        test = np.flatnonzero(np.isin(ds, self.test)).astype(np.int64)
        return [Fold("+".join(self.test), train, test)]


class LeaveOneDatasetOut(Protocol):
    """One fold per dataset: train on all the others."""

    name = "leave_one_dataset_out"

    def _split(self, table: pd.DataFrame) -> list[Fold]:
        if table["dataset"].nunique() < 2:
            raise ProtocolError("leave_one_dataset_out needs at least two datasets in the table.")
        return _by_group(table, "dataset")


_PROTOCOLS: dict[str, type[Protocol]] = {
    cls.name: cls for cls in (LOSO, CompositeLOSO, CrossDataset, LeaveOneDatasetOut)
}


#: Protocols that score spotted intervals in long videos instead of classified clips (no folds to run here:
#: :mod:`merkit.evaluation.spotting_run` spots every video with fixed settings).
SPOTTING_PROTOCOLS = ("megc_spotting",)


def list_protocols() -> list[str]:
    """Every protocol name an experiment file may give: recognition and spotting."""
    return sorted([*_PROTOCOLS, *SPOTTING_PROTOCOLS])


def protocol_kind(name: str) -> str:
    """``"recognition"`` (folds of classified clips) or ``"spotting"`` (intervals in long videos) for ``name``.

    Raises:
        UnknownNameError: ``name`` is no protocol.
    """
    if name in SPOTTING_PROTOCOLS:
        return "spotting"
    if name in _PROTOCOLS:
        return "recognition"
    raise unknown_name("protocol", name, list_protocols())


def create_protocol(name: str, **kwargs) -> Protocol:
    """Create a registered protocol, e.g. ``create_protocol('cross_dataset', train='casme2', test='samm')``."""
    if name not in _PROTOCOLS:
        raise unknown_name("protocol", name, _PROTOCOLS)
    try:
        return _PROTOCOLS[name](**kwargs)
    except TypeError as exc:
        raise ProtocolError(f"protocol {name!r}: bad arguments {sorted(kwargs)!r} ({exc}).") from None


def check_folds(folds: Sequence[Fold], table: pd.DataFrame) -> None:
    """Check fold invariants; raise :class:`ProtocolError` naming the offending fold or subject.

    Each fold has a non-empty train and test set, no subject is on both sides,
    and no test sample appears in two folds.
    """
    if not folds:
        raise ProtocolError("the protocol produced no folds; the table may be empty.")
    subjects = table["subject_key"].astype(str).to_numpy()
    seen: dict[int, str] = {}
    for fold in folds:
        if len(fold.test_idx) == 0:
            raise ProtocolError(f"fold {fold.name!r} has an empty test set.")
        if len(fold.train_idx) == 0:
            raise ProtocolError(f"fold {fold.name!r} has an empty training set.")
        both = sorted(set(subjects[fold.train_idx]) & set(subjects[fold.test_idx]))
        if both:
            raise ProtocolError(
                f"subject_key {both[0]!r} is in both the train and the test indices of fold {fold.name!r}; "
                f"folds must be subject-disjoint."
            )
        for i in fold.test_idx:
            if int(i) in seen:
                raise ProtocolError(f"sample at row {int(i)} is tested in folds {seen[int(i)]!r} and {fold.name!r}.")
            seen[int(i)] = fold.name


def inner_validation_split(
    table: pd.DataFrame, train_idx: np.ndarray, fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into (fit, validation) by subject, from training subjects only.

    Args:
        table: the prepared sample table.
        train_idx: row positions of a fold's training samples.
        fraction: share of training *subjects* held out for validation (at least one).
        seed: seeds the subject draw; the same seed gives the same split.

    Returns:
        ``(fit_idx, val_idx)``: disjoint sorted row positions whose union is ``train_idx``.

    Raises:
        ProtocolError: if ``fraction`` is not in (0, 1) or fewer than two training subjects exist.
    """
    if not 0.0 < fraction < 1.0:
        raise ProtocolError(f"validation fraction must be in (0, 1); got {fraction!r}.")
    train_idx = np.asarray(train_idx, dtype=np.int64)
    subjects = table["subject_key"].astype(str).to_numpy()[train_idx]
    unique = sorted(set(subjects))
    if len(unique) < 2:
        raise ProtocolError(
            f"an inner validation split needs at least two training subjects; got {unique!r}. "
            f"Use a fixed schedule (no validation) for this protocol."
        )
    rng = np.random.default_rng(seed)
    n_val = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    val_subjects = set(rng.choice(unique, size=n_val, replace=False).tolist())
    is_val = np.array([s in val_subjects for s in subjects])
    return np.sort(train_idx[~is_val]), np.sort(train_idx[is_val])
