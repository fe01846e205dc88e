"""CAS(ME)^3 Part A (Li et al., IEEE TPAMI 2022): 860 micro-expressions of 94 subjects at 30 fps.

Folder tree (docs/datasets.md, "CAS(ME)^3"; official repo jingtingEmmaLi/CAS-ME-3)::

    root/
      cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx   # sheet 'label' (also found under annotation/partA/)
      part_A/                                     # or root itself
        spNO.1/a/color/1.jpg ...                  # one folder per video letter a..m, unpadded frame numbers
        spNO.1/a/depth/1.png ...                  # depth maps: not read

A video folder holds the whole recording, and one video can hold several
micro-expressions: the first keeps the video letter as its clip id, later
ones get ``<letter>_me2``, ``<letter>_me3`` (sheet order). ``Filename`` is
lower-cased (one row writes ``J`` for folder ``j``; reported as a warning)
and folders are matched case-insensitively. Apex 0 means no apex (apex
policy). Named choice, **offset 0** (spNO.40/e twice): the offset is set to
the apex (the rule of public spotting code) and flagged ``offset_estimated``;
with apex 0 too the row is an error. The packaged correction table
(``corrections/casme3_a.csv``) fixes the rows meb patches, with meb's values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from merkit.data._base import MEDataset
from merkit.data._reports import PublishedCounts
from merkit.data._excel import ColumnSpec, cell_to_text
from merkit.data._frames import IMAGE_SUFFIX, find_child
from merkit.data.registry import register_dataset
from merkit.errors import DatasetNotFoundError

__all__ = ["CASME3A", "CASME3A_COLUMNS"]

CASME3A_COLUMNS = (
    ColumnSpec("subject", ("Subject",)),
    ColumnSpec("clip", ("Filename",)),
    ColumnSpec("onset", ("Onset", "OnsetFrame")),
    ColumnSpec("apex", ("Apex", "ApexFrame")),
    ColumnSpec("offset", ("Offset", "OffsetFrame")),
    ColumnSpec("action_units", ("AU", "AUs", "Action Units"), required=False),
    ColumnSpec("emotion", ("emotion", "Estimated Emotion")),
)


def casme3_subject(value: Any, where: str) -> str:
    """Folder name of a CAS(ME)^3 subject cell: ``"spNO.1"`` as written, a bare number ``1`` -> ``"spNO.1"``."""
    subject = cell_to_text(value)
    return f"spNO.{int(subject)}" if re.fullmatch(r"\d+", subject) else subject


@register_dataset("casme3_a")
class CASME3A(MEDataset):
    """CAS(ME)^3 Part A loader (colour frames).

    Args:
        root: dataset folder (tree in the module docstring).
        annotation: the Part A ME label workbook; default: found in ``root`` or ``root/annotation/partA``.
        frames_dir: folder holding ``spNO.<k>/`` when not ``root/part_A`` or ``root``.
        apex_policy, corrections, strict: see :class:`~merkit.data._base.MEDataset`.
    """

    name: ClassVar[str] = "casme3_a"
    fps = 30.0
    published = PublishedCounts(860, 94, 'rows of cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx (docs/datasets.md, "CAS(ME)^3")')
    folder_is_clip: ClassVar[bool] = False
    annotation_globs = ("*part_A_ME_label*.xlsx", "annotation/partA/*part_A_ME_label*.xlsx")
    annotation_what = "the CAS(ME)^3 Part A label workbook (cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx)"
    frame_dirs = ("part_A", "part_A_split/part_A", "Part_A", "")
    frames_what = "CAS(ME)^3 Part A frames folder (spNO.<k>/)"

    def _read_rows(self) -> list[dict[str, Any]]:
        rows = self._sheet_rows(CASME3A_COLUMNS, casme3_subject, sheet="label", missing="no Subject or Filename")
        seen: dict[tuple[str, str], int] = {}
        for values in rows:
            subject, video = values["subject"], values["clip"]
            if video != video.lower():
                where = values["where"]
                self.report.add("warning", where, f"{where}: Filename {video!r} lower-cased to {video.lower()!r} (folders are lower case).")
            video = video.lower()
            count = seen[(subject, video)] = seen.get((subject, video), 0) + 1
            values.update(clip=video if count == 1 else f"{video}_me{count}", video=video)
            if cell_to_text(values["offset"]) in ("", "0") and cell_to_text(values["apex"]) not in ("", "0"):
                # spotting code's rule for offset 0: the expression ends at its apex (docs/datasets.md, "CAS(ME)^3")
                values["offset"] = values["apex"]
                values["flags"] = {"offset_estimated"}
        return rows

    def _clip_folder(self, row: Mapping[str, Any]) -> Path:
        subject_dir = find_child(self.frames_dir, row["subject"])
        video_dir = find_child(subject_dir, row["video"]) if subject_dir is not None else None
        color = find_child(video_dir, "color") if video_dir is not None else None
        if color is None or not color.is_dir():
            raise DatasetNotFoundError(
                f"{row['where']}: clip folder {str(self.frames_dir / row['subject'] / row['video'] / 'color')!r} "
                f"does not exist; expected the colour frames <N>.jpg of {row['subject']} video {row['video']!r}."
            )
        return color

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return r"(\d+)" + IMAGE_SUFFIX, "<N>.jpg"
