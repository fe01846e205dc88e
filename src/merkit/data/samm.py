"""SAMM (Davison et al., IEEE TAC 2018): 159 micro-expressions of 29 subjects at 200 fps, greyscale.

Folder tree (docs/datasets.md, "SAMM")::

    root/
      SAMM_Micro_FACS_Codes_v2.xlsx        # sheet MICRO_ONLY; any SAMM*.xlsx; annotation=PATH otherwise
      SAMM/                                # frames folder (also root itself, SAMM_CROP/)
        006/006_1_2/006_05562.jpg ...      # <subject>_<frame number, padded to 4 or 5>.jpg

The header row is found by its content: the original release has 13
free-text preamble rows above it, later releases none. ``Subject`` may be the
text ``"006"`` or the number ``6``; both become the folder name ``006``.
Frame numbers are parsed from the file names (their padding width varies).
An apex outside ``[onset, offset]`` (``028_4_1``, ``032_3_1`` in some
releases) is replaced by the apex policy and flagged ``apex_out_of_range``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from merkit.data._base import MEDataset
from merkit.data._reports import PublishedCounts
from merkit.data._excel import ColumnSpec, cell_to_text
from merkit.data._frames import IMAGE_SUFFIX
from merkit.data.registry import register_dataset
from merkit.errors import AnnotationError

__all__ = ["SAMM", "SAMM_COLUMNS", "samm_subject"]

SAMM_COLUMNS = (
    ColumnSpec("subject", ("Subject",)),
    ColumnSpec("clip", ("Filename",)),
    ColumnSpec("onset", ("Onset Frame", "OnsetFrame", "Onset")),
    ColumnSpec("apex", ("Apex Frame", "ApexFrame", "Apex")),
    ColumnSpec("offset", ("Offset Frame", "OffsetFrame", "Offset")),
    ColumnSpec("action_units", ("Action Units", "AU", "AUs"), required=False),
    ColumnSpec("emotion", ("Estimated Emotion", "Emotion")),
)


def samm_subject(value: Any, where: str) -> str:
    """Folder name of a SAMM subject cell: ``"006"``, ``6`` or ``6.0`` -> ``"006"``."""
    text = cell_to_text(value)
    if not re.fullmatch(r"\d+", text):
        raise AnnotationError(f"{where}: column 'Subject' must be a subject number like '006' or 6; got {value!r}.")
    return f"{int(text):03d}"


@register_dataset("samm")
class SAMM(MEDataset):
    """SAMM loader (micro-expressions of ``SAMM_Micro_FACS_Codes_v2.xlsx``).

    Args:
        root: dataset folder (tree in the module docstring).
        annotation: FACS code sheet; default: the one ``SAMM*.xlsx`` in ``root``.
        frames_dir: folder holding ``006/`` ... when it is neither ``root/SAMM`` nor ``root``.
        apex_policy, corrections, strict: see :class:`~merkit.data._base.MEDataset`.
    """

    name: ClassVar[str] = "samm"
    fps = 200.0
    published = PublishedCounts(159, 29, 'rows of SAMM_Micro_FACS_Codes_v2.xlsx (docs/datasets.md, "SAMM")')
    annotation_globs = ("SAMM*.xlsx", "*Micro_FACS_Codes*.xlsx")
    annotation_what = "the SAMM FACS code sheet (SAMM_Micro_FACS_Codes_v2.xlsx)"
    frame_dirs = ("SAMM", "SAMM_CROP", "")
    frames_what = "SAMM frames folder (subject folders 006/ ...)"

    def _read_rows(self) -> list[dict[str, Any]]:
        return self._sheet_rows(SAMM_COLUMNS, samm_subject, sheet="MICRO_ONLY")

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return r"\d+_(\d+)" + IMAGE_SUFFIX, "<subject>_<N>.jpg"
