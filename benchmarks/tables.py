"""Rewrite the generated tables of BENCHMARKS.md from ``benchmarks/results/*.csv``; ``--check`` says if they are stale.

Every table of BENCHMARKS.md sits between two marker comments::

    <!-- table: NAME -->
    ...generated...
    <!-- end table -->

``NAME`` is ``TOPIC`` (the rows of ``results/TOPIC.csv``) or ``TOPIC/PART`` (its rows whose ``table``
column is ``PART``). Cells are copied as written in the CSV (the CSV holds the figure as measured;
nothing is rounded here); columns empty in every selected row are left out. The provenance columns
``machine``, ``commit`` and ``command`` are printed once under the table when every row shares them,
else as columns. ``amplitude_ladder/entries`` and ``amplitude_ladder/ablations`` are the amplitude
ladder's table (``benchmarks.studies.ladder.report``, the text its ``report`` prints) over the recorded
cells: the main entries, and the ablations the seeds' direction claims compare (``DIRECTIONS``; the
other recorded cells are in the CSV and in ``report``'s table).

Every results CSV must feed at least one table, and every ``table`` part of it one block.

    python -m benchmarks.tables            # rewrite BENCHMARKS.md
    python -m benchmarks.tables --check    # exit 1 (and name the blocks) if BENCHMARKS.md is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "BENCHMARKS.md"
PROVENANCE = ("machine", "commit", "command")
LADDER = "amplitude_ladder"
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w/]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)
NUMBER = re.compile(r"^[-+]?[\d.,]+( ?(±|\+-) ?[\d.,]+)?( ?%| s| ms| MB)?$")


def read(topic: str) -> pd.DataFrame:
    path = RESULTS / f"{topic}.csv"
    if not path.exists():
        raise SystemExit(f"BENCHMARKS.md names table {topic!r}, but {path.relative_to(ROOT)} does not exist")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def code(text: str) -> str:
    return f"`{text}`" if text and text != "-" else text or "-"


def markdown(frame: pd.DataFrame) -> list[str]:
    """A Markdown table of ``frame``'s columns (right-aligned where every cell is a number)."""
    def align(column: str) -> str:
        cells = [c for c in frame[column] if c not in ("", "-", "–")]
        return "---:" if cells and all(NUMBER.match(c) for c in cells) else "---"

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "|".join(align(c) for c in frame.columns) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell if cell != "" else "–" for cell in row) + " |")
    return lines


def generic(name: str) -> list[str]:
    topic, _, part = name.partition("/")
    frame = read(topic)
    if part:
        if "table" not in frame:
            raise SystemExit(f"{topic}.csv has no 'table' column, so BENCHMARKS.md cannot select {name!r}")
        frame = frame[frame["table"] == part]
        if frame.empty:
            raise SystemExit(f"{topic}.csv has no rows with table = {part!r} (BENCHMARKS.md names {name!r})")
    frame = frame.drop(columns=["table"], errors="ignore")
    frame = frame[[c for c in frame.columns if (frame[c] != "").any()]].reset_index(drop=True)
    missing = [c for c in PROVENANCE if c not in frame]
    if missing:
        raise SystemExit(f"{topic}.csv lacks the column(s) {missing}: every figure needs machine, commit and command")
    shared = []
    for column in PROVENANCE:
        values = list(dict.fromkeys(frame[column]))
        if len(values) == 1:
            shared.append(f"{column}: {values[0] if column == 'machine' else code(values[0])}")
            frame = frame.drop(columns=[column])
        elif column != "machine":
            frame[column] = [code(v) for v in frame[column]]
    lines = markdown(frame)
    if shared:
        line = "; ".join(shared)
        lines += ["", line[0].upper() + line[1:] + "."]
    else:
        lines.append("")  # a blank line ends the table before the end marker
    return lines


def ladder(part: str) -> list[str]:
    from benchmarks.studies.ladder import report
    from benchmarks.studies.ladder.run import DIRECTIONS, ENTRIES

    if part not in ("entries", "ablations"):
        raise SystemExit(f"{LADDER}/{part}: the ladder has the parts 'entries' and 'ablations'")
    stats, mean, p95 = report.summary(None, RESULTS / f"{LADDER}.csv")
    order = report.entry_order(stats)
    compared = {name for chain in DIRECTIONS.values() for name in chain}
    names = [n for n in order if (n in ENTRIES if part == "entries" else n not in ENTRIES and n in compared)]
    lines = report.table_lines(stats, names, provenance=True)
    lines.append("")
    if part == "entries":
        lines += [f"Chance (2,000 permutations of the 67 labels): UF1 mean {mean:.3f}, 95th percentile {p95:.3f}; "
                      "bold: mean minus seed std above it."]
    return lines


def render(name: str) -> str:
    topic, _, part = name.partition("/")
    lines = ladder(part) if topic == LADDER else generic(name)
    return "\n".join(lines) + "\n"


def unused(names: list[str]) -> list[str]:
    """Results CSVs (or parts of them) that no block of BENCHMARKS.md shows."""
    shown = set(names)
    out = []
    for path in sorted(RESULTS.glob("*.csv")):
        topic = path.stem
        if topic == LADDER:
            out += [f"{LADDER}/{p}" for p in ("entries", "ablations") if f"{LADDER}/{p}" not in shown]
            continue
        frame = read(topic)
        parts = sorted(set(frame["table"])) if "table" in frame else [""]
        out += [f"{topic}/{p}" if p else topic for p in parts
                if (f"{topic}/{p}" if p else topic) not in shown and topic not in shown]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if BENCHMARKS.md is out of date")
    args = parser.parse_args()
    text = DOC.read_text()
    names = [m["name"] for m in BLOCK.finditer(text)]
    stale = []

    def replace(match: re.Match) -> str:
        body = render(match["name"])
        if body != match["body"]:
            stale.append(match["name"])
        return match.group(1) + body + match.group(4)

    new = BLOCK.sub(replace, text)
    left = unused(names)
    if left:
        print(f"results not shown in BENCHMARKS.md: {', '.join(left)} (add a <!-- table: ... --> block)",
              file=sys.stderr)
    if args.check:
        if stale:
            print(f"BENCHMARKS.md is out of date in: {', '.join(stale)}; run `python -m benchmarks.tables`",
                  file=sys.stderr)
        return 1 if stale or left else 0
    if new != text:
        DOC.write_text(new)
        print(f"rewrote {len(stale)} table(s): {', '.join(stale)}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
