"""Annotation sheets read by *content*: header row found by its text, columns looked up by name.

Annotation workbooks move between releases: SAMM has 13 free-text preamble
rows in one release and none in another, blank-header columns come and go in
CASME II and SMIC-E (docs/datasets.md, "Rules every loader follows"). So nothing here uses
a row or column position: :func:`read_annotation` scans every sheet for the
first row that holds the header names, and :class:`ColumnSpec` maps each
standard field to the header spellings seen in public copies.

Cells keep their Excel type (``"01"`` stays text, ``1`` stays a number); the
loaders turn them into ids and frame numbers with :func:`cell_to_int` and
:func:`cell_to_text`, which name the file, row and column on bad values.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merkit.errors import AnnotationError, DatasetNotFoundError

__all__ = [
    "ColumnSpec", "AnnotationRow", "read_annotation", "read_text", "parse_csv", "cell_to_int", "cell_to_text", "normalise_header",
]

#: Values that mean "no frame number" in the datasets' sheets (CASME II apex '/', CAS(ME)^3 0 handled by loaders).
MISSING_MARKERS = frozenset({"", "/", "-", "na", "n/a", "nan", "none", "?"})


def normalise_header(text: Any) -> str:
    """Header text folded for matching: ``'Onset Frame'``, ``'OnsetFrame'``, ``'onset_frame'`` -> ``'onsetframe'``."""
    if text is None:
        return ""
    return re.sub(r"[^0-9a-z]+", "", str(text).casefold())


@dataclass(frozen=True)
class ColumnSpec:
    """Header spellings of one standard field.

    Attributes:
        field: the standard field name (``subject``, ``clip``, ``onset``, ...).
        headers: accepted header texts, compared after :func:`normalise_header`.
        required: whether a sheet without this column is an error.
    """

    field: str
    headers: tuple[str, ...]
    required: bool = True

    def matches(self, header: Any) -> bool:
        return normalise_header(header) in {normalise_header(h) for h in self.headers}


@dataclass(frozen=True)
class AnnotationRow:
    """One data row of an annotation sheet.

    Attributes:
        values: ``{field: raw cell value}`` for every field found in the header.
        where: ``"<file name> sheet '<sheet>' row <n>"`` (Excel's 1-based row number) for messages.
    """

    values: Mapping[str, Any]
    where: str


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip()
    )


def cell_to_text(value: Any) -> str:
    """Cell as text: ``None`` -> ``''``, ``12`` -> ``'12'``, ``12.0`` -> ``'12'``, strings stripped."""
    if _is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def cell_to_int(value: Any, where: str, column: str, allow_missing: bool = False) -> int | None:
    """Parse a frame number or numeric id from a cell.

    Args:
        value: the raw cell (int, float, text).
        where: row description for the message (``"SAMM.xlsx sheet 'MICRO_ONLY' row 15"``).
        column: column name for the message.
        allow_missing: return ``None`` for blank cells and the markers ``/``, ``-``, ``?``, ``n/a``.

    Returns:
        The integer, or ``None`` for a missing value when ``allow_missing``.

    Raises:
        AnnotationError: the cell is not an integer (or is missing and not allowed).
    """
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and not math.isnan(value):
        if value.is_integer():
            return int(value)
    text = cell_to_text(value)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if allow_missing and text.casefold() in MISSING_MARKERS:
        return None
    expected = "an integer frame number" + (" or a missing marker ('/', blank)" if allow_missing else "")
    raise AnnotationError(f"{where}: column {column!r} must hold {expected}; got {value!r}.")


def read_text(path: str | Path, what: str, data: bytes | None = None) -> str:
    """The text of an annotation file (UTF-8, optional BOM), or an error naming the file.

    Args:
        path: the file (read unless ``data`` is given).
        what: what the file should be, for the message (``"a CSV annotation file"``).
        data: the file's bytes when already read.

    Raises:
        AnnotationError: the file cannot be read, is not UTF-8 text, or holds a NUL byte
            (a binary file such as a workbook saved with a .csv name).
    """
    try:
        data = Path(path).read_bytes() if data is None else data
    except OSError as exc:
        raise AnnotationError(f"annotation file {str(path)!r} cannot be read ({exc.strerror or exc}); expected {what}.") from None
    if b"\x00" in data:
        position = data.index(b"\x00")
        raise AnnotationError(
            f"annotation file {str(path)!r} holds a NUL byte at offset {position}: it is binary, not {what} "
            f"(an .xlsx workbook must keep its .xlsx name)."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AnnotationError(
            f"annotation file {str(path)!r} line {line}: byte {data[exc.start:exc.start + 1]!r} at offset {exc.start} is not "
            f"UTF-8; expected {what} saved as UTF-8 text."
        ) from None


def parse_csv(text: str, name: str) -> list[list[str]]:
    """Rows of CSV ``text`` (``name`` is the file, for messages)."""
    try:
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise AnnotationError(f"annotation file {name!r}: not a valid CSV file ({exc}).") from None


def _read_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """All sheets of ``path`` as lists of row tuples (row 1 first)."""
    suffix = path.suffix.casefold()
    if suffix == ".csv":
        text = read_text(path, "a CSV annotation file")
        return {"csv": [tuple(r) for r in parse_csv(text, str(path))]}
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl  # deferred: openpyxl costs ~160 ms; only .xlsx annotation files need it

        try:
            # data_only: the cached result of formula cells (SAMM's Duration column is a formula)
            book = openpyxl.load_workbook(path, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError kinds on corrupt files
            raise AnnotationError(
                f"annotation file {str(path)!r} cannot be read as an .xlsx workbook ({type(exc).__name__}: {exc})."
            ) from exc
        sheets = {}
        for sheet in book.worksheets:
            sheets[sheet.title] = [tuple(row) for row in sheet.iter_rows(min_row=1, values_only=True)]
        return sheets
    raise AnnotationError(
        f"annotation file {str(path)!r} has unsupported type {path.suffix!r}; expected .xlsx or .csv "
        f"(open an .xls file in a spreadsheet program and save it as .xlsx)."
    )


def read_annotation(
    path: str | Path,
    columns: Sequence[ColumnSpec],
    sheet: str | Sequence[str] | None = None,
) -> tuple[list[AnnotationRow], dict[str, str]]:
    """Read the data rows of an annotation sheet, locating the header by content.

    The header row is the first row (of the preferred sheet, else of any
    sheet in workbook order) that contains a header of every required column.
    Data rows are the rows below it; rows whose required cells are all blank
    (formatted empty rows at the bottom of real sheets) are dropped.

    Args:
        path: ``.xlsx`` or ``.csv`` file.
        columns: the fields to look up; every ``required`` one must be present.
        sheet: preferred sheet name(s); other sheets are tried after them.

    Returns:
        ``(rows, headers)``: the data rows, and ``{field: header text as written}``.

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        AnnotationError: no sheet has a header with the required columns; the
            message lists the expected header spellings and what each sheet holds.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"annotation file {str(path)!r} does not exist; expected the dataset's annotation sheet.")
    sheets = _read_rows(path)
    preferred = [sheet] if isinstance(sheet, str) else list(sheet or [])
    order = [s for s in preferred if s in sheets] + [s for s in sheets if s not in preferred]
    required = [c for c in columns if c.required]
    seen: list[str] = []
    for name in order:
        rows = sheets[name]
        for row_index, row in enumerate(rows):
            positions = _match_header(row, columns)
            if all(c.field in positions for c in required):
                return _data_rows(path, name, rows, row_index, positions, required), {
                    f: cell_to_text(row[i]) for f, i in positions.items()
                }
        first = next((r for r in rows if any(not _is_blank(v) for v in r)), ())
        seen.append(f"sheet {name!r} (first non-empty row: {[cell_to_text(v) for v in first if not _is_blank(v)][:12]!r})")
    expected = {c.field: list(c.headers) for c in required}
    raise AnnotationError(
        f"annotation file {str(path)!r}: unknown column layout; expected a header row with the columns "
        f"{expected!r} (any one spelling each), found none in {'; '.join(seen) or 'an empty file'}."
    )


def _match_header(row: tuple[Any, ...], columns: Sequence[ColumnSpec]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for spec in columns:
        for i, cell in enumerate(row):
            if spec.matches(cell):
                positions[spec.field] = i
                break
    return positions


def _data_rows(
    path: Path,
    sheet: str,
    rows: list[tuple[Any, ...]],
    header_index: int,
    positions: dict[str, int],
    required: Sequence[ColumnSpec],
) -> list[AnnotationRow]:
    out = []
    label = path.name if sheet == "csv" else f"{path.name} sheet {sheet!r}"
    for index in range(header_index + 1, len(rows)):
        row = rows[index]
        values = {f: (row[i] if i < len(row) else None) for f, i in positions.items()}
        if all(_is_blank(values[c.field]) for c in required):
            continue
        out.append(AnnotationRow(values, f"{label} row {index + 1}"))
    return out
