"""Fuzz every annotation reader with generated cases and count the outcomes.

    .venv/bin/python -m benchmarks.perf.fuzz_annotations --cases 10000

Run it from the repository root as a module: it imports the strategies of the ``tests`` package.

Cases come from the hypothesis strategies of ``tests/data/_fuzz.py`` (mutated
tables of CASME II, SAMM, SMIC-E, CASME, CAS(ME)^3, MMEW, 4DME, the MEGC2019
list, correction tables, CK+ emotion files and the long-video sheets of CAS(ME)^2 and
SAMM-LV; xlsx and CSV; zero-byte,
truncated, garbage, PNG, non-workbook zip, bad UTF-8, NUL, wrong suffix).
Each case is read strictly and leniently through the public loaders. Printed:
cases, parsed OK, typed merkit errors, untyped exceptions and errors that do
not name the file/row (both must be 0), per target and in total; exit status 1
when either is not 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from tests.data._fuzz import Counts, Workspace, cases, run_case
from tests.data._fuzz_targets import TARGETS, long_targets

ALL = {**TARGETS, **long_targets()}


def fuzz_target(name: str, n: int, seed: int, base: Path) -> Counts:
    """Run ``n`` generated cases against one target; never stops at a failure."""
    ws = Workspace(ALL[name], base / name)
    total = Counts()

    def body(case: dict) -> None:
        total.add(run_case(ws, **case))

    run = settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate], derandomize=seed == 0,
                   suppress_health_check=list(HealthCheck))(given(case=cases(ALL[name]))(body))
    if seed:
        run = hypothesis.seed(seed)(run)
    run()
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000,
                        help="total generated cases, split evenly over the targets")
    parser.add_argument("--seed", type=int, default=0, help="0: derandomised (the same cases every run)")
    parser.add_argument("--targets", nargs="*", default=sorted(ALL))
    parser.add_argument("--show", type=int, default=5, help="failures printed per target")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # loaders log every skipped row; only the counts matter here
    warnings.simplefilter("ignore")
    per_target = -(-args.cases // len(args.targets))
    grand = Counts()
    start = time.perf_counter()
    print(f"{'target':12s} {'cases':>6s} {'ok':>6s} {'typed':>6s} {'untyped':>8s} {'unnamed':>8s} {'s':>6s}")
    with tempfile.TemporaryDirectory(prefix="merkit-fuzz-") as tmp:
        for name in args.targets:
            t0 = time.perf_counter()
            counts = fuzz_target(name, per_target, args.seed, Path(tmp))
            grand.add(counts)
            print(f"{name:12s} {counts.cases:6d} {counts.ok:6d} {counts.typed:6d} {counts.untyped:8d} "
                  f"{counts.unnamed:8d} {time.perf_counter() - t0:6.1f}", flush=True)
            for failure in counts.failures[: args.show]:
                print("   ", failure[:400])
    print(f"{'total':12s} {grand.cases:6d} {grand.ok:6d} {grand.typed:6d} {grand.untyped:8d} {grand.unnamed:8d} "
          f"{time.perf_counter() - start:6.1f}")
    print(f"cases {grand.cases}, parsed OK {grand.ok}, typed merkit errors {grand.typed}, "
          f"untyped exceptions {grand.untyped}, errors not naming file/row {grand.unnamed}")
    return 0 if grand.untyped == 0 and grand.unnamed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
