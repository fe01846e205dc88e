"""What loading a dataset copy found: problems, published sizes, the load report, collect mode.

Shared by the sample-table loaders (:mod:`merkit.data._base`), the long-video loaders
(:mod:`merkit.data.longvideo`) and ``merkit datasets check``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from merkit.data._corrections import CorrectionOutcome
from merkit.errors import AnnotationError, MerkitError

__all__ = ["Problem", "ProblemList", "PublishedCounts", "LoadReport", "collect_setup_problems", "is_collecting"]

logger = logging.getLogger(__name__)

#: Set by :func:`collect_setup_problems`: missing files/folders and unreadable annotations are recorded, not raised.
_COLLECTING: ContextVar[bool] = ContextVar("merkit_collect_setup_problems", default=False)

@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset copy.

    Attributes:
        severity: ``"error"`` (the row cannot be loaded) or ``"warning"`` (loaded, repaired and flagged).
        where: file and row, or folder, it concerns.
        message: what was expected and what was found (already names ``where``).
        kind: the exception class an ``error`` raises in strict mode.
    """

    severity: str
    where: str
    message: str
    kind: type[MerkitError] = AnnotationError

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


@dataclass(frozen=True)
class PublishedCounts:
    """Published size of a dataset, for ``merkit datasets check``.

    Attributes:
        samples: number of annotated micro-expressions (rows) in a complete copy.
        subjects: number of subjects with at least one sample, or ``None`` if unknown.
        source: where the numbers come from.
    """

    samples: int
    subjects: int | None
    source: str


class ProblemList:
    """``errors`` and ``warnings`` of a report holding ``problems``."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


@dataclass
class LoadReport(ProblemList):
    """What happened while loading: problems, corrections, counts."""

    dataset: str
    root: str
    problems: list[Problem] = field(default_factory=list)
    corrections: list[CorrectionOutcome] = field(default_factory=list)
    n_rows: int = 0
    n_subjects: int = 0
    n_samples: int = 0

    def add(self, severity: str, where: str, message: str, kind: type[MerkitError] = AnnotationError) -> None:
        self.problems.append(Problem(severity, where, message, kind))
        # repaired-and-flagged rows are routine (every SMIC apex); a skipped row is not
        (logger.info if severity == "warning" else logger.warning)("%s: %s", self.dataset, message)


@contextmanager
def collect_setup_problems() -> Iterator[None]:
    """Within this block, loaders record what would stop them and carry on (``merkit datasets check``).

    A missing annotation file or frames folder, an annotation that cannot be read
    (unknown column layout, not a workbook) and a bad correction table become
    ``error`` problems of the loader's report instead of exceptions, so one
    check lists every problem of a copy. Loaders constructed outside the
    block raise as documented.
    """
    token = _COLLECTING.set(True)
    try:
        yield
    finally:
        _COLLECTING.reset(token)


def is_collecting() -> bool:
    """Whether the caller runs inside :func:`collect_setup_problems`."""
    return _COLLECTING.get()
