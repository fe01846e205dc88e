"""Property-based fuzzing of every annotation reader: strategies, targets and the case runner.

Shared by ``tests/data/test_fuzz_annotations.py`` (a fast, derandomised slice in CI)
and ``benchmarks/bench_fuzz_annotations.py`` (10,000+ cases with counts).

A *target* is one reader: a fake dataset tree built once (frames on disk,
following datasets.md section 12), a valid base annotation (header + rows), and
a function that reads a (mutated) annotation file through the public loader.
A *case* is a list of mutations of the base table (cells replaced by values of
any type, columns dropped or renamed, rows duplicated, emptied, dropped,
onset/offset swapped, apex ``/``) plus a file-level corruption (zero bytes,
truncation, garbage, a PNG, a zip that is not a workbook, bad UTF-8). The
contract checked by :func:`run_case`: reading either succeeds or raises a
:class:`~merkit.errors.MerkitError` that names the annotation file; lenient
loads (``strict=False``) record every row problem with the file and row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

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
from merkit.errors import MerkitError
from tests.data import _fake_trees as ft

AU_STRINGS = ["4+L10", "R12", "L1+2", "?", "R2+15", "15A+17", "L12 or L14", "T18+39", "A14C", "AU12(k)", "1+2+4", "/"]
ODD_TEXT = ["/", "", " ", "-", "n/a", "nan", "NaN", "None", "#VALUE!", "#N/A", "\uff11\uff12", "\u0663", "12.5", "1e3",
            "0x10", "+5", " 46 ", "46.0", "\u00b2", "sub\u00e9", "\U0001F600", "x" * 300, "a\x00b", "=1+1"]
PATHS = ["..", "../..", "../../etc", "/etc", "/tmp", ".", "a/b", "sub01/../sub02", "~", "C:\\x", "sub01/", "\\\\srv\\x"]

#: Any cell value a spreadsheet or a CSV can hold, with the datasets' real oddities over-represented.
cell_values = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(AU_STRINGS + ODD_TEXT + PATHS),
    st.text(max_size=12),
    st.datetimes(min_value=dt.datetime(1901, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)


@st.composite
def mutations(draw: Callable, n_rows: int, n_cols: int) -> list[tuple]:
    """Up to five edits of a table with ``n_rows`` data rows and ``n_cols`` columns."""
    row = st.integers(0, max(n_rows - 1, 0))
    col = st.integers(0, n_cols - 1)
    one = st.one_of(
        st.tuples(st.just("cell"), row, col, cell_values),
        st.tuples(st.just("header"), col, cell_values),
        st.tuples(st.just("drop_col"), col),
        st.tuples(st.just("dup_row"), row),
        st.tuples(st.just("empty_row"), row),
        st.tuples(st.just("drop_row"), row),
        st.tuples(st.just("swap_onset_offset"), row),
        st.tuples(st.just("apex_slash"), row),
        st.tuples(st.just("au"), row, st.sampled_from(AU_STRINGS)),
        st.tuples(st.just("extra_col"), cell_values),
    )
    return draw(st.lists(one, max_size=5))


CORRUPTIONS = ("none", "none", "none", "none", "zero", "truncate", "garbage", "png", "zip", "bad_utf8", "nul", "suffix")


@st.composite
def cases(draw: Callable, target: Target) -> dict[str, Any]:
    """One fuzz case for ``target``: edits of its base table, the file format and a corruption."""
    return {
        "edits": draw(mutations(len(target.rows), len(target.header))),
        "fmt": draw(st.sampled_from(["xlsx", "csv"])),
        "corruption": draw(st.sampled_from(target.corruptions)),
        "cut": draw(st.floats(0.0, 1.0)),
        "garbage": draw(st.binary(max_size=64)),
    }


@dataclass
class Counts:
    """Outcome counts of a fuzz run (``untyped`` and ``unnamed`` must stay 0)."""

    cases: int = 0
    ok: int = 0
    typed: int = 0
    untyped: int = 0
    unnamed: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        for name in ("cases", "ok", "typed", "untyped", "unnamed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures.extend(other.failures)


@dataclass
class Target:
    """One annotation reader: its fake tree, base table and read function."""

    name: str
    header: list
    rows: list[list]
    fields: dict[str, str]  # standard field -> header text (for the onset/offset/apex edits)
    build: Callable[[Path], tuple[Path, str]]  # tree root -> (dataset root, annotation file stem)
    read: Callable[[Path, Path, bool], Any]  # (root, annotation, strict) -> anything
    sheet: str = "Sheet1"
    preamble: list[list] = field(default_factory=list)
    kind: str = "sheet"  # "sheet" (xlsx/csv) or "text" (written by its own writer)
    #: corruptions that still leave a file the reader looks at (a renamed CK+ label file is simply not a label file)
    corruptions: tuple[str, ...] = CORRUPTIONS
    writer: Callable[[list[list], Path], None] | None = None


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
    text = "\r\n".join(",".join(_csv_text(v) for v in row) for row in rows)
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
    name = _csv_text(rows[0][0]).replace("/", "_").replace("\x00", "") or "x"
    emotion_dir = path.parent
    shutil.rmtree(emotion_dir.parent.parent, ignore_errors=True)
    emotion_dir.mkdir(parents=True)
    text = "\n".join(" ".join(_csv_text(v) for v in row) for row in rows[1:])
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
        sheet.append([_xlsx_value(v) for v in row])
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


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def apply_mutations(target: Target, edits: list[tuple]) -> list[list]:
    """The base table (header first) with ``edits`` applied; edits outside the table are ignored."""
    table = [list(target.header)] + [list(r) for r in target.rows]

    def position(name: str | None) -> int | None:
        header = table[0]
        return header.index(name) if name in header else None

    for edit in edits:
        op, args = edit[0], edit[1:]
        width = len(table[0])
        if op == "cell" and args[0] + 1 < len(table) and args[1] < width:
            table[args[0] + 1][args[1]] = args[2]
        elif op == "header" and args[0] < width:
            table[0][args[0]] = args[1]
        elif op == "drop_col" and args[0] < width and width > 1:
            for row in table:
                if args[0] < len(row):
                    del row[args[0]]
        elif op == "dup_row" and args[0] + 1 < len(table):
            table.insert(args[0] + 2, list(table[args[0] + 1]))
        elif op == "empty_row" and args[0] + 1 <= len(table):
            table.insert(args[0] + 1, [None] * width)
        elif op == "drop_row" and args[0] + 1 < len(table):
            del table[args[0] + 1]
        elif op == "swap_onset_offset" and args[0] + 1 < len(table):
            i, j = position(target.fields.get("onset")), position(target.fields.get("offset"))
            if i is not None and j is not None:
                row = table[args[0] + 1]
                row[i], row[j] = row[j], row[i]
        elif op in ("apex_slash", "au") and args[0] + 1 < len(table):
            i = position(target.fields.get("apex" if op == "apex_slash" else "au"))
            if i is not None:
                table[args[0] + 1][i] = "/" if op == "apex_slash" else args[1]
        elif op == "extra_col":
            for k, row in enumerate(table):
                row.append(args[0] if k else "extra")
    return table


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)  # Excel stores numbers as doubles; openpyxl refuses nothing, but keep the text
    return value


def write_table(target: Target, table: list[list], path: Path, fmt: str) -> None:
    """Write ``table`` (preamble + table) as an .xlsx workbook or a CSV file at ``path``."""
    rows = [list(r) for r in target.preamble] + table
    if target.kind in ("text", "workbook") and target.writer is not None:
        target.writer(table, path)
    elif fmt == "xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = target.sheet
        for row in rows:
            sheet.append([_xlsx_value(v) for v in row])
        book.create_sheet("Sheet2")
        book.save(path)
    else:
        buffer = io.StringIO()
        csv.writer(buffer).writerows([[_csv_text(v) for v in row] for row in rows])
        path.write_text(buffer.getvalue(), "utf-8", errors="surrogatepass")


def corrupt(path: Path, corruption: str, cut: float, garbage: bytes) -> Path:
    """Damage the file at ``path`` in one of :data:`CORRUPTIONS` ways; returns the (maybe renamed) path."""
    if corruption == "none" or not path.is_file():
        return path
    data = path.read_bytes()
    if corruption == "zero":
        data = b""
    elif corruption == "truncate":
        data = data[: int(len(data) * cut)]
    elif corruption == "garbage":
        data = garbage
    elif corruption == "png":
        data = b"\x89PNG\r\n\x1a\n" + garbage
    elif corruption == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("readme.txt", garbage)
        data = buffer.getvalue()
    elif corruption == "bad_utf8":
        data = data[: int(len(data) * cut)] + b"\xff\xfe\xc3(" + data[int(len(data) * cut):]
    elif corruption == "nul":
        data = data[: int(len(data) * cut)] + b"\x00" + data[int(len(data) * cut):]
    elif corruption == "suffix":
        renamed = path.with_suffix(".xls" if cut < 0.5 else ".txt")
        path.rename(renamed)
        return renamed
    path.write_bytes(data)
    return path


class Workspace:
    """A target's fake tree, built once; every case rewrites only the annotation file."""

    def __init__(self, target: Target, base: Path) -> None:
        self.target = target
        base.mkdir(parents=True, exist_ok=True)
        self.root, stem = target.build(base)
        self.stem = self.root / stem

    def annotation_path(self, fmt: str) -> Path:
        suffix = (".txt" if self.target.name == "ckplus" else ".xlsx" if self.target.kind == "workbook"
                  else ".csv" if self.target.kind == "text" or fmt == "csv" else ".xlsx")
        for old in self.stem.parent.glob(self.stem.name + ".*"):
            old.unlink()
        self.stem.parent.mkdir(parents=True, exist_ok=True)
        return self.stem.with_suffix(suffix)


def run_case(ws: Workspace, edits: list[tuple], fmt: str, corruption: str, cut: float, garbage: bytes) -> Counts:  # noqa: PLR0913
    """Write one mutated annotation and read it strictly and leniently; count the outcomes."""
    target = ws.target
    counts = Counts(cases=1)
    path = ws.annotation_path(fmt)
    write_table(target, apply_mutations(target, edits), path, fmt)
    if target.name == "ckplus":
        found = sorted(path.parent.glob("*"))
        path = found[0] if found else path
    path = corrupt(path, corruption, cut, garbage)
    describe = f"{target.name} {fmt} {corruption} {edits!r}"
    outcomes = []
    for strict in (True, False):
        try:
            loader = target.read(ws.root, path, strict)
            if hasattr(loader, "load"):
                loader.load()
                _check_report(loader, path, counts, describe)
            outcomes.append("ok")
        except MerkitError as exc:
            outcomes.append("typed")
            if not _names(str(exc), path):
                counts.unnamed += 1
                counts.failures.append(f"unnamed: {describe}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the point is to catch anything untyped
            outcomes.append("untyped")
            counts.untyped += 1
            counts.failures.append(f"untyped: {describe}: {type(exc).__name__}: {exc}")
    worst = "untyped" if "untyped" in outcomes else "typed" if "typed" in outcomes else "ok"
    counts.ok, counts.typed = int(worst == "ok"), int(worst == "typed")
    return counts


def _check_report(loader: Any, path: Path, counts: Counts, describe: str) -> None:
    """Every lenient-load error names the annotation file and its row or line."""
    report = getattr(loader, "report", None)
    for problem in getattr(report, "errors", []):
        message = problem.message
        if not _names(message, path) or not any(w in message for w in (" row ", " line ")):
            counts.unnamed += 1
            counts.failures.append(f"unnamed problem: {describe}: {message}")


def _names(message: str, path: Path) -> bool:
    """Whether ``message`` names the file ``path`` (as written, or as its repr shows odd characters)."""
    return any(name in message for name in (path.name, repr(path.name)[1:-1], repr(str(path))[1:-1]))
