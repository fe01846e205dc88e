"""The fuzzed readers: for each annotation reader a fake tree, a valid base table and how to read it.

Targets follow docs/datasets.md, "Dataset layouts" (tests/data/_fake_trees.py); the long-video sheets are built on
SynthME long-video trees. The strategies and the case runner are in ``tests/data/_fuzz.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl

from merkit.data._corrections import load_corrections
from merkit.data.casme import CASME
from merkit.data.casme2 import CASME2
from merkit.data.casme3 import CASME3A
from merkit.data.composite import MEGC2019Composite, read_megc_gt
from merkit.data.fourdme import FourDME
from merkit.data.macro import load_ckplus
from merkit.data.mmew import MMEW
from merkit.data.samm import SAMM
from merkit.data.smic import SMICHS
from tests.data import _fake_trees as ft
from tests.data._fuzz import CORRUPTIONS, Target, csv_text, xlsx_value

__all__ = ["TARGETS", "long_targets"]


def _samm_build(tmp: Path) -> tuple[Path, str]:
    return ft.make_samm(tmp), "SAMM_Micro_FACS_Codes_v2"


def _smic_build(tmp: Path) -> tuple[Path, str]:
    root = ft.make_smic(tmp)
    return root, "SMIC-E_raw image/HS_long/SMIC-HS-E_annotation"


def _casme_build(tmp: Path) -> tuple[Path, str]:
    root = tmp / "CASME"
    for subject, clip, numbers in (("sub01", "EP01_5", range(8, 13)), ("sub02", "EP03_2", range(98, 103))):
        ft.write_frames(root / "CASME_raw_selected" / subject / clip, clip + "-{}.jpg", numbers, size=(8, 8))
    return root, "casme"


def _casme3_build(tmp: Path) -> tuple[Path, str]:
    root = tmp / "CASME3"
    ft.write_frames(root / "part_A" / "spNO.1" / "b" / "color", "{}.jpg", range(168, 208), size=(8, 8))
    ft.write_frames(root / "part_A" / "spNO.3" / "j" / "color", "{}.jpg", range(494, 502), size=(8, 8))
    return root, "cas(me)3_part_A_ME_label_JpgIndex_v2"


def _mmew_build(tmp: Path) -> tuple[Path, str]:
    root = tmp / "MMEW"
    ft.write_frames(root / "Micro_Expression" / "happiness" / "S01-01-001", "{}.jpg", range(1, 8), size=(8, 8))
    ft.write_frames(root / "Micro_Expression" / "repression" / "S02-06-001", "{}.jpg", range(1, 5), size=(8, 8))
    return root, "MMEW_Micro_Exp"


def _fourdme_build(tmp: Path) -> tuple[Path, str]:
    root = tmp / "4DME"
    ft.write_frames(root / "gray_micro" / "S13" / "S13_1st_001_01_1", "Frame_{:09d}.jpg", range(8, 13), size=(8, 8), channels=1)
    return root, "4DME_Labelling_Micro_release v1"


def _load(cls: type, **options: Any) -> Callable[[Path, Path, bool], Any]:
    return lambda root, annotation, strict: cls(root, annotation=annotation, strict=strict, **options)


def _gt_read(root: Path, annotation: Path, strict: bool) -> Any:
    read_megc_gt(annotation)
    return MEGC2019Composite(root, gt_csv=annotation, casme2_variant="raw", smic_variant="raw", strict=strict)


def _gt_writer(rows: list[list], path: Path) -> None:
    text = "\r\n".join(",".join(csv_text(v) for v in row) for row in rows)
    path.write_text(text + "\r\n", "utf-8")


def _corrections_read(root: Path, annotation: Path, strict: bool) -> Any:
    load_corrections(annotation, "casme2")
    return CASME2(root, variant="raw", corrections=annotation, strict=strict)


def _ckplus_build(tmp: Path) -> tuple[Path, str]:
    root = tmp / "CKPLUS"
    ft.write_frames(root / "cohn-kanade-images" / "S005" / "001", "S005_001_{:08d}.png", range(1, 5), size=(8, 8), channels=1)
    return root, "Emotion/S005/001/S005_001_00000004_emotion"


def _ckplus_writer(rows: list[list], path: Path) -> None:
    # rows[0][0] is the file name (mutable like a header cell), the remaining cells its content
    name = csv_text(rows[0][0]).replace("/", "_").replace("\x00", "") or "x"
    emotion_dir = path.parent
    shutil.rmtree(emotion_dir.parent.parent, ignore_errors=True)
    emotion_dir.mkdir(parents=True)
    text = "\n".join(" ".join(csv_text(v) for v in row) for row in rows[1:])
    try:
        (emotion_dir / (name[:200] + "_emotion.txt")).write_text(text, "utf-8", errors="surrogatepass")
    except (OSError, UnicodeEncodeError):
        (emotion_dir / "S005_001_00000004_emotion.txt").write_text(text.encode("utf-8", "replace").decode("utf-8"))


def _long_build(layout: str) -> Callable[[Path], tuple[Path, str]]:
    """A SynthME long-video tree (1 subject, 120 frames) whose workbook is the fuzzed base."""

    def build(tmp: Path) -> tuple[Path, str]:
        from merkit.synth.longvideo import LongVideoConfig, generate_long_videos

        config = LongVideoConfig(layout=layout, fps=30, n_subjects=1, n_frames=120, n_micro=1, n_macro=1, n_blinks=0,
                                 n_head_moves=0)
        root = generate_long_videos(tmp, config, seed=0).root
        (book,) = sorted(root.glob("*.xlsx"))
        shutil.move(book, tmp / "base.xlsx")
        return root, book.stem

    return build


def _long_table(layout: str) -> tuple[list, list[list]]:
    """First sheet of the long-video base workbook: (first row, other rows)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _long_build(layout)(Path(tmp))
        sheet = openpyxl.load_workbook(Path(tmp) / "base.xlsx").worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return rows[0], rows[1:]


def _long_writer(table: list[list], path: Path) -> None:
    """The base workbook (all its sheets) with its first sheet replaced by ``table``."""
    book = openpyxl.load_workbook(path.parent.parent / "base.xlsx")
    sheet = book.worksheets[0]
    sheet.delete_rows(1, sheet.max_row)
    for row in table:
        sheet.append([xlsx_value(v) for v in row])
    book.save(path)


def _long_read(name: str) -> Callable[[Path, Path, bool], Any]:
    def read(root: Path, annotation: Path, strict: bool) -> Any:
        from merkit.data.longvideo import get_long_dataset_class

        return get_long_dataset_class(name)(root, annotation=annotation, fps=30, strict=strict)

    return read


def long_targets() -> dict[str, Target]:
    """Fuzz targets of the long-video sheets (CAS(ME)^2 ``code_final``, SAMM-LV), built on SynthME trees."""
    out = {}
    for name, layout in (("casme_sq", "casme_sq"), ("samm_lv", "samm_lv")):
        header, rows = _long_table(layout)
        out[name] = Target(name, header, rows, {}, _long_build(layout), _long_read(name), kind="workbook",
                           writer=_long_writer)
    return out


TARGETS: dict[str, Target] = {
    "casme2": Target(
        "casme2", ft.CASME2_HEADER, ft.CASME2_ROWS,
        {"onset": "OnsetFrame", "apex": "ApexFrame", "offset": "OffsetFrame", "au": "Action Units"},
        lambda tmp: (ft.make_casme2(tmp), "CASME2-coding-20140508"), _load(CASME2, variant="raw"),
    ),
    "samm": Target(
        "samm", ft.SAMM_HEADER, ft.SAMM_ROWS,
        {"onset": "Onset Frame", "apex": "Apex Frame", "offset": "Offset Frame", "au": "Action Units"},
        _samm_build, _load(SAMM), sheet="MICRO_ONLY", preamble=ft.SAMM_PREAMBLE,
    ),
    "smic_e": Target(
        "smic_e", ft.SMIC_E_HEADER, ft.SMIC_E_ROWS, {"onset": "OnsetF", "offset": "OffsetF"}, _smic_build, _load(SMICHS), sheet="HS",
    ),
    "casme": Target(
        "casme", ["Subject", "Filename", None, "OnsetF", "ApexF1", "ApexF2", "OffsetF", None, "AU", "Emotion"],
        [[1, "EP01_5", None, 8, 10, 11, 12, None, "12", "happiness"], [2, "EP03_2", None, 98, "/", 100, 102, None, "4+L10", "disgust"]],
        {"onset": "OnsetF", "apex": "ApexF1", "apex2": "ApexF2", "offset": "OffsetF", "au": "AU"}, _casme_build, _load(CASME, variant="raw"),
    ),
    "casme3_a": Target(
        "casme3_a", ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
        [["spNO.1", "b", 170, 175, 180, "4", "I", "disgust"], ["spNO.1", "b", 200, 203, 206, "12", "II", "happy"],
         ["spNO.3", "J", 496, 498, 500, "1+2", "III", "Others"]],
        {"onset": "Onset", "apex": "Apex", "offset": "Offset", "au": "AU"}, _casme3_build, _load(CASME3A), sheet="label",
    ),
    "mmew": Target(
        "mmew", ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion", "remarks"],
        [[1, "S01-01-001", 1, 3, 5, "12", "happiness", None], [2, "S02-06-001", 1, 2, 4, "R12", "others", None]],
        {"onset": "OnsetFrame", "apex": "ApexFrame", "offset": "OffsetFrame", "au": "Action Units"}, _mmew_build, _load(MMEW),
    ),
    "fourdme": Target(
        "fourdme", ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs"],
        [["S13", "S13_1st_001_01_1", "Positive", 9, 10, 11, "AU12(k)"]],
        {"onset": "Onset", "apex": "Apex", "offset": "Offset", "au": "AUs"}, _fourdme_build, _load(FourDME),
    ),
    "megc_gt": Target(
        "megc_gt", ["data", "subject", "clip", "label"], [line.split(",") for line in ft.MINI_GT.split()], {},
        lambda tmp: (ft.make_megc_root(tmp), "combined_3class_gt"), _gt_read, kind="text", writer=_gt_writer,
    ),
    "corrections": Target(
        "corrections", ["subject", "clip", "onset", "field", "old", "new", "reason", "source"],
        [["sub01", "EP02_01f", "", "offset", "50", "51", "test fix", "fuzz"], ["sub05", "EP05_03", "51", "apex", "53", "54", "x", "y"]],
        {}, lambda tmp: (ft.make_casme2(tmp), "my_corrections"), _corrections_read,
    ),
    "ckplus": Target(
        "ckplus", ["S005_001_00000004"], [["3.0000000e+00"]], {}, _ckplus_build,
        lambda root, annotation, strict: load_ckplus(root), kind="text", writer=_ckplus_writer,
        corruptions=tuple(c for c in CORRUPTIONS if c != "suffix"),
    ),
}
