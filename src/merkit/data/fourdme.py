"""4DME (Li et al., IEEE TAC 2022): 267 micro-expressions in meb's copy; 2D grey frames.

**UNVERIFIED layout** (docs/datasets.md, "4DME": from third-party code only)::

    root/
      4DME_Labelling_Micro_release v1.xlsx   # or 4DME*.xlsx, or annotation=PATH
      gray_micro/                            # variant="gray"  (gray_micro_crop/ for variant="cropped")
        <sub_ID>/<fold_name>/<...N>.jpg      # frame number = the last digits of the file name

Columns by name: ``sub_ID`` (or ``SubID``), ``fold_name``, ``Onset``,
``Apex``, ``Offset``, ``AUs``, ``Emotion``. AU strings keep their ``(k)``
markers. The frame rate of the 2D frames (30 fps per one public README) is
the ``fps`` option.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from merkit.data._base import MEDataset
from merkit.data._reports import PublishedCounts
from merkit.data._excel import ColumnSpec, cell_to_text
from merkit.data._frames import IMAGE_SUFFIX
from merkit.data.registry import register_dataset
from merkit.errors import ConfigError

__all__ = ["FourDME", "FOURDME_COLUMNS"]

FOURDME_COLUMNS = (
    ColumnSpec("subject", ("sub_ID", "SubID", "Subject")),
    ColumnSpec("clip", ("fold_name", "Filename")),
    ColumnSpec("onset", ("Onset", "OnsetFrame")),
    ColumnSpec("apex", ("Apex", "ApexFrame")),
    ColumnSpec("offset", ("Offset", "OffsetFrame")),
    ColumnSpec("action_units", ("AUs", "AU", "Action Units"), required=False),
    ColumnSpec("emotion", ("Emotion",)),
)
_FOLDERS = {"gray": ("gray_micro",), "cropped": ("gray_micro_crop",)}


@register_dataset("fourdme")
class FourDME(MEDataset):
    """4DME loader (2D grey frames; layout unverified against a real copy).

    Args:
        root: dataset folder (tree in the module docstring).
        variant: ``"gray"`` (``gray_micro``) or ``"cropped"`` (``gray_micro_crop``); ``None`` (default):
            the one present; ``gray`` when both are.
        annotation: the labelling workbook; default: the one ``4DME*.xlsx`` in ``root``.
        frames_dir: folder holding ``<sub_ID>/`` when not at a usual place.
        fps: frame rate of the frames, frames per second (default 30, UNVERIFIED).
        apex_policy, corrections, strict: see :class:`~merkit.data._base.MEDataset`.
    """

    name: ClassVar[str] = "fourdme"
    published = PublishedCounts(267, None, "meb benchmark logs 'Dataset: fourd, n=267' (docs/datasets.md, \"4DME\")")
    annotation_globs = ("4DME*.xlsx",)
    annotation_what = "the 4DME labelling workbook"
    frame_dirs = _FOLDERS
    frames_what = "4DME"
    default_variant = "gray"

    def __init__(self, root: str | os.PathLike | None = None, *, fps: float = 30.0, **options: Any) -> None:
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
            raise ConfigError(f"fps must be a positive number of frames per second; got {fps!r}.")
        self.fps = float(fps)
        super().__init__(root, **options)

    def _read_rows(self) -> list[dict[str, Any]]:
        return self._sheet_rows(FOURDME_COLUMNS, lambda cell, where: cell_to_text(cell), missing="no sub_ID or fold_name")

    def _frame_pattern(self, row: Mapping[str, Any]) -> tuple[str, str]:
        return r".*?(\d+)" + IMAGE_SUFFIX, "<name><N>.jpg"
