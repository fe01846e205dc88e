"""Pool the seeds of finished run directories into the paper's table layout: Full and per-source UF1/UAR.

One method may be split over several run directories (one per seed, run side by side): each
``NAME=RUN_DIR[,RUN_DIR...]`` argument is one row. Prints
:func:`merkit.evaluation.report.format_table` (mean +- sample std over seeds of the pooled metrics),
then each row's Full UF1 and UAR per seed. A run directory with ``select_on_test`` is marked
``(SELECT-ON-TEST)``; a seed found in two directories of one row is an error.

    .venv/bin/python -m benchmarks.studies.compare_runs "NAME=RUN_DIR[,RUN_DIR...]" ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from merkit.evaluation.report import format_table


def compare(specs: list[str]) -> None:
    rows, datasets, per_seed_lines = {}, [], []
    for spec in specs:
        name, dirs = spec.split("=", 1)
        reports = {}
        for d in dirs.split(","):
            metrics = json.loads((Path(d) / "metrics.json").read_text())
            if metrics.get("select_on_test"):
                name += " (SELECT-ON-TEST)"
            datasets += [x for x in metrics["datasets"] if x not in datasets]
            twice = set(reports) & set(metrics["per_seed"])
            if twice:
                raise SystemExit(f"{name}: seed(s) {sorted(twice)} appear in two run directories ({d}).")
            reports.update(metrics["per_seed"])
        summary = {}
        for scope in ["full"] + datasets:
            summary[scope] = {}
            for score in ("uf1", "uar"):
                values = [r["pooled"][score] if scope == "full" else r["per_dataset"][scope][score]
                          for r in reports.values() if scope == "full" or scope in r["per_dataset"]]
                values = np.array([np.nan if v is None else v for v in values], dtype=float)
                values = values[~np.isnan(values)]
                summary[scope][score] = {"mean": float(values.mean()) if values.size else None,
                                         "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                                         "n_seeds": int(values.size)}
        rows[name] = summary
        cells = ", ".join(f"seed {k}: {r['pooled']['uf1']:.4f} / {r['pooled']['uar']:.4f}"
                          for k, r in sorted(reports.items()))
        per_seed_lines.append(f"- {name}: {cells}")
    print(format_table(rows, datasets))
    print()
    print("Full UF1 / UAR per seed:")
    print("\n".join(per_seed_lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR[,RUN_DIR...]")
    compare(parser.parse_args().runs)


if __name__ == "__main__":
    main()
