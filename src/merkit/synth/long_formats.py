"""Writers for the long-video (spotting) layouts: CAS(ME)^2 (``CASME_sq``) and SAMM Long Videos.

What is known of the real files (``docs/spotting.md``, "Long-video datasets"):

* CAS(ME)^2: ``CASME_sq/CAS(ME)^2code_final.xlsx`` with **no header row** and 3 sheets.
  Sheet 0 has one row per expression: ``subject`` (int 1..22), ``video`` (``disgust1_1``:
  the video's name code, ``_``, a counter), ``onset``, ``apex``, ``offset`` (ints, frame
  numbers in the long video), ``au``, ``emotion``, ``type`` (``micro-expression`` /
  ``macro-expression``), ``selfReport``. Sheet 1 maps subjects (column C = the sheet-0
  subject) to folder numbers (column B: 15 for ``s15``); sheet 2 maps 4-digit video codes
  (column A, text ``0101``) to name codes (column B, ``disgust1``). Frames:
  ``rawpic/s15/15_0101disgustingteeth/img<n>.jpg``. Sheet names, the first column of
  sheet 1 and the third column of sheet 2 are not documented publicly; what is written
  there is this generator's choice.
* SAMM Long Videos: ``SAMM_LongVideos_V2_Release.xlsx``, first sheet, a free-text preamble,
  the header in Excel row 10 and data from row 11, columns ``Subject, Filename, Inducement
  Code, Onset, Apex, Offset, Duration, Type, Action Units, Notes``; ``Filename`` is
  ``<subject>_<inducement>_<k>`` and the video folder ``SAMM_longvideos/<subject>_<inducement>/``.
  ``Type`` is ``Micro - 1/2`` or ``Macro``. The frame-file padding of the real release is
  not documented; this writer uses ``006_1_0001.jpg`` and the loader parses any width.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from merkit._io import write_bytes
from merkit.synth.formats import workbook_bytes

__all__ = [
    "CASME_SQ_SHEET", "CASME_SQ_SUBJECT_FOLDERS", "CASME_SQ_VIDEOS", "SAMM_LV_SHEET", "SAMM_LV_COLUMNS",
    "SAMM_LV_PREAMBLE", "casme_sq_frame_path", "casme_sq_video_folder", "samm_lv_frame_path",
    "write_casme_sq_sheet", "write_samm_lv_sheet",
]

CASME_SQ_SHEET = "CAS(ME)^2code_final.xlsx"
#: Folder numbers of the 22 CAS(ME)^2 subjects, in sheet-0 subject order (1 -> s15, 2 -> s16, ...).
CASME_SQ_SUBJECT_FOLDERS: tuple[int, ...] = (15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29, 30, 31, 32, 33, 34,
                                             35, 36, 37, 38, 40)
#: (4-digit code, name code in sheet 0, folder suffix) of the CAS(ME)^2 stimulus videos.
CASME_SQ_VIDEOS: tuple[tuple[str, str, str], ...] = (
    ("0101", "disgust1", "disgustingteeth"), ("0102", "disgust2", "eatingworms"),
    ("0401", "anger1", "girlcrashing"), ("0402", "anger2", "beatingpregnantwoman"),
    ("0502", "happy1", "funnyerrors"), ("0503", "happy2", "unnyfarting"), ("0505", "happy3", "funnyinnovations"),
    ("0507", "happy4", "climbingthewall"), ("0508", "happy5", "funnydunkey"),
)
SAMM_LV_SHEET = "SAMM_LongVideos_V2_Release.xlsx"
SAMM_LV_COLUMNS: tuple[str, ...] = ("Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration",
                                    "Type", "Action Units", "Notes")
#: Preamble of the SAMM-LV sheet, Excel rows 1-9 (row -> text in column A).
SAMM_LV_PREAMBLE: dict[int, str] = {
    1: "SAMM Long Videos - Micro and Macro Movements",
    3: "Synthetic copy written by merkit SynthME (long-video mode).",
    5: "Type: 'Micro - 1/2' = micro-movement, 'Macro' = macro-movement.",
    7: "Frame numbers are those of the frame files of each long video.",
}
_SAMM_LV_HEADER_ROW = 10


def casme_sq_video_folder(subject_folder: int, code: str, suffix: str) -> str:
    """``(15, '0101', 'disgustingteeth') -> '15_0101disgustingteeth'``."""
    return f"{subject_folder}_{code}{suffix}"


def casme_sq_frame_path(root: str | PathLike, subject_folder: int, video_folder: str, number: int) -> Path:
    """``root/rawpic/s15/15_0101disgustingteeth/img1.jpg`` (unpadded, 1-based frame number)."""
    return Path(root) / "rawpic" / f"s{subject_folder}" / video_folder / f"img{number}.jpg"


def samm_lv_frame_path(root: str | PathLike, video: str, number: int) -> Path:
    """``root/SAMM_longvideos/006_1/006_1_0001.jpg``."""
    return Path(root) / "SAMM_longvideos" / video / f"{video}_{number:04d}.jpg"


def write_casme_sq_sheet(path: str | PathLike, rows: Sequence[dict[str, Any]], subjects: Sequence[int]) -> Path:
    """Write ``CAS(ME)^2code_final.xlsx`` (3 sheets, no header rows).

    Args:
        path: target file.
        rows: one dict per expression with ``subject_index`` (1-based sheet-0 subject), ``name_code``
            (``disgust1``), ``counter``, ``onset``, ``apex``, ``offset``, ``action_units``, ``emotion``,
            ``kind`` (``micro``/``macro``).
        subjects: sheet-0 subject indices present (1-based), for the subject sheet.
    """
    from openpyxl import Workbook  # deferred: openpyxl costs ~160 ms; only the .xlsx writers need it

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    for r in rows:
        ws.append([int(r["subject_index"]), f"{r['name_code']}_{r['counter']}", int(r["onset"]), int(r["apex"]),
                   int(r["offset"]), r["action_units"], r["emotion"], f"{r['kind']}-expression", r["emotion"]])
    naming_subjects = wb.create_sheet("Sheet2")
    for index in subjects:
        folder = CASME_SQ_SUBJECT_FOLDERS[index - 1]
        naming_subjects.append([f"s{folder}", folder, index])
    naming_videos = wb.create_sheet("Sheet3")
    for code, name, suffix in CASME_SQ_VIDEOS:
        naming_videos.append([code, name, suffix])
    for cell in naming_videos["A"]:
        cell.data_type = "s"  # '0101' is text: the leading zero matters
    return write_bytes(path, workbook_bytes(wb))


def write_samm_lv_sheet(path: str | PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``SAMM_LongVideos_V2_Release.xlsx`` (preamble, header in Excel row 10).

    Args:
        path: target file.
        rows: one dict per expression with ``subject`` (``'006'``), ``video`` (``'006_1'``), ``counter``,
            ``inducement``, ``onset``, ``apex``, ``offset``, ``kind`` (``micro``/``macro``),
            ``action_units`` and ``notes`` (str or None).
    """
    from openpyxl import Workbook  # deferred: openpyxl costs ~160 ms; only the .xlsx writers need it

    wb = Workbook()
    ws = wb.active
    ws.title = "FACS_Movement_Only"
    for row, text in SAMM_LV_PREAMBLE.items():
        ws.cell(row=row, column=1, value=text)
    for col, name in enumerate(SAMM_LV_COLUMNS, start=1):
        ws.cell(row=_SAMM_LV_HEADER_ROW, column=col, value=name)
    for i, r in enumerate(rows):
        values = [r["subject"], f"{r['video']}_{r['counter']}", int(r["inducement"]), int(r["onset"]), int(r["apex"]),
                  int(r["offset"]), int(r["offset"]) - int(r["onset"]) + 1,
                  "Micro - 1/2" if r["kind"] == "micro" else "Macro", r["action_units"], r.get("notes")]
        for col, value in enumerate(values, start=1):
            ws.cell(row=_SAMM_LV_HEADER_ROW + 1 + i, column=col, value=value)
    return write_bytes(path, workbook_bytes(wb))
