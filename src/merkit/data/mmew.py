"""MMEW (Ben et al., IEEE TPAMI 2021): 300 micro-expressions of 36 subjects (90 fps per public code, UNVERIFIED).

Folder tree (docs/datasets.md, "MMEW")::

    root/
      MMEW_Micro_Exp.xlsx                   # or MMEW*.xlsx, or annotation=PATH
      Micro_Expression/
        happiness/S01-01-001/1.jpg ...      # <emotion folder>/<Filename>/<n>.jpg, frames from 1
        repression/S02-06-001/1.jpg ...     # the sheet says 'others' for these clips

**Folder/label mismatch**: the sheet's ``others`` clips live in the
``repression`` folder (:data:`FOLDER_OF_EMOTION`). A clip is looked up under
its emotion's folder, then under every emotion folder by its (unique)
``Filename``; a clip found under another folder than its sheet emotion says
is loaded with the sheet's emotion and reported as a warning. ``emotion``
keeps the sheet's text. ``Subject`` (an int) becomes ``S01``, the spelling of
the file names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from merkit.data._base import MEDataset, column_header
from merkit.data._reports import PublishedCounts
from merkit.data._excel import ColumnSpec, cell_to_text
from merkit.data._frames import IMAGE_SUFFIX, check_name, find_child
from merkit.data.registry import register_dataset
from merkit.errors import AnnotationError, DatasetNotFoundError

__all__ = ["MMEW", "MMEW_COLUMNS", "FOLDER_OF_EMOTION"]

MMEW_COLUMNS = (
    ColumnSpec("subject", ("Subject",)),
    ColumnSpec("clip", ("Filename",)),
    ColumnSpec("onset", ("OnsetFrame", "Onset Frame")),
    ColumnSpec("apex", ("ApexFrame", "Apex Frame")),
    ColumnSpec("offset", ("OffsetFrame", "Offset Frame")),
    ColumnSpec("action_units", ("Action Units", "AU", "AUs"), required=False),
    ColumnSpec("emotion", ("Estimated Emotion", "Emotion")),
)

#: Sheet emotion -> folder name, where they differ (meb replaces 'others' by 'repression' for paths).
FOLDER_OF_EMOTION: dict[str, str] = {"others": "repression"}


def mmew_subject(value: Any, where: str) -> str:
    """Folder-name spelling of an MMEW subject cell: ``1``, ``"01"`` or ``"S01"`` -> ``"S01"``."""
    match = re.fullmatch(r"S?0*(\d+)", cell_to_text(value), re.IGNORECASE)
    if not match:
        raise AnnotationError(f"{where}: expected a Subject number like 1 or 'S01'; got {value!r}.")
    return f"S{int(match.group(1)):02d}"


@register_dataset("mmew")
class MMEW(MEDataset):
    """MMEW micro-expression loader.

    Args:
        root: dataset folder (tree in the module docstring).
        annotation: the ``MMEW_Micro_Exp.xlsx`` sheet; default: the one ``MMEW*.xlsx`` in ``root``.
        frames_dir: the folder of emotion folders when not ``root/Micro_Expression``.
        apex_policy, corrections, strict: see :class:`~merkit.data._base.MEDataset`.
    """

    name: ClassVar[str] = "mmew"
    fps = 90.0
    published = PublishedCounts(300, 36, 'official MMEW page (docs/datasets.md, "MMEW")')
    annotation_globs = ("MMEW*.xlsx",)
    annotation_what = "the MMEW annotation sheet (MMEW_Micro_Exp.xlsx)"
    frame_dirs = ("Micro_Expression", "MMEW/Micro_Expression")
    frames_what = "MMEW Micro_Expression folder"

    def _read_rows(self) -> list[dict[str, Any]]:
        return self._sheet_rows(
            MMEW_COLUMNS, mmew_subject, missing="expected a Filename like 'S01-01-001', found none", missing_severity="error"
        )

    def _clip_folder(self, row: Mapping[str, Any]) -> Path:
        emotion = cell_to_text(row.get("emotion")).casefold()
        expected = check_name(FOLDER_OF_EMOTION.get(emotion, emotion), row["where"], column_header(row, "emotion"))
        emotion_dir = find_child(self.frames_dir, expected)
        folder = find_child(emotion_dir, row["clip"]) if emotion_dir is not None else None
        if folder is not None and folder.is_dir():
            return folder
        found = [p for p in (find_child(d, row["clip"]) for d in self.frames_dir.iterdir() if d.is_dir()) if p is not None and p.is_dir()]
        if len(found) == 1:
            self.report.add(
                "warning", row["where"],
                f"{row['where']}: clip {row['clip']!r} (emotion {emotion!r}) is in folder {found[0].parent.name!r}, "
                f"not {expected!r}; loaded with the sheet's emotion.",
            )
            return found[0]
        raise DatasetNotFoundError(
            f"{row['where']}: clip folder {str(self.frames_dir / expected / row['clip'])!r} does not exist"
            + (f" (and {len(found)} folders named {row['clip']!r} elsewhere)" if found else "")
            + "; expected the frames <n>.jpg of that clip."
        )

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return r"(\d+)" + IMAGE_SUFFIX, "<n>.jpg"
