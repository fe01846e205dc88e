"""Writers for the on-disk formats of CASME II, SAMM, SMIC-HS and the MEGC2019 composite.

Everything follows ``docs/datasets.md``: section 2 (CASME II
``CASME2-coding-20140508.xlsx``: sheet ``Sheet1`` plus empty ``Sheet2``/
``Sheet3``, 9 columns with blank headers in C and G, Subject as text),
section 3 (SAMM ``SAMM_Micro_FACS_Codes_v2.xlsx``: sheet ``MICRO_ONLY``,
13 preamble rows, header in row 14, 12 columns, Subject as text), section 4
(SMIC-HS non-E: no sheet, label in the folder) and section 10 (MEGC2019
``combined_3class_gt.csv``: no header, CRLF, SAMM subject as an unpadded
int, SMIC subject and clip zero-padded).

Workbooks are made byte-reproducible: the document timestamps are fixed and
the zip container is rewritten with fixed entry dates.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import zipfile
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from merkit._io import write_bytes, write_text

__all__ = [
    "CASME2_SHEET", "CASME2_COLUMNS", "SAMM_SHEET", "SAMM_COLUMNS", "SAMM_PREAMBLE", "MEGC_GT",
    "casme2_frame_path", "samm_frame_path", "smic_frame_path", "smic_megc_ids",
    "write_casme2_sheet", "write_samm_sheet", "write_megc_gt", "workbook_bytes",
]

CASME2_SHEET = "CASME2-coding-20140508.xlsx"
CASME2_RAW = "CASME2_RAW_selected"
#: Header row of the CASME II sheet; ``None`` marks the two blank-header columns (C and G).
CASME2_COLUMNS: tuple[str | None, ...] = (
    "Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units", "Estimated Emotion",
)
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_COLUMNS: tuple[str, ...] = (
    "Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration", "Micro",
    "Action Units", "Estimated Emotion", "Objective Classes", "Notes",
)
#: SAMM preamble, Excel rows 1-13 (row number -> text in column A); rows 2, 5, 9, 13 stay empty.
SAMM_PREAMBLE: dict[int, str] = {
    1: "SAMM Dataset - Master FACS Codes",
    3: "9/9/17 - New updates with Emotional and Objective Classes. Synthetic copy written by merkit SynthME.",
    4: "Please cite the SAMM paper when using the real dataset; this file describes synthetic clips.",
    6: "Symbol Key:",
    7: '"/" = or',
    8: '"?" = some AU\'s continue for a while and have unclear offset',
    10: "AU Help:",
    11: "L = left side of the face, R = right side of the face (subject's point of view)",
    12: "A-E = intensity, T = tilt",
}
MEGC_GT = "combined_3class_gt.csv"
#: MEGC2019 class ids (docs/datasets.md, "MEGC2019 composite (megc2019_cde)").
MEGC_CLASS_IDS: dict[str, int] = {"negative": 0, "positive": 1, "surprise": 2}

_FIXED_TIME = _dt.datetime(2014, 5, 8, 0, 0, 0)
_ZIP_TIME = (2014, 5, 8, 0, 0, 0)


def casme2_frame_path(root: str | PathLike, subject: str, clip: str, number: int) -> Path:
    """``root/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (unpadded frame number)."""
    return Path(root) / CASME2_RAW / subject / clip / f"img{number}.jpg"


def samm_frame_path(root: str | PathLike, subject: str, clip: str, number: int) -> Path:
    """``root/SAMM/006/006_1_2/006_05562.jpg`` (frame number zero-padded to 5)."""
    return Path(root) / "SAMM" / subject / clip / f"{subject}_{number:05d}.jpg"


def smic_frame_path(root: str | PathLike, subject: str, emotion: str, clip: str, number: int) -> Path:
    """``root/SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image036230.bmp`` (number padded to 6)."""
    return Path(root) / "SMIC_all_raw" / "HS" / subject / "micro" / emotion / clip / f"image{number:06d}.bmp"


def smic_megc_ids(subject: str, clip: str) -> tuple[str, str]:
    """MEGC spelling of a SMIC folder pair: ``('s1', 's1_ne_01') -> ('s01', 's01_ne_01')``."""
    n = int(subject[1:])
    return f"s{n:02d}", re.sub(r"^s\d+_", f"s{n:02d}_", clip)


def _au_cell(action_units: str) -> int | str:
    # The real sheets store plain single AUs as numbers ("12") and everything else as text.
    return int(action_units) if action_units.isdigit() else action_units


def workbook_bytes(workbook: Any) -> bytes:
    """Serialise an openpyxl workbook reproducibly (fixed document and zip entry times)."""
    workbook.properties.created = _FIXED_TIME
    workbook.properties.modified = _FIXED_TIME
    workbook.properties.creator = "merkit SynthME"
    workbook.properties.lastModifiedBy = "merkit SynthME"
    raw = io.BytesIO()
    workbook.save(raw)
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl stamps the save time into dcterms:modified; pin it.
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>2014-05-08T00:00:00Z\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, data)
    return out.getvalue()


def write_casme2_sheet(path: str | PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``CASME2-coding-20140508.xlsx``.

    Args:
        path: target file.
        rows: dicts with ``subject`` (``'sub01'``), ``clip``, ``onset``, ``apex`` (int, or ``'/'``),
            ``offset``, ``action_units`` (str) and ``emotion`` (lowercase), in the sheet's order.
    """
    from openpyxl import Workbook  # deferred: openpyxl costs ~160 ms; only the .xlsx writers need it

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(list(CASME2_COLUMNS))
    for r in rows:
        ws.append([r["subject"][3:], r["clip"], None, int(r["onset"]), r["apex"], int(r["offset"]), None,
                   _au_cell(r["action_units"]), r["emotion"]])
    for cell in ws["A"][1:]:
        cell.data_type = "s"  # Subject is text ('01') in the original file
    wb.create_sheet("Sheet2")
    wb.create_sheet("Sheet3")
    return write_bytes(path, workbook_bytes(wb))


def write_samm_sheet(path: str | PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``SAMM_Micro_FACS_Codes_v2.xlsx`` (sheet ``MICRO_ONLY``, header in Excel row 14).

    Args:
        path: target file.
        rows: dicts with ``subject`` (``'006'``), ``clip``, ``inducement`` (int), ``onset``, ``apex``,
            ``offset``, ``action_units`` (str), ``emotion`` (Title case), ``objective_class`` (1-7)
            and ``notes`` (str or None).
    """
    from openpyxl import Workbook  # deferred: openpyxl costs ~160 ms; only the .xlsx writers need it

    wb = Workbook()
    ws = wb.active
    ws.title = "MICRO_ONLY"
    for row, text in SAMM_PREAMBLE.items():
        ws.cell(row=row, column=1, value=text)
    for col, name in enumerate(SAMM_COLUMNS, start=1):
        ws.cell(row=14, column=col, value=name)
    for i, r in enumerate(rows):
        values = [r["subject"], r["clip"], int(r["inducement"]), int(r["onset"]), int(r["apex"]),
                  int(r["offset"]), int(r["offset"]) - int(r["onset"]) + 1, "Micro - 1/2",
                  _au_cell(r["action_units"]), r["emotion"], int(r["objective_class"]), r.get("notes")]
        for col, value in enumerate(values, start=1):
            ws.cell(row=15 + i, column=col, value=value)
    return write_bytes(path, workbook_bytes(wb))


def write_megc_gt(path: str | PathLike, rows: Sequence[tuple[str, str, str, str]]) -> Path:
    """Write ``combined_3class_gt.csv``: no header, CRLF, ``dataset,subject,filename,class``.

    Args:
        path: target file.
        rows: ``(dataset, subject, clip, megc_class)`` with dataset in ``casme2``/``samm``/``smic``,
            subject and clip as the *folders* spell them, class a name of ``MEGC_CLASS_IDS``.
    """
    lines = []
    for dataset, subject, clip, cls in rows:
        if dataset == "samm":
            subject = str(int(subject))
        elif dataset == "smic":
            subject, clip = smic_megc_ids(subject, clip)
        lines.append(f"{dataset},{subject},{clip},{MEGC_CLASS_IDS[cls]}\r\n")
    return write_text(path, "".join(lines))
