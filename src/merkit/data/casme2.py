"""CASME II (Yan et al., PLoS ONE 2014): 255 annotated clips of 26 subjects at 200 fps.

Folder tree (docs/datasets.md, "CASME II"; the official raw and cropped releases)::

    root/
      CASME2-coding-20140508.xlsx          # or CASME2-coding-*.xlsx; annotation=PATH otherwise
      CASME2_RAW_selected/                 # variant="raw"  (also CASME2-RAW/, CASME2_RAW/)
        sub01/EP02_01f/img46.jpg ...       # img + unpadded frame number
      Cropped/                             # variant="cropped" (also Cropped-updated/Cropped/, Cropped_original/)
        sub01/EP02_01f/reg_img46.jpg ...

The coding sheet is read by header name (``Subject``, ``Filename``,
``OnsetFrame``, ``ApexFrame``, ``OffsetFrame``, ``Action Units``,
``Estimated Emotion``), so both the original 9-column sheet (two blank
columns) and 7-column re-saved copies load. ``Subject`` may be the text
``"01"`` or the number ``1``: both become the folder name ``sub01``. The
folder keeps baseline frames before the onset and after the offset; a sample
holds exactly the frames numbered ``onset..offset``. ``ApexFrame`` ``/``
(sub04/EP12_01f) is filled by the apex policy and flagged ``apex_estimated``.
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

__all__ = ["CASME2", "CASME2_COLUMNS", "casme2_subject"]

CASME2_COLUMNS = (
    ColumnSpec("subject", ("Subject",)),
    ColumnSpec("clip", ("Filename",)),
    ColumnSpec("onset", ("OnsetFrame", "Onset Frame", "onset")),
    ColumnSpec("apex", ("ApexFrame", "Apex Frame", "apex")),
    ColumnSpec("offset", ("OffsetFrame", "Offset Frame", "offset")),
    ColumnSpec("action_units", ("Action Units", "AU", "AUs"), required=False),
    ColumnSpec("emotion", ("Estimated Emotion", "Emotion")),
)

_FOLDERS = {
    "raw": ("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "CASME2_RAW_selected/CASME2_RAW_selected"),
    "cropped": ("Cropped", "Cropped-updated/Cropped", "Cropped_original", "CASME2_Cropped"),
}
_PATTERNS = {"raw": (r"img(\d+)" + IMAGE_SUFFIX, "img<N>.jpg"), "cropped": (r"reg_img(\d+)" + IMAGE_SUFFIX, "reg_img<N>.jpg")}


def casme2_subject(value: Any, where: str) -> str:
    """Folder name of a CASME II subject cell: ``"01"``, ``1``, ``1.0`` or ``"sub01"`` -> ``"sub01"``."""
    text = cell_to_text(value)
    match = re.fullmatch(r"(?:sub)?0*(\d+)", text, re.IGNORECASE)
    if not match:
        raise AnnotationError(f"{where}: column 'Subject' must be a subject number like '01' or 1; got {value!r}.")
    return f"sub{int(match.group(1)):02d}"


@register_dataset("casme2")
class CASME2(MEDataset):
    """CASME II loader.

    Args:
        root: dataset folder (tree in the module docstring).
        variant: ``"raw"`` (``CASME2_RAW_selected``, ``img<N>.jpg``) or
            ``"cropped"`` (``Cropped``, ``reg_img<N>.jpg``); ``None`` (default): detected from the
            folders on disk (:mod:`merkit.data._layout`), the documented default when both are present.
        annotation: coding sheet path; default: the one ``CASME2-coding-*.xlsx`` in ``root``.
        frames_dir: folder holding ``sub<NN>/`` when it is not one of the usual names.
        apex_policy, corrections, strict: see :class:`~merkit.data._base.MEDataset`.

    Example:
        >>> table = CASME2("/data/CASME2", variant="cropped").load()  # doctest: +SKIP
        >>> table.loc[0, ["subject", "clip", "onset", "apex", "offset"]].tolist()  # doctest: +SKIP
        ['sub01', 'EP02_01f', 46, 59, 86]
    """

    name: ClassVar[str] = "casme2"
    fps = 200.0
    published = PublishedCounts(255, 26, 'rows of CASME2-coding-20140508.xlsx (docs/datasets.md, "CASME II")')
    annotation_globs = ("CASME2-coding-*.xlsx", "CASME2*coding*.xlsx", "CASME2_label*.xlsx")
    annotation_what = "the CASME II coding sheet (CASME2-coding-20140508.xlsx)"
    frame_dirs = _FOLDERS
    frames_what = "CASME II"
    subject_pattern = r"sub\d+"
    default_variant = "raw"

    def _read_rows(self) -> list[dict[str, Any]]:
        return self._sheet_rows(CASME2_COLUMNS, casme2_subject, sheet="Sheet1")

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return _PATTERNS[self.variant]
