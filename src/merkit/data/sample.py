"""Core records: one micro-expression :class:`Sample` and the sample table.

A *sample* is one annotated micro-expression clip. Frame positions are kept
in two vocabularies that are never mixed up:

* ``onset`` / ``apex`` / ``offset`` are the dataset's own frame numbers, as
  written in its annotation file (CASME II ``img46.jpg`` is frame 46);
* ``onset_index`` / ``apex_index`` / ``offset_index`` are 0-based positions
  into :attr:`Sample.frame_paths`, the ordered list of frames on disk.

Subjects are keyed uniquely across datasets as ``"<dataset>/<subject>"``
(``casme2/sub01``, ``smic/s1``, ``samm/006``); a sample is keyed as
``"<dataset>/<subject>/<clip>"``.

The sample table is a :class:`pandas.DataFrame` with one row per sample and
the columns of :data:`SAMPLE_TABLE_SCHEMA` (documented in
``docs/sample-table.md``). Build it with :func:`samples_to_table`, check it
with :func:`validate_sample_table`, and turn rows back into samples with
:func:`table_to_samples`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from merkit.errors import AnnotationError

__all__ = [
    "Sample",
    "SAMPLE_TABLE_SCHEMA",
    "KNOWN_FLAGS",
    "subject_key",
    "sample_key",
    "samples_to_table",
    "table_to_samples",
    "validate_sample_table",
]

#: Flags a sample may carry, with their meaning.
KNOWN_FLAGS: dict[str, str] = {
    "apex_estimated": "the annotation gives no usable apex; apex was filled by the apex policy",
    "apex_out_of_range": "the annotated apex lay outside [onset, offset] and was replaced by the apex policy",
    "missing_frames": "frame numbers between onset and offset are missing on disk",
    "corrected": "a documented correction from the dataset's corrections table was applied",
    "label_from_folder": "the emotion was taken from the folder name (no annotation file)",
    "onset_clamped": "the annotated onset precedes the first frame on disk; the first frame was used",
    "offset_clamped": "the annotated offset follows the last frame on disk; the last frame was used",
    "offset_estimated": "the annotation gives no offset; the last frame on disk was used",
}

#: Column name -> (pandas dtype or python type, description). Order is the column order.
SAMPLE_TABLE_SCHEMA: dict[str, tuple[str, str]] = {
    "sample_key": ("string", "unique key '<dataset>/<subject>/<clip>'"),
    "subject_key": ("string", "subject key unique across datasets, '<dataset>/<subject>'"),
    "dataset": ("string", "registered dataset name, e.g. 'casme2', 'samm', 'smic_hs'"),
    "subject": ("string", "subject id as the dataset's folders spell it, e.g. 'sub01', '006', 's1'"),
    "clip": ("string", "clip id, e.g. 'EP02_01f', '006_1_2', 's1_ne_01'"),
    "frame_paths": ("object", "tuple of absolute frame file paths, ordered by frame number"),
    "frame_numbers": ("object", "tuple of the dataset's frame numbers, parallel to frame_paths"),
    "n_frames": ("int64", "len(frame_paths)"),
    "onset": ("int64", "onset as the dataset's frame number"),
    "apex": ("int64", "apex as the dataset's frame number (see flags for estimated apexes)"),
    "offset": ("int64", "offset as the dataset's frame number"),
    "onset_index": ("int64", "0-based position of the onset frame in frame_paths"),
    "apex_index": ("int64", "0-based position of the apex frame in frame_paths"),
    "offset_index": ("int64", "0-based position of the offset frame in frame_paths"),
    "fps": ("float64", "frames per second of the recording"),
    "emotion": ("string", "emotion string exactly as the dataset writes it"),
    "action_units": ("string", "action units exactly as the dataset writes them ('' if none)"),
    "label": ("object", "protocol class name (e.g. 'negative') or None before a label map is applied"),
    "flags": ("object", "tuple of flag names from KNOWN_FLAGS, sorted"),
}


def subject_key(dataset: str, subject: str) -> str:
    """Return the cross-dataset subject key, e.g. ``subject_key('casme2', 'sub01') == 'casme2/sub01'``."""
    return f"{dataset}/{subject}"


def sample_key(dataset: str, subject: str, clip: str) -> str:
    """Return the unique sample key ``'<dataset>/<subject>/<clip>'``."""
    return f"{dataset}/{subject}/{clip}"


@dataclass(frozen=True)
class Sample:
    """One annotated micro-expression clip.

    Args:
        dataset: registered dataset name (``casme2``, ``samm``, ``smic_hs``, ...).
        subject: subject id as spelled on disk (``sub01``, ``006``, ``s1``).
        clip: clip id (``EP02_01f``).
        frame_paths: frame files ordered by frame number.
        frame_numbers: the dataset's frame number of each path (same length).
        onset, apex, offset: dataset frame numbers; each must be in ``frame_numbers``.
        fps: recording frame rate in frames per second.
        emotion: emotion string as written by the dataset.
        action_units: action-unit string as written by the dataset.
        label: protocol class name, or ``None`` until a label map is applied.
        flags: names from :data:`KNOWN_FLAGS`.

    Raises:
        AnnotationError: if the frame lists disagree, a key frame is not on
            disk, or ``onset <= apex <= offset`` does not hold. The message
            names the sample key.
    """

    dataset: str
    subject: str
    clip: str
    frame_paths: tuple[str, ...]
    frame_numbers: tuple[int, ...]
    onset: int
    apex: int
    offset: int
    fps: float
    emotion: str = ""
    action_units: str = ""
    label: str | None = None
    flags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        key = self.key
        object.__setattr__(self, "frame_paths", tuple(str(p) for p in self.frame_paths))
        object.__setattr__(self, "frame_numbers", tuple(int(n) for n in self.frame_numbers))
        object.__setattr__(self, "flags", frozenset(self.flags))
        for name in ("dataset", "subject", "clip"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or "/" in value:
                raise AnnotationError(
                    f"sample {key!r}: {name} must be a non-empty string without '/'; got {value!r}."
                )
        if len(self.frame_paths) != len(self.frame_numbers):
            raise AnnotationError(
                f"sample {key!r}: {len(self.frame_paths)} frame paths but "
                f"{len(self.frame_numbers)} frame numbers; they must be parallel lists."
            )
        if not self.frame_paths:
            raise AnnotationError(f"sample {key!r}: no frames; expected at least one frame file.")
        if list(self.frame_numbers) != sorted(set(self.frame_numbers)):
            raise AnnotationError(
                f"sample {key!r}: frame numbers must be strictly increasing (ordered by number, "
                f"not by text); got {list(self.frame_numbers)[:8]}..."
            )
        for name in ("onset", "apex", "offset"):
            number = getattr(self, name)
            if number not in self._position:
                raise AnnotationError(
                    f"sample {key!r}: {name} frame {number} is not among the frames on disk "
                    f"({self.frame_numbers[0]}..{self.frame_numbers[-1]}, {len(self.frame_numbers)} files)."
                )
        if not self.onset <= self.apex <= self.offset:
            raise AnnotationError(
                f"sample {key!r}: expected onset <= apex <= offset; got "
                f"onset={self.onset}, apex={self.apex}, offset={self.offset}."
            )
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise AnnotationError(f"sample {key!r}: fps must be a positive number; got {self.fps!r}.")
        unknown = sorted(set(self.flags) - set(KNOWN_FLAGS))
        if unknown:
            raise AnnotationError(
                f"sample {key!r}: unknown flags {unknown!r}; known flags: {sorted(KNOWN_FLAGS)!r}."
            )

    @property
    def _position(self) -> dict[int, int]:
        return {n: i for i, n in enumerate(self.frame_numbers)}

    @property
    def key(self) -> str:
        """Unique sample key ``'<dataset>/<subject>/<clip>'``."""
        return sample_key(self.dataset, self.subject, self.clip)

    @property
    def subject_key(self) -> str:
        """Cross-dataset subject key ``'<dataset>/<subject>'``."""
        return subject_key(self.dataset, self.subject)

    @property
    def n_frames(self) -> int:
        return len(self.frame_paths)

    @property
    def onset_index(self) -> int:
        return self._position[self.onset]

    @property
    def apex_index(self) -> int:
        return self._position[self.apex]

    @property
    def offset_index(self) -> int:
        return self._position[self.offset]

    def to_row(self) -> dict[str, Any]:
        """Return this sample as a dict with the columns of :data:`SAMPLE_TABLE_SCHEMA`."""
        return {
            "sample_key": self.key,
            "subject_key": self.subject_key,
            "dataset": self.dataset,
            "subject": self.subject,
            "clip": self.clip,
            "frame_paths": self.frame_paths,
            "frame_numbers": self.frame_numbers,
            "n_frames": self.n_frames,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "onset_index": self.onset_index,
            "apex_index": self.apex_index,
            "offset_index": self.offset_index,
            "fps": float(self.fps),
            "emotion": self.emotion,
            "action_units": self.action_units,
            "label": self.label,
            "flags": tuple(sorted(self.flags)),
        }


_SAMPLE_FIELDS = {f.name for f in fields(Sample)}


def samples_to_table(samples: Iterable[Sample]) -> pd.DataFrame:
    """Build the sample table (one row per sample, schema :data:`SAMPLE_TABLE_SCHEMA`).

    Raises:
        AnnotationError: if two samples share a sample key.
    """
    rows = [s.to_row() for s in samples]
    table = pd.DataFrame(rows, columns=list(SAMPLE_TABLE_SCHEMA))
    table = _apply_dtypes(table)
    validate_sample_table(table)
    return table


def table_to_samples(table: pd.DataFrame) -> list[Sample]:
    """Turn sample-table rows back into :class:`Sample` records (derived columns are re-checked)."""
    validate_sample_table(table)
    samples = []
    for row in table.to_dict("records"):
        kwargs = {k: v for k, v in row.items() if k in _SAMPLE_FIELDS}
        kwargs["label"] = None if _is_missing(kwargs.get("label")) else kwargs["label"]
        samples.append(Sample(**kwargs))
    return samples


def validate_sample_table(table: pd.DataFrame, required_columns: Sequence[str] | None = None) -> None:
    """Check that ``table`` follows the sample-table schema.

    Args:
        table: a DataFrame as built by :func:`samples_to_table` (extra columns are allowed).
        required_columns: columns that must be present; defaults to all schema columns.

    Raises:
        AnnotationError: naming the missing column, the duplicated sample key,
            or the row whose indices disagree with its frame numbers.
    """
    if not isinstance(table, pd.DataFrame):
        raise AnnotationError(f"expected a pandas DataFrame sample table; got {type(table).__name__}.")
    required = list(SAMPLE_TABLE_SCHEMA) if required_columns is None else list(required_columns)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise AnnotationError(
            f"sample table lacks columns {missing!r}; expected the columns of SAMPLE_TABLE_SCHEMA "
            f"(build the table with merkit.data.samples_to_table)."
        )
    if "sample_key" in table.columns:
        dup = table["sample_key"][table["sample_key"].duplicated()].tolist()
        if dup:
            raise AnnotationError(f"sample table has duplicated sample keys {dup[:5]!r}; each clip must appear once.")
    if {"sample_key", "subject_key", "dataset", "subject"} <= set(table.columns):
        expected = table["dataset"].astype(str) + "/" + table["subject"].astype(str)
        bad = table.loc[expected != table["subject_key"].astype(str), "sample_key"].tolist()
        if bad:
            raise AnnotationError(
                f"sample table rows {bad[:5]!r}: subject_key must equal '<dataset>/<subject>'."
            )
    if {"frame_numbers", "onset", "onset_index", "apex", "apex_index", "offset", "offset_index"} <= set(table.columns):
        for row in table.itertuples(index=False):
            numbers = row.frame_numbers
            for name in ("onset", "apex", "offset"):
                index = getattr(row, f"{name}_index")
                number = getattr(row, name)
                if not 0 <= index < len(numbers) or numbers[index] != number:
                    raise AnnotationError(
                        f"sample {row.sample_key!r}: {name}_index {index} does not point at frame {number}."
                    )


def _apply_dtypes(table: pd.DataFrame) -> pd.DataFrame:
    for column, (dtype, _) in SAMPLE_TABLE_SCHEMA.items():
        if dtype != "object":
            table[column] = table[column].astype(dtype)
    return table


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
