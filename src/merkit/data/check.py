"""Validate a user's copy of a dataset and list *every* problem (``merkit datasets check``).

:func:`check_dataset` loads the dataset leniently (``strict=False``, inside
:func:`~merkit.data._reports.collect_setup_problems`) so that nothing hides the
next problem: a bad row, a missing frames folder (every annotation cell is still
checked), an unreadable or unknown-layout annotation, a bad correction table or
a composite source that cannot be opened are all reported in one pass. It then
adds what loading alone does not look at:

* frames decoded (``decode="keyframes"``: onset, apex and offset of each
  sample; ``"all"``: every frame; ``"none"``), each unreadable file an error;
* annotated samples and subjects against the published counts of a complete
  copy (a mismatch is a warning: partial copies are legitimate);

on top of the loader's own checks (files present, frame numbers parsed,
onset <= apex <= offset, missing frames, clip folders, corrections).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from merkit.data._reports import LoadReport, Problem, collect_setup_problems
from merkit.data.frames import ImageFiles
from merkit.data.registry import create_dataset
from merkit.data.sample import samples_to_table
from merkit.errors import AnnotationError, ConfigError, DatasetNotFoundError, FrameReadError

__all__ = ["CheckReport", "check_dataset", "DECODE_MODES"]

#: Accepted values of ``decode``.
DECODE_MODES = ("none", "keyframes", "all")


@dataclass
class CheckReport(LoadReport):
    """Result of :func:`check_dataset`: the loader's :class:`~merkit.data._reports.LoadReport` plus what checking adds.

    Attributes:
        dataset: registered name.
        root: the checked folder.
        problems: every problem found, in discovery order.
        corrections: what each correction-table entry did.
        n_rows: annotated samples (annotation rows, or clip folders for SMIC).
        n_subjects: distinct subjects among them.
        n_samples: samples that loaded.
        n_decoded: frame files decoded.
    """

    n_decoded: int = 0

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors


def check_dataset(name: str, root: str | os.PathLike | None = None, *, decode: str = "keyframes", **options: Any) -> CheckReport:
    """Check a dataset copy and return every problem found.

    Args:
        name: registered dataset name.
        root: the dataset folder (``None``: environment variables, see :mod:`merkit.data.paths`).
        decode: ``"keyframes"`` (default), ``"all"`` or ``"none"``.
        **options: loader options (``variant``, ``annotation``, ``gt_csv``, ...); ``strict`` is always False.

    Returns:
        The report; ``report.ok`` is False when any error was found.

    Raises:
        ConfigError / UnknownNameError: a usage error (unknown dataset, option or decode mode);
            problems of the copy itself are never raised, they are in the report.
    """
    if decode not in DECODE_MODES:
        raise ConfigError(f"decode must be one of {list(DECODE_MODES)!r}; got {decode!r}.")
    options["strict"] = False
    with collect_setup_problems():
        try:
            loader = create_dataset(name, root, **options)
        except (DatasetNotFoundError, AnnotationError) as exc:  # nothing to look at: the root itself is missing
            return CheckReport(name, str(root), [Problem("error", str(root), str(exc), type(exc))])
        try:
            table = loader.load()
        except (DatasetNotFoundError, AnnotationError) as exc:
            loader.report.add("error", str(loader.root), str(exc), type(exc))
            table = samples_to_table([])
    report = CheckReport(name, str(loader.root), list(loader.report.problems), list(loader.report.corrections))
    report.n_rows, report.n_subjects, report.n_samples = loader.report.n_rows, loader.report.n_subjects, len(table)
    if decode != "none":
        for row in table.itertuples(index=False):
            positions = range(row.n_frames) if decode == "all" else sorted({row.onset_index, row.apex_index, row.offset_index})
            frames = ImageFiles(row.frame_paths, name=row.sample_key)
            for i in positions:
                try:
                    frames[i]
                    report.n_decoded += 1
                except FrameReadError as exc:
                    report.problems.append(Problem("error", row.frame_paths[i], str(exc), FrameReadError))
    published = loader.published
    if published is not None:
        if report.n_rows != published.samples:
            report.problems.append(Problem("warning", report.root, (
                f"{report.n_rows} annotated samples found; a complete copy has {published.samples} "
                f"({published.source}).")))
        if published.subjects is not None and report.n_subjects != published.subjects:
            report.problems.append(Problem("warning", report.root, (
                f"{report.n_subjects} subjects found; a complete copy has {published.subjects} ({published.source}).")))
    return report
