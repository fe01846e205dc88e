"""Fake dataset trees following docs/datasets.md, "Dataset layouts": real column names, header positions and traps.

Frames are tiny images whose pixel value is ``frame number % 251`` so a test can
check that the right file was picked. Nothing here is committed as binary data.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl


def write_frame(path: Path, number: int, size=(12, 16), channels=3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = size if channels == 1 else (*size, channels)
    ok = cv2.imwrite(str(path), np.full(shape, number % 251, np.uint8))
    assert ok, path


def write_frames(folder: Path, template: str, numbers, **kw) -> None:
    for n in numbers:
        write_frame(folder / template.format(n), n, **kw)


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


# ---- CASME II (docs/datasets.md, "CASME II") -----------------------------------------------

CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units", "Estimated Emotion"]
CASME2_ROWS = [
    ["01", "EP02_01f", None, 46, 48, 50, None, 12, "happiness"],
    ["01", "EP19_05f", None, 98, 100, 102, None, "4+L10", "disgust"],
    ["02", "EP01_11f", None, 46, 47, 49, None, 15, "repression"],
    ["03", "EP01_2", None, 51, 53, 55, None, 1, "surprise"],
    ["04", "EP12_01f", None, 261, "/", 265, None, "4+7", "disgust"],
    ["05", "EP05_03", None, 51, 53, 55, None, "?", "others"],
    ["05", "EP09_05f", None, 69, 69, 72, None, "R2+15", "disgust"],
    ["05", "EP12_03f", None, 11, 13, 15, None, 25, "surprise"],
    ["17", "EP15_03", None, 319, 321, 323, None, 1, "sadness"],
    ["24", "EP07_04f", None, 4, 6, 8, None, 1, "sadness"],
]
CASME2_FRAMES = {
    ("sub01", "EP02_01f"): range(44, 53),
    ("sub01", "EP19_05f"): range(98, 103),
    ("sub02", "EP01_11f"): range(46, 50),
    ("sub03", "EP01_2"): range(51, 56),
    ("sub04", "EP12_01f"): range(261, 266),
    ("sub05", "EP09_05f"): range(69, 73),
    ("sub05", "EP12_03f"): range(11, 16),
    ("sub05", "EP05_03"): range(51, 56),
    ("sub17", "EP15_03"): range(319, 324),
    ("sub24", "EP07_04f"): range(4, 9),
}


def make_casme2(root: Path, rows=None, header=None, subject_as_int=False) -> Path:
    root = Path(root) / "CASME2"
    rows = [list(r) for r in (CASME2_ROWS if rows is None else rows)]
    if subject_as_int:
        for r in rows:
            r[0] = int(r[0])
    write_xlsx(root / "CASME2-coding-20140508.xlsx", {"Sheet1": [header or CASME2_HEADER, *rows], "Sheet2": [], "Sheet3": []})
    for (subject, clip), numbers in CASME2_FRAMES.items():
        write_frames(root / "CASME2_RAW_selected" / subject / clip, "img{}.jpg", numbers, size=(12, 16))
        write_frames(root / "Cropped" / subject / clip, "reg_img{}.jpg", numbers, size=(10, 12))
    return root


# ---- SAMM (docs/datasets.md, "SAMM") ---------------------------------------------------------

SAMM_PREAMBLE = [
    ["SAMM Dataset - Master FACS Codes"],
    [],
    ["9/9/17 - New updates with Emotional and Objective Classes. Please cite the SAMM paper."],
    ["Objective classes follow Davison et al. 2018."],
    [],
    ["Symbol Key:"],
    ['"/" = or'],
    ['"?" = some AU\'s continue for a while and have unclear offset'],
    [],
    ["AU Help:"],
    ["A-E = intensity"],
    ["L/R = left/right"],
    [],
]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
SAMM_ROWS = [
    ["006", "006_1_2", 1, 5562, 5564, 5566, 5, "Micro - 1/2", "4+7", "Anger", 3, None],
    ["006", "006_3_4", 3, 639, 641, 643, 5, "Micro - 1/2", "15A+17", "Sadness", 5, None],
    ["007", "007_6_2", 6, 1296, 1298, 1300, 5, "Micro - 1/2", "12", "Happiness", 1, None],
    ["011", "011_4_2", 4, 2980, 2982, 2984, 5, "Micro - 1/2", "L12 or L14", "Contempt", 1, "Eye movement"],
    ["025", "025_4_1", 4, 4328, 4330, 4332, 5, "Micro - 1/2", "T18+39", "Other", 7, "Blinks"],
    ["028", "028_4_1", 4, 1071, 1080, 1075, 5, "Micro - 1/2", "A14C", "Contempt", 7, "Blinks"],
    ["035", "035_7_2", 7, 823, 825, 827, 5, "Micro - 1/2", "R14A or 17A or 24A", "Contempt", 7, None],
]


def make_samm(root: Path, preamble=True, rows=None) -> Path:
    root = Path(root) / "SAMM"
    body = [SAMM_HEADER, *(SAMM_ROWS if rows is None else rows)]
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", {"MICRO_ONLY": (SAMM_PREAMBLE if preamble else []) + body})
    for row in SAMM_ROWS:
        subject, clip, onset, offset = row[0], row[1], row[3], row[5]
        write_frames(root / "SAMM" / subject / clip, f"{subject}_{{:05d}}.jpg", range(onset, offset + 1), channels=1)
    return root


# ---- SMIC (docs/datasets.md, "SMIC") ---------------------------------------------------------

SMIC_HS_CLIPS = {
    ("s1", "negative", "s1_ne_01"): [*range(36230, 36235)],
    ("s1", "positive", "s1_po_01"): [*range(40100, 40105)],
    ("s3", "surprise", "s3_sur_01"): [12000, 12001, 12003, 12004],
    ("s20", "negative", "s20_ne_01"): [*range(17581039, 17581044)],
}
SMIC_E_HEADER = ["Subject", "Filename", None, "OnsetF", "OffsetF", "Onset2F", "Offset2F", None, "FirstF", "LastF",
                 "TotalMF1", "TotalMF2", "TotalVL", "Emotion"]
SMIC_E_ROWS = [
    [20, "s20_ne_01", None, 17581039, 17581043, None, None, None, 17581030, 17581060, 5, None, 31, "negative"],
    [20, "s20_ne_06", None, 17581032, 17581035, 17581050, 17581055, None, 17581030, 17581060, 4, 6, 31, "negative"],
]


def make_smic(root: Path) -> Path:
    root = Path(root) / "SMIC"
    for (subject, emotion, clip), numbers in SMIC_HS_CLIPS.items():
        write_frames(root / "SMIC_all_raw" / "HS" / subject / "micro" / emotion / clip, "image{:06d}.bmp", numbers, size=(18, 14))
        write_frames(root / "SMIC_all_cropped" / "HS" / subject / "micro" / emotion / clip, "reg_image{:06d}.bmp", numbers, size=(18, 14))
    (root / "SMIC_all_raw" / "HS" / "s20" / "non_micro" / "s20_x_01").mkdir(parents=True)
    write_frame(root / "SMIC_all_raw" / "HS" / "s20" / "non_micro" / "s20_x_01" / "image000001.bmp", 1)
    write_frames(root / "SMIC_all_cropped" / "VIS" / "s11" / "micro" / "positive" / "s11_po_01", "reg_{:05d}.bmp", range(6524, 6529), size=(16, 13))
    e_root = root / "SMIC-E_raw image" / "HS_long"
    blank = [None] * len(SMIC_E_HEADER)
    write_xlsx(e_root / "SMIC-HS-E_annotation.xlsx", {"HS": [SMIC_E_HEADER, *SMIC_E_ROWS, blank, blank, blank], "Sheet2": [], "Sheet3": []})
    for clip in ("s20_ne_01", "s20_ne_06"):
        write_frames(e_root / "SMIC-HS-E" / "s20" / clip, "image{}.jpg", range(17581030, 17581061), size=(8, 8))
    return root


MINI_GT = """casme2,sub01,EP02_01f,1
casme2,sub01,EP19_05f,0
casme2,sub02,EP01_11f,0
casme2,sub03,EP01_2,2
casme2,sub05,EP12_03f,2
smic,s01,s01_ne_01,0
smic,s01,s01_po_01,1
smic,s03,s03_sur_01,2
samm,6,006_1_2,0
samm,6,006_3_4,0
samm,7,007_6_2,1
samm,11,011_4_2,0
"""


def make_megc_root(root: Path) -> Path:
    """CASME2/, SAMM/, SMIC/ side by side plus the mini GT (12 rows; spellings as in docs/datasets.md, "MEGC2019 composite")."""
    make_casme2(root)
    make_samm(root)
    make_smic(root)
    (Path(root) / "combined_3class_gt.csv").write_text(MINI_GT)
    return Path(root)
