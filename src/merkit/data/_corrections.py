"""Annotation corrections as data: one table per dataset, a reason per entry, applied visibly.

A correction table is a CSV with the columns of :data:`CORRECTION_COLUMNS`.
An entry is keyed by ``(subject, clip)`` (and the annotated ``onset`` when a
clip holds several micro-expressions, as in CAS(ME)^3), never by row number,
and it only fires when the cell still holds ``old``: a copy that already has
the fixed value is reported as ``already_correct``, a copy with a third value
as ``value_differs`` (left alone). Every outcome is logged and returned, and
corrected samples carry the ``corrected`` flag.

Packaged tables live in ``merkit/data/corrections/<dataset>.csv``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from merkit.data._excel import cell_to_text, parse_csv, read_text
from merkit.errors import AnnotationError, DatasetNotFoundError

__all__ = ["Correction", "CorrectionOutcome", "CORRECTION_COLUMNS", "load_corrections", "apply_corrections"]

logger = logging.getLogger(__name__)

#: Columns of a correction table, in order.
CORRECTION_COLUMNS = ("subject", "clip", "onset", "field", "old", "new", "reason", "source")
#: Fields a correction may change.
CORRECTABLE_FIELDS = ("onset", "apex", "offset", "emotion", "action_units")


@dataclass(frozen=True)
class Correction:
    """One entry of a correction table (all values as text, as in the CSV)."""

    subject: str
    clip: str
    onset: str
    field: str
    old: str
    new: str
    reason: str
    source: str
    where: str

    def matches(self, row: dict[str, Any]) -> bool:
        if row["subject"] != self.subject or row["clip"] != self.clip:
            return False
        return not self.onset or cell_to_text(row.get("onset")) == self.onset


@dataclass(frozen=True)
class CorrectionOutcome:
    """What happened to one correction: ``applied``, ``already_correct``, ``value_differs`` or ``no_matching_row``."""

    correction: Correction
    status: str
    found: str = ""

    def describe(self) -> str:
        c = self.correction
        what = f"{c.subject}/{c.clip}" + (f" (onset {c.onset})" if c.onset else "") + f" {c.field} {c.old!r} -> {c.new!r}"
        detail = f", found {self.found!r}" if self.status == "value_differs" else ""
        return f"correction {what}: {self.status}{detail} [{c.where}; reason: {c.reason}]"


def load_corrections(corrections: str | os.PathLike | None, dataset: str) -> list[Correction]:
    """Read a correction table.

    Args:
        corrections: ``"default"`` for the packaged table of ``dataset`` (empty
            if it has none), ``None`` for no corrections, or a CSV path.
        dataset: registered dataset name (selects the packaged table).

    Raises:
        DatasetNotFoundError: the path does not exist.
        AnnotationError: a column is missing, a field is not correctable, or an entry has no reason.
    """
    if corrections is None:
        return []
    if isinstance(corrections, str) and corrections == "default":
        resource = resources.files("merkit.data").joinpath("corrections", f"{dataset}.csv")
        if not resource.is_file():
            return []
        text, name = resource.read_text("utf-8"), f"merkit/data/corrections/{dataset}.csv"
    else:
        path = Path(corrections)
        if not path.is_file():
            raise DatasetNotFoundError(f"correction table {str(path)!r} does not exist; expected a CSV with columns {list(CORRECTION_COLUMNS)!r}.")
        text, name = read_text(path, f"a correction table (CSV with columns {list(CORRECTION_COLUMNS)!r})"), str(path)
    rows = parse_csv(text, name)
    header = [h.strip() for h in rows[0]] if rows else []
    entries = [(line, dict(zip(header, r))) for line, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    missing = [c for c in CORRECTION_COLUMNS if c not in header]
    if missing:
        raise AnnotationError(f"correction table {name!r} lacks columns {missing!r}; expected {list(CORRECTION_COLUMNS)!r}.")
    out = []
    for line, entry in entries:
        where = f"{name} line {line}"
        values = {k: (entry.get(k) or "").strip() for k in CORRECTION_COLUMNS}
        if values["field"] not in CORRECTABLE_FIELDS:
            raise AnnotationError(f"{where}: field {values['field']!r} cannot be corrected; expected one of {list(CORRECTABLE_FIELDS)!r}.")
        if not values["reason"] or not values["subject"] or not values["clip"]:
            raise AnnotationError(f"{where}: every correction needs a subject, a clip and a reason; got {values!r}.")
        out.append(Correction(**values, where=where))
    return out


def apply_corrections(rows: list[dict[str, Any]], corrections: list[Correction], dataset: str) -> list[CorrectionOutcome]:
    """Apply ``corrections`` in place to standardised annotation rows.

    Args:
        rows: dicts with at least ``subject``, ``clip`` and the corrected field;
            a corrected row gets ``row["corrected"] = True``.
        corrections: entries from :func:`load_corrections`.
        dataset: for the log lines.

    Returns:
        One outcome per correction, in table order. Each is also logged
        (``applied`` at WARNING level so it is seen, the others at INFO).

    Raises:
        AnnotationError: an entry matches more than one row (the key is ambiguous; add the onset).
    """
    outcomes = []
    for corr in corrections:
        hits = [r for r in rows if corr.matches(r)]
        if len(hits) > 1:
            raise AnnotationError(
                f"{corr.where}: correction for {corr.subject}/{corr.clip} matches {len(hits)} annotation rows; "
                f"fill the 'onset' column to pick one."
            )
        if not hits:
            outcome = CorrectionOutcome(corr, "no_matching_row")
        else:
            row = hits[0]
            current = cell_to_text(row.get(corr.field))
            if current == corr.new:
                outcome = CorrectionOutcome(corr, "already_correct")
            elif current != corr.old:
                outcome = CorrectionOutcome(corr, "value_differs", current)
            else:
                row[corr.field] = corr.new
                row["corrected"] = True
                outcome = CorrectionOutcome(corr, "applied")
        level = logging.WARNING if outcome.status in ("applied", "value_differs") else logging.INFO
        logger.log(level, "%s: %s", dataset, outcome.describe())
        outcomes.append(outcome)
    return outcomes
