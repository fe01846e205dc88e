"""BENCHMARKS.md holds the current figures only: generated from benchmarks/results/*.csv, short, no diary labels."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "BENCHMARKS.md"


def test_tables_match_the_results_csvs():
    done = subprocess.run([sys.executable, "-m", "benchmarks.tables", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_benchmarks_md_is_short():
    lines = DOC.read_text().splitlines()
    assert len(lines) <= 200, f"BENCHMARKS.md has {len(lines)} lines; keep the current figures only (at most 200)"


def test_no_work_period_labels():
    text = DOC.read_text()
    found = re.findall(r"\b[Ss]tops? \d+", text)
    assert not found, f"BENCHMARKS.md labels figures by work period: {sorted(set(found))}; date them by commit"
