"""CASME (Yan et al., FG 2013): 195 micro-expressions at 60 fps (meb's sheet has 189 rows).

Folder tree (docs/datasets.md, "CASME"; from meb, the original file names are UNVERIFIED)::

    root/
      <annotation>.xlsx                      # the one .xlsx in root, or annotation=PATH
      CASME_raw_selected/                    # variant="raw"
        sub01/EP01_5/EP01_5-1.jpg ...        # <Filename>-<n>.jpg, n unpadded or padded to 3
      Cropped/                               # variant="cropped"
        sub01/EP01_5/reg_EP01_5-1.jpg ...

Sheet columns (by name): ``Subject`` (int), ``Filename``, ``OnsetF``,
``ApexF1``, ``ApexF2``, ``OffsetF``, an AU column (``AU`` / ``Action Units``)
and ``Emotion``. Named choice, **apex**: ``ApexF1``; when it is missing,
``ApexF2``; when both are missing, the apex policy (flag ``apex_estimated``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from merkit.data._base import MEDataset
from merkit.data._excel import ColumnSpec, cell_to_text
from merkit.data._frames import IMAGE_SUFFIX
from merkit.data.casme2 import casme2_subject
from merkit.data.registry import register_dataset

__all__ = ["CASME", "CASME_COLUMNS"]

CASME_COLUMNS = (
    ColumnSpec("subject", ("Subject",)),
    ColumnSpec("clip", ("Filename",)),
    ColumnSpec("onset", ("OnsetF", "OnsetFrame", "Onset Frame")),
    ColumnSpec("apex", ("ApexF1", "ApexF", "ApexFrame", "Apex Frame")),
    ColumnSpec("apex2", ("ApexF2",), required=False),
    ColumnSpec("offset", ("OffsetF", "OffsetFrame", "Offset Frame")),
    ColumnSpec("action_units", ("AU", "AUs", "Action Units"), required=False),
    ColumnSpec("emotion", ("Emotion", "Estimated Emotion")),
)
_FOLDERS = {"raw": ("CASME_raw_selected", "CASME_RAW_selected", "CASME_raw"), "cropped": ("Cropped", "CASME_Cropped")}


@register_dataset("casme")
class CASME(MEDataset):
    """CASME (I) loader.

    Args:
        root: dataset folder (tree in the module docstring).
        variant: ``"raw"`` or ``"cropped"``; ``None`` (default): detected from the folders on disk; ``raw`` when both are present.
        annotation: the annotation workbook; default: the only ``.xlsx`` in ``root``.
        frames_dir: folder holding ``sub<NN>/`` when not at a usual place.
        apex_policy, corrections, strict: see :class:`~merkit.data._base.MEDataset`.
    """

    name: ClassVar[str] = "casme"
    fps = 60.0
    published = None  # 195 on the official page, 189 rows in meb's sheet: no firm count
    annotation_globs = ("*.xlsx",)
    annotation_what = "the CASME annotation workbook"
    frame_dirs = _FOLDERS
    frames_what = "CASME"
    subject_pattern = r"sub\d+"
    default_variant = "raw"

    def _read_rows(self) -> list[dict[str, Any]]:
        rows = self._sheet_rows(CASME_COLUMNS, casme2_subject)
        for values in rows:
            if cell_to_text(values["apex"]).casefold() in ("", "/", "-") and cell_to_text(values.get("apex2")):
                values["apex"] = values["apex2"]
        return rows

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return r"(?:reg_)?" + re.escape(row["clip"]) + r"-(\d+)" + IMAGE_SUFFIX, f"{row['clip']}-<N>.jpg"
