"""Property-based fuzzing of every annotation reader: strategies, targets and the case runner.

The readers themselves (base tables, fake trees) are in ``tests/data/_fuzz_targets.py``.
Shared by ``tests/data/test_fuzz_annotations.py`` (a fast, derandomised slice in CI)
and ``benchmarks/perf/fuzz_annotations.py`` (10,000+ cases with counts).

A *target* is one reader: a fake dataset tree built once (frames on disk,
following docs/datasets.md, "Dataset layouts"), a valid base annotation (header + rows), and
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
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from merkit.errors import MerkitError

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


def csv_text(value: Any) -> str:
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


def xlsx_value(value: Any) -> Any:
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
            sheet.append([xlsx_value(v) for v in row])
        book.create_sheet("Sheet2")
        book.save(path)
    else:
        buffer = io.StringIO()
        csv.writer(buffer).writerows([[csv_text(v) for v in row] for row in rows])
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
