"""Shared machinery of the dataset loaders: rows -> corrections -> frames -> :class:`Sample`.

A loader subclass only knows its dataset's layout: it turns the annotation
(or the folder tree) into *standard rows* and says where each clip's folder
is. Everything else is here, once:

* corrections (:mod:`merkit.data._corrections`) are applied to the rows and reported;
* frames are listed by parsed number and cut to ``[onset, offset]``;
* onsets/offsets outside the frames on disk are clamped and flagged;
* a missing, unusable or out-of-range apex is filled by the apex policy and flagged;
* every problem is recorded with the file/row/folder it concerns. With
  ``strict=True`` (default) loading raises one error listing all of them;
  with ``strict=False`` the bad rows are skipped and the problems stay in
  :attr:`MEDataset.report` (what ``merkit datasets check`` prints).

Standard row keys: ``subject`` (as on disk), ``clip``, ``onset``, ``apex``,
``offset`` (raw cells), ``emotion``, ``action_units``, ``where`` (file and
row, for messages) and optionally ``flags`` (a set) and ``folder``.
"""

from __future__ import annotations

import abc
import inspect
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from merkit.data._corrections import apply_corrections, load_corrections
from merkit.data._excel import ColumnSpec, cell_to_int, cell_to_text, read_annotation
from merkit.data._frames import FrameListing, check_name, ensure_inside, list_frames
from merkit.data._locate import RootLocator
from merkit.data._reports import LoadReport, Problem, PublishedCounts, is_collecting
from merkit.data.apex import ApexContext, ApexPolicy, get_apex_policy
from merkit.data.paths import resolve_root
from merkit.data.registry import init_parameters
from merkit.data.sample import Sample, sample_key, samples_to_table
from merkit.errors import AnnotationError, DatasetNotFoundError, MerkitError

__all__ = ["MEDataset", "TableLoader", "column_header"]

logger = logging.getLogger(__name__)

#: Flags whose presence is also reported as a warning problem.
_REPORTED_FLAGS = ("apex_out_of_range", "missing_frames", "onset_clamped", "offset_clamped", "offset_estimated")


class TableLoader(abc.ABC):
    """A loader whose :meth:`load` builds a sample table; :attr:`table` loads it once and keeps it.

    Shared by :class:`MEDataset` and the MEGC2019 composite (:mod:`merkit.data.composite`).
    """

    _table: pd.DataFrame | None = None

    @property
    def table(self) -> pd.DataFrame:
        """The sample table (loaded once, then cached)."""
        if self._table is None:
            self._table = self.load()
        return self._table

    @abc.abstractmethod
    def load(self) -> pd.DataFrame:
        """Read the dataset and return its sample table."""


class MEDataset(RootLocator, TableLoader):
    """Base class of the micro-expression dataset loaders.

    The keywords every clip loader shares are taken here; a loader's own
    ``__init__`` (where it has one) takes only its own options and passes the
    rest on (``def __init__(self, root=None, *, fps=30.0, **options)``).
    :func:`merkit.data.registry.loader_options` lists both (:meth:`option_parameters`).

    Args:
        root: the dataset folder (see :mod:`merkit.data.paths` for the
            environment variables used when it is ``None``).
        variant: the frame layout, one of the keys of :attr:`frame_dirs`; ``None`` (default):
            detected from the folders on disk (:mod:`merkit.data._layout`). Only loaders with
            several layouts take it.
        annotation: the annotation file; default: the one file in ``root`` matching :attr:`annotation_globs`.
        frames_dir: the folder holding the subject folders, when it is not one of :attr:`frame_dirs`.
        apex_policy: name of a registered apex policy (``"midpoint"``) or a
            callable ``policy(ApexContext) -> frame number``; used wherever the
            annotation gives no usable apex.
        corrections: ``"default"`` (the packaged table of this dataset),
            ``None`` (none) or the path of a user's correction CSV.
        strict: raise on any row that cannot be loaded (default), or skip such
            rows and keep the problems in :attr:`report`.

    Subclasses set :attr:`name`, :attr:`fps`, :attr:`published`, where the files are
    (:attr:`annotation_globs`, :attr:`frame_dirs` and their descriptions), implement
    :meth:`_read_rows` (usually with :meth:`_sheet_rows`) and :meth:`_frame_pattern`,
    override :meth:`_clip_folder` when clips are not at ``frames_dir/<subject>/<clip>``
    and :meth:`_locate` when finding the files takes more than the class attributes say.
    """

    name: ClassVar[str] = ""
    fps: float = 0.0
    published: ClassVar[PublishedCounts | None] = None
    #: whether the annotation has an apex column (SMIC has none: its apexes are estimated without a warning)
    has_apex: ClassVar[bool] = True
    #: whether a clip folder holds only that clip (a missing offset may then default to its last frame)
    folder_is_clip: ClassVar[bool] = True
    #: globs (relative to ``root``) of the annotation file; exactly one file must match
    annotation_globs: ClassVar[tuple[str, ...]] = ()
    #: what the annotation file is, for messages (``"the SAMM FACS code sheet (SAMM_Micro_FACS_Codes_v2.xlsx)"``)
    annotation_what: ClassVar[str] = "the annotation file"
    #: folders (relative to ``root``; ``""`` is ``root`` itself) tried in order for the clip folders, or,
    #: for a dataset with several frame layouts, ``{variant: folders}`` (then ``variant`` is an option)
    frame_dirs: ClassVar[tuple[str, ...] | Mapping[str, tuple[str, ...]]] = ()
    #: what the frames folder is, for messages (``"SAMM frames folder (subject folders 006/ ...)"``)
    frames_what: ClassVar[str] = "frames folder"
    #: subject folder names, used to recognise a frames folder when ``variant`` is detected
    subject_pattern: ClassVar[str] = r".+"
    #: the variant chosen when the folders of several are present
    default_variant: ClassVar[str | None] = None
    #: the base option after which a loader's own options are listed (the options before it locate the files)
    _OWN_OPTIONS_AFTER: ClassVar[str] = "frames_dir"
    #: the annotation file (``None`` where the folder tree is the annotation, or it was not found)
    annotation: Path | None
    #: the folder the clip folders are found under (``None`` when not found)
    frames_dir: Path | None

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        variant: str | None = None,
        annotation: str | os.PathLike | None = None,
        frames_dir: str | os.PathLike | None = None,
        apex_policy: str | ApexPolicy = "midpoint",
        corrections: str | os.PathLike | None = "default",
        strict: bool = True,
    ) -> None:
        if variant is not None and not self.has_variants():
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument 'variant' "
                            f"({self.name} has one frame layout)")
        self.root = resolve_root(self.name, root)
        self.apex_policy = apex_policy
        self._apex = get_apex_policy(apex_policy)
        self.corrections = corrections
        self.strict = strict
        self.report = LoadReport(self.name, str(self.root))
        self._setup_problems: list[Problem] = []
        self._listings: dict[tuple[str, str], FrameListing] = {}
        self._locate(variant, annotation, frames_dir)

    @classmethod
    def has_variants(cls) -> bool:
        """Whether the dataset ships several frame layouts (:attr:`frame_dirs` is ``{variant: folders}``)."""
        return isinstance(cls.frame_dirs, Mapping)

    @classmethod
    def option_parameters(cls) -> list[tuple[inspect.Parameter, Any]]:
        """``(parameter, type)`` of each constructor option, as :func:`~merkit.data.registry.loader_options` lists them.

        The base's keywords (``variant`` only where :meth:`has_variants`), with the loader's own
        keywords (those of the ``__init__`` of each class between it and :class:`MEDataset`) after
        ``frames_dir``.
        """
        own: list[tuple[inspect.Parameter, Any]] = []
        for klass in reversed(cls.__mro__[: cls.__mro__.index(MEDataset)]):
            if "__init__" in vars(klass):
                own += [(p, h) for p, h in init_parameters(klass) if p.kind is p.KEYWORD_ONLY]
        out = []
        for param, hint in init_parameters(MEDataset):
            if param.name == "variant" and not cls.has_variants():
                continue
            out.append((param, hint))
            if param.name == cls._OWN_OPTIONS_AFTER:
                out += own
        return out

    def _locate(self, variant: str | None, annotation: str | os.PathLike | None, frames_dir: str | os.PathLike | None) -> None:
        """Set :attr:`annotation`, :attr:`frames_dir` (and :attr:`variant`) from the class attributes and the options."""
        self.annotation = self._find_annotation(annotation, self.annotation_globs, self.annotation_what)
        if self.has_variants():
            self.variant, self.frames_dir = self._find_layout(
                variant, self.frame_dirs, self.subject_pattern, self.frames_what, frames_dir, prefer=self.default_variant
            )
        else:
            self.frames_dir = self._find_dir(self.frame_dirs, self.frames_what, frames_dir)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, apex_policy={self.apex_policy!r}, strict={self.strict})"

    # -- subclass interface -------------------------------------------------------------------

    def _read_rows(self) -> list[dict[str, Any]]:  # pragma: no cover - every subclass overrides
        raise AnnotationError(f"{type(self).__name__} does not define how to read its annotation.")

    def _clip_folder(self, row: Mapping[str, Any]) -> Path:
        """``frames_dir/<subject>/<clip>``, the layout of most datasets; subclasses with another layout override it."""
        folder = self.frames_dir / row["subject"] / row["clip"]
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"{row['where']}: clip folder {str(folder)!r} does not exist; expected the frames of "
                f"{row['subject']}/{row['clip']} ({self._frame_pattern(row)[1]})."
            )
        return folder

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        """``(regex with one number group, human description)`` of this clip's frame names."""
        raise AnnotationError(f"{type(self).__name__} does not define its frame names.")  # pragma: no cover

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> pd.DataFrame:
        """Read the annotation and the frames on disk; return the sample table.

        Returns:
            A DataFrame following :data:`~merkit.data.sample.SAMPLE_TABLE_SCHEMA`, one row
            per micro-expression, ``label`` left ``None`` (apply a label set to fill it).
            ``table.attrs["corrections"]`` lists the correction outcomes as text.

        Raises:
            DatasetNotFoundError: the root, the annotation file or (strict) a clip folder is missing.
            AnnotationError: the annotation has an unknown layout or (strict) a bad row.
        """
        self.report = LoadReport(self.name, str(self.root))
        self.report.problems.extend(self._setup_problems)
        self._listings.clear()  # frames on disk are read afresh by every load
        rows = self._collect(self._read_rows, str(getattr(self, "annotation", None) or self.root), [])
        self.report.n_rows = len(rows)
        self.report.n_subjects = len({r["subject"] for r in rows})
        corrections = self._collect(lambda: load_corrections(self.corrections, self.name), str(self.corrections), [])
        self.report.corrections = self._collect(lambda: apply_corrections(rows, corrections, self.name), str(self.corrections), [])
        for outcome in self.report.corrections:
            if outcome.status == "value_differs":
                self.report.add("warning", outcome.correction.where, outcome.describe())
        samples = []
        for row in self._unique_rows(rows):
            try:
                if getattr(self, "frames_dir", None) is None and not row.get("folder"):
                    self._check_cells(row)  # frames folder missing (reported once): still check every cell
                    continue
                samples.append(self._build_sample(row))
            except MerkitError as exc:
                message = str(exc) if row["where"] in str(exc) else f"{row['where']}: {exc}"
                self.report.add("error", row["where"], message, type(exc))
        errors = self.report.errors
        if self.strict and errors:
            listed = "\n".join(f"  - {p.message}" for p in errors[:20])
            more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
            raise errors[0].kind(
                f"{len(errors)} problem(s) loading {self.name!r} from {str(self.root)!r}:\n{listed}{more}\n"
                f"Fix the copy, pass strict=False to skip these rows, or run `merkit datasets check` to list everything."
            )
        table = samples_to_table(samples)
        table.attrs["corrections"] = [o.describe() for o in self.report.corrections]
        self.report.n_samples = len(table)
        logger.info("%s: %d samples from %d annotation rows in %s", self.name, len(table), len(rows), self.root)
        return table

    def _collect(self, step: Callable[[], Any], where: str, fallback: Any) -> Any:
        """``step()``; inside :func:`collect_setup_problems` a missing or unreadable file is recorded and ``fallback`` returned."""
        if not is_collecting():
            return step()
        try:
            return step()
        except (DatasetNotFoundError, AnnotationError) as exc:
            self.report.add("error", where, str(exc), type(exc))
            return fallback

    def _check_cells(self, row: Mapping[str, Any]) -> None:
        """The checks of :meth:`_build_sample` that need no frames: frame numbers parse, onset <= offset."""
        where = row["where"]
        onset = cell_to_int(row["onset"], where, column_header(row, "onset"))
        offset = cell_to_int(row["offset"], where, column_header(row, "offset"), allow_missing=True)
        cell_to_int(row.get("apex"), where, column_header(row, "apex"), allow_missing=True)
        if offset and onset > offset:
            raise AnnotationError(f"{where}: onset {onset} is after offset {offset}; expected onset <= offset.")

    def _unique_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` without repeats of a ``(subject, clip)``; each repeat is an error naming both rows."""
        first: dict[tuple[str, str], str] = {}
        out = []
        for row in rows:
            key = (row["subject"], row["clip"])
            if key in first:
                self.report.add("error", row["where"], (
                    f"{row['where']}: sample {row['subject']}/{row['clip']} repeats {first[key]}; expected each "
                    f"(subject, clip) once (row skipped)."))
                continue
            first[key] = row["where"]
            out.append(row)
        return out

    def _bases(self) -> tuple[Path, ...]:
        """Folders a clip folder or frame may resolve into: the root, and ``frames_dir`` when given outside it."""
        frames_dir = getattr(self, "frames_dir", None)
        return (self.root,) + ((frames_dir,) if frames_dir is not None else ())

    def _listing(self, folder: Path, row: Mapping[str, Any]) -> FrameListing:
        pattern, describe = self._frame_pattern(row)
        key = (str(folder), pattern)
        if key not in self._listings:
            where = row.get("where", str(folder))
            ensure_inside(folder, self._bases(), where, "clip folder")
            self._listings[key] = list_frames(folder, pattern, describe, inside=self._bases(), where=where)
        return self._listings[key]

    def _build_sample(self, row: dict[str, Any]) -> Sample:
        where = row["where"]
        subject, clip = row["subject"], row["clip"]
        key = sample_key(self.name, subject, clip)
        flags = set(row.get("flags", ()))
        if row.get("corrected"):
            flags.add("corrected")
        folder = row.get("folder") or self._clip_folder(row)
        listing = self._listing(folder, row)
        numbers = listing.numbers
        onset = cell_to_int(row["onset"], where, column_header(row, "onset"))
        offset = cell_to_int(row["offset"], where, column_header(row, "offset"), allow_missing=True)
        if offset == 0 or offset is None:
            if not self.folder_is_clip:
                raise AnnotationError(f"{where} ({key}): no offset frame (got {row['offset']!r}); expected a frame number.")
            offset = numbers[-1]
            flags.add("offset_estimated")
        if onset > offset:
            raise AnnotationError(f"{where} ({key}): onset {onset} is after offset {offset}; expected onset <= offset.")
        onset, offset = self._clamp(onset, offset, listing, flags, where, key)
        span_numbers, span_paths = listing.span(onset, offset)
        if len(span_numbers) < offset - onset + 1:
            flags.add("missing_frames")
        apex = self._apex_for(row, onset, offset, span_numbers, span_paths, flags, key)
        sample = Sample(
            dataset=self.name,
            subject=subject,
            clip=clip,
            frame_paths=span_paths,
            frame_numbers=span_numbers,
            onset=onset,
            apex=apex,
            offset=offset,
            fps=float(self.fps),
            emotion=cell_to_text(row.get("emotion")),
            action_units=cell_to_text(row.get("action_units")),
            flags=frozenset(flags),
        )
        if self.has_apex and "apex_estimated" in flags and "apex_out_of_range" not in flags:
            self.report.add("warning", where, f"{where} ({key}): no usable apex (got {row.get('apex')!r}); apex policy {self.apex_policy!r} chose {apex}.")
        for flag in _REPORTED_FLAGS:
            if flag in flags:
                self.report.add("warning", where, f"{where} ({key}): {flag.replace('_', ' ')} (onset {onset}, apex {apex}, offset {offset}; folder {str(folder)!r}).")
        return sample

    def _clamp(self, onset: int, offset: int, listing: FrameListing, flags: set, where: str, key: str) -> tuple[int, int]:
        numbers = listing.numbers
        inside = [n for n in numbers if onset <= n <= offset]
        if not inside:
            raise AnnotationError(
                f"{where} ({key}): no frame on disk in [onset {onset}, offset {offset}]; folder "
                f"{str(listing.folder)!r} holds frames {numbers[0]}..{numbers[-1]}."
            )
        if onset not in numbers:
            flags.add("onset_clamped" if onset < numbers[0] else "missing_frames")
            onset = inside[0]
        if offset not in numbers:
            flags.add("offset_clamped" if offset > numbers[-1] else "missing_frames")
            offset = inside[-1]
        return onset, offset

    def _apex_for(
        self,
        row: Mapping[str, Any],
        onset: int,
        offset: int,
        numbers: tuple[int, ...],
        paths: tuple[str, ...],
        flags: set,
        key: str,
    ) -> int:
        where = row["where"]
        apex = cell_to_int(row.get("apex"), where, column_header(row, "apex"), allow_missing=True)
        if apex == 0:
            apex = None  # CAS(ME)^3 and SAMM-LV write 0 for "no apex"
        if apex is not None and not onset <= apex <= offset:
            flags.add("apex_out_of_range")
            apex = None
        elif apex is not None and apex not in numbers:
            flags.add("missing_frames")
            apex = None
        if apex is not None:
            return apex
        flags.add("apex_estimated")
        context = ApexContext(key, onset, offset, numbers, paths, float(self.fps))
        try:
            estimate = self._apex(context)
        except MerkitError as exc:
            raise type(exc)(f"{where} ({key}): apex policy {self.apex_policy!r} failed: {exc}") from exc
        except Exception as exc:  # a user's callable: any failure becomes an error naming the row
            raise AnnotationError(
                f"{where} ({key}): apex policy {self.apex_policy!r} raised {type(exc).__name__}: {exc}; expected a frame "
                f"number from context.frame_numbers."
            ) from exc
        if isinstance(estimate, bool) or estimate not in numbers:
            raise AnnotationError(
                f"{where} ({key}): apex policy {self.apex_policy!r} returned {estimate!r}, which is not a frame on "
                f"disk in [onset {onset}, offset {offset}]."
            )
        return int(estimate)

    # -- helpers for subclasses ---------------------------------------------------------------

    def _sheet_rows(
        self,
        columns: Sequence[ColumnSpec],
        subject: Callable[[Any, str], str],
        *,
        sheet: str | None = None,
        missing: str = "no Filename",
        missing_severity: str = "warning",
    ) -> list[dict[str, Any]]:
        """Standard rows of :attr:`annotation`: one dict per sheet row with a clip and a subject.

        Args:
            columns: the sheet's column specs (fields ``subject`` and ``clip`` included).
            subject: ``normalise(cell, where) -> folder name`` of the subject cell; an
                :class:`AnnotationError` it raises is recorded as an error and the row skipped,
                an empty name skips the row like an empty ``Filename``.
            sheet: preferred sheet name.
            missing: what a row without a clip (or subject) lacks, for the report.
            missing_severity: ``"warning"`` (such rows are routine) or ``"error"``.

        Returns:
            The rows' raw cells by field, with ``subject`` normalised, ``clip`` as text and ``where`` set.
        """
        if self.annotation is None:
            return []  # not found: already reported by collect_setup_problems
        rows, headers = read_annotation(self.annotation, columns, sheet=sheet)
        out = []
        for row in rows:
            values = dict(row.values)
            clip = cell_to_text(values["clip"])
            try:
                name = subject(values["subject"], row.where) if clip else ""
                if name:
                    check_name(name, row.where, headers.get("subject", "subject"))
                    check_name(clip, row.where, headers.get("clip", "clip"))
            except AnnotationError as exc:
                self.report.add("error", row.where, str(exc))
                continue
            if not name:
                self.report.add(missing_severity, row.where, f"{row.where}: {missing}; row skipped.")
                continue
            values.update(subject=name, clip=clip, where=row.where, columns=headers)
            out.append(values)
        return out


def column_header(row: Mapping[str, Any], field: str) -> str:
    """The header of ``field``'s column as written in the file (``'OnsetFrame'``), or the field name."""
    return row.get("columns", {}).get(field) or field
