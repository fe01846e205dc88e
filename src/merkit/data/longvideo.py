"""Long-video (spotting) records, the shared loader machinery and its registry.

A *long video* is a whole recording of one subject watching one stimulus, with
zero or more annotated expression intervals (``docs/spotting.md``). Frame
numbers in :class:`ExpressionInterval` are the dataset's own (the numbers in
the frame file names, as in the annotation sheet); ``frame_numbers[i]`` is the
number of ``frame_paths[i]``.

Loaders (:mod:`merkit.data.long_datasets`) register under a name with
:func:`register_long_dataset` when imported; this module imports none of them
(:mod:`merkit.data`, the package, imports the built-in ones). :func:`load_long_videos` and
:func:`check_long_dataset` (``merkit datasets check``) use it. Long-video
datasets have their own registry because their unit is a video with
intervals, not a micro-expression clip of the sample table.
"""

from __future__ import annotations

import abc
import bisect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from merkit._options import unknown_name
from merkit.data._reports import Problem, ProblemList
from merkit.data.frames import ImageFiles, VideoFile
from merkit.data.paths import resolve_root
from merkit.errors import AnnotationError, ConfigError, FrameReadError, MerkitError

__all__ = ["ExpressionInterval", "LongVideo", "LongVideoDataset", "LongCheckReport", "EXPRESSION_KINDS",
           "register_long_dataset", "list_long_datasets", "load_long_videos", "check_long_dataset"]

#: Interval types: micro-expression and macro-expression.
EXPRESSION_KINDS = ("micro", "macro")

T = TypeVar("T")
_REGISTRY: dict[str, Any] = {}


@dataclass(frozen=True)
class ExpressionInterval:
    """One annotated expression in a long video (frame numbers inclusive).

    Attributes:
        onset, apex, offset: frame numbers, ``onset <= apex <= offset``.
        kind: ``'micro'`` or ``'macro'``.
        label: the sheet's emotion word ('' when the sheet has none).
        action_units: FACS string as written ('' when none).
        where: annotation file and row it comes from.
    """

    onset: int
    apex: int
    offset: int
    kind: str
    label: str = ""
    action_units: str = ""
    where: str = ""

    @property
    def n_frames(self) -> int:
        return self.offset - self.onset + 1


@dataclass(frozen=True)
class LongVideo:
    """One long video and its ground-truth intervals.

    Attributes:
        dataset: registered long-video dataset name (``casme_sq``, ``samm_lv``, ``casme3_long``).
        subject: subject as on disk (``s15``, ``006``, ``spNO.1``).
        video: video id as on disk (``15_0101disgustingteeth``, ``006_1``, ``a``).
        fps: frames per second.
        frame_paths: frame files in frame-number order (empty when ``video_file`` is set).
        frame_numbers: the number of each frame file, strictly increasing.
        video_file: a video container instead of frame files, or None.
        intervals: ground truth, sorted by onset.
    """

    dataset: str
    subject: str
    video: str
    fps: float
    frame_paths: tuple[str, ...]
    frame_numbers: tuple[int, ...]
    video_file: str | None = None
    intervals: tuple[ExpressionInterval, ...] = ()

    @property
    def video_key(self) -> str:
        """``'<dataset>/<subject>/<video>'``."""
        return f"{self.dataset}/{self.subject}/{self.video}"

    @property
    def subject_key(self) -> str:
        """``'<dataset>/<subject>'`` (the leave-one-subject-out group)."""
        return f"{self.dataset}/{self.subject}"

    @property
    def n_frames(self) -> int:
        return len(self.frame_numbers)

    def frame_index(self, number: int) -> int:
        """0-based position of frame ``number`` (the nearest frame at or after it when missing)."""
        return min(bisect.bisect_left(self.frame_numbers, number), self.n_frames - 1)


@dataclass
class LongCheckReport(ProblemList):
    """Result of loading or checking a long-video dataset.

    Attributes:
        dataset: registered name.
        root: the dataset folder.
        problems: every problem found, in discovery order.
        n_videos: videos loaded.
        n_intervals: intervals loaded, per kind.
        n_decoded: frame files decoded by the check.
    """

    dataset: str
    root: str
    problems: list[Problem] = field(default_factory=list)
    n_videos: int = 0
    n_intervals: dict[str, int] = field(default_factory=dict)
    n_decoded: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


class LongVideoDataset(abc.ABC):
    """Base of the long-video loaders: subclasses implement :meth:`_read`.

    Args:
        root: dataset folder (``None``: ``MERKIT_<NAME>_ROOT`` / ``MERKIT_DATA_ROOT``).
        annotation: annotation file, when not at its usual place inside ``root``.
        fps: frame rate to report (default: the dataset's published rate).
        strict: raise on the first bad row (True) or skip it and record it in :attr:`report`.
    """

    name: str = ""
    default_fps: float = 0.0

    def __init__(self, root: str | os.PathLike | None = None, *, annotation: str | os.PathLike | None = None,
                 fps: float | None = None, strict: bool = True) -> None:
        self.root = resolve_root(self.name, root)
        self.annotation = Path(annotation) if annotation is not None else None
        if fps is not None and not fps > 0:
            raise ConfigError(f"fps must be positive; got {fps!r}.")
        self.fps = float(fps) if fps is not None else self.default_fps
        self.strict = strict
        self.report = LongCheckReport(self.name, str(self.root))

    @abc.abstractmethod
    def _read(self) -> list[LongVideo]:
        """The dataset's videos with their intervals (its layout and annotation sheet)."""

    def problem(self, where: str, message: str, kind: type[MerkitError] = AnnotationError,
                severity: str = "error") -> None:
        """Record a problem; in strict mode an error is raised at once."""
        if severity == "error" and self.strict:
            raise kind(message)
        self.report.problems.append(Problem(severity, where, message, kind))

    def interval(self, where: str, onset: int | None, apex: int | None, offset: int | None, kind: str,
                 label: str, action_units: str, numbers: tuple[int, ...]) -> ExpressionInterval | None:
        """Validate one annotated interval against the rules and the frames on disk.

        Rules: offset 0 or missing means "no offset" and the apex is used (CAS(ME)^3 rows);
        a missing apex or one outside [onset, offset] is replaced by the midpoint (warning);
        onset > offset and frames outside the video are errors.
        """
        if onset is None:
            self.problem(where, f"{where}: the onset is missing; expected a frame number.")
            return None
        if not offset:
            if not apex:
                self.problem(where, f"{where}: both offset and apex are missing or 0; expected at least one of them.")
                return None
            self.problem(where, f"{where}: offset is missing or 0; the apex {apex} is used as offset.",
                         severity="warning")
            offset = apex
        if onset > offset:
            self.problem(where, f"{where}: onset {onset} is after offset {offset}; expected onset <= offset.")
            return None
        if apex is None or not onset <= apex <= offset:
            mid = (onset + offset) // 2
            self.problem(where, f"{where}: apex {apex!r} is missing or outside [{onset}, {offset}]; the midpoint "
                                f"{mid} is used.", severity="warning")
            apex = mid
        if numbers and (onset < numbers[0] or offset > numbers[-1]):
            self.problem(where, f"{where}: interval [{onset}, {offset}] lies outside the frames on disk "
                                f"({numbers[0]}..{numbers[-1]}).")
            return None
        return ExpressionInterval(onset, apex, offset, kind, label, action_units, where)

    def load(self) -> list[LongVideo]:
        """Read the annotation and the frame folders; returns the videos sorted by key."""
        videos = sorted(self._read(), key=lambda v: v.video_key)
        self.report.n_videos = len(videos)
        counts = {k: 0 for k in ("micro", "macro")}
        for v in videos:
            for i in v.intervals:
                counts[i.kind] = counts.get(i.kind, 0) + 1
        self.report.n_intervals = counts
        return videos


def register_long_dataset(name: str) -> Callable[[T], T]:
    """Class decorator registering a long-video loader under ``name``; a duplicate name is an error."""

    def decorate(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ConfigError(f"long-video dataset {name!r} is already registered; choose another name.")
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_long_datasets() -> list[str]:
    """Registered long-video dataset names (``casme3_long``, ``casme_sq``, ``samm_lv``)."""
    return sorted(_REGISTRY)


def get_long_dataset_class(name: str) -> Any:
    """The loader class registered as ``name``."""
    if name not in _REGISTRY:
        raise unknown_name("long-video dataset", name, _REGISTRY, hint="See merkit.data.list_long_datasets().")
    return _REGISTRY[name]


def load_long_videos(name: str, root: str | os.PathLike | None = None, **options: Any) -> list[LongVideo]:
    """Load the long videos of dataset ``name`` (options: ``annotation``, ``fps``, ``strict``)."""
    return get_long_dataset_class(name)(root, **options).load()


def check_long_dataset(name: str, root: str | os.PathLike | None = None, *, decode: str = "keyframes",
                       **options: Any) -> LongCheckReport:
    """Load leniently and decode frames (``keyframes``: first, last and each interval's onset/apex/offset).

    Returns:
        The report; ``report.ok`` is False when any error was found.
    """
    if decode not in ("none", "keyframes", "all"):
        raise ConfigError(f"decode must be one of ['none', 'keyframes', 'all']; got {decode!r}.")
    options["strict"] = False
    loader = get_long_dataset_class(name)(root, **options)
    videos = loader.load()
    report = loader.report
    if decode == "none":
        return report
    for v in videos:
        if not v.frame_paths and v.video_file is None:
            continue
        if decode == "all":
            positions = range(v.n_frames)
        else:
            keys = {v.frame_numbers[0], v.frame_numbers[-1]}
            keys |= {n for i in v.intervals for n in (i.onset, i.apex, i.offset)}
            positions = sorted({v.frame_index(n) for n in keys})
        frames = ImageFiles(v.frame_paths, name=v.video_key) if v.frame_paths else VideoFile(v.video_file)
        for i in positions:
            try:
                frames[i]
                report.n_decoded += 1
            except FrameReadError as exc:
                where = v.frame_paths[i] if v.frame_paths else f"{v.video_file} frame {i}"
                report.problems.append(Problem("error", where, str(exc), FrameReadError))
    return report
