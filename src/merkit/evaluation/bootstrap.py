"""Bootstrap confidence intervals on pooled UF1 / UAR, and multi-run comparison tables.

:func:`bootstrap_ci` resamples *subjects* with replacement (named option
``unit="subject"``, default; samples of one subject are correlated, so a
sample-level bootstrap (``unit="sample"``) gives intervals that are too
narrow). Each replicate recomputes the pooled MEGC2019 metrics of every seed
on the same resampled subjects and averages them over seeds, so the interval
is for the seed-mean score the report shows. Percentile interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from merkit.errors import ProtocolError
from merkit.evaluation.report import format_table

__all__ = ["bootstrap_ci", "compare_runs"]


def _scores(cm: np.ndarray) -> tuple[float, float]:
    # (R, K, K) confusion matrices -> UF1, UAR per replicate over classes with defined values
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(float)
    support = cm.sum(2).astype(float)
    predicted = cm.sum(1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan)
        recall = np.where(support > 0, tp / support, np.nan)
    return np.nanmean(f1, 1), np.nanmean(recall, 1)


def bootstrap_ci(
    predictions: pd.DataFrame,
    classes: Sequence[str],
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    unit: str = "subject",
) -> dict:
    """Percentile bootstrap interval of the seed-mean pooled UF1 and UAR.

    Args:
        predictions: rows as the runner writes them (``subject_key``, ``seed``, ``true_label``, ``pred_label``).
        classes: the protocol's classes.
        n_boot: resamples.
        confidence: interval coverage (0.95 -> 2.5th and 97.5th percentiles).
        seed: seeds the resampling.
        unit: ``"subject"`` or ``"sample"`` (module docstring).

    Returns:
        ``{"uf1": {"low", "high", "point"}, "uar": {...}, "n_boot", "confidence", "unit"}``.
    """
    if unit not in ("subject", "sample"):
        raise ProtocolError(f"bootstrap unit must be 'subject' or 'sample'; got {unit!r}.")
    if not 0 < confidence < 1 or n_boot < 1:
        raise ProtocolError(f"need 0 < confidence < 1 and n_boot >= 1; got {confidence!r}, {n_boot!r}.")
    classes = list(classes)
    lookup = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    seeds = sorted(predictions["seed"].unique())
    units = predictions["subject_key"] if unit == "subject" else predictions["sample_key"]
    names = sorted(units.unique())
    unit_id = units.map({u: i for i, u in enumerate(names)}).to_numpy()
    cell = predictions["true_label"].map(lookup).to_numpy() * k + predictions["pred_label"].map(lookup).to_numpy()
    seed_pos = predictions["seed"].map({s: i for i, s in enumerate(seeds)}).to_numpy()
    # per (seed, unit) confusion counts, then each replicate is a weighted sum over units
    counts = np.zeros((len(seeds), len(names), k * k))
    np.add.at(counts, (seed_pos, unit_id, cell), 1)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(n_boot, len(names)))
    weights = np.stack([np.bincount(d, minlength=len(names)) for d in draws]).astype(float)  # (R, U)
    uf1 = np.zeros(n_boot)
    uar = np.zeros(n_boot)
    for s in range(len(seeds)):
        cm = (weights @ counts[s]).reshape(n_boot, k, k)
        f, r = _scores(cm)
        uf1 += f / len(seeds)
        uar += r / len(seeds)
    point_f = np.mean([_scores(counts[s].sum(0).reshape(1, k, k))[0][0] for s in range(len(seeds))])
    point_r = np.mean([_scores(counts[s].sum(0).reshape(1, k, k))[1][0] for s in range(len(seeds))])
    lo, hi = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100
    return {
        "uf1": {"point": float(point_f), "low": float(np.nanpercentile(uf1, lo)),
                "high": float(np.nanpercentile(uf1, hi))},
        "uar": {"point": float(point_r), "low": float(np.nanpercentile(uar, lo)),
                "high": float(np.nanpercentile(uar, hi))},
        "n_boot": int(n_boot),
        "confidence": float(confidence),
        "unit": unit,
        "seeds": [int(s) for s in seeds],
    }


def compare_runs(run_dirs: dict[str, str | Path]) -> str:
    """Markdown tables comparing finished runs: the paper-style table, then Full UF1/UAR with CIs.

    Args:
        run_dirs: row name -> run directory (with ``metrics.json``; ``bootstrap.json`` if present).
    """
    rows, datasets, ci_lines = {}, [], []
    for name, path in run_dirs.items():
        path = Path(path)
        metrics = json.loads((path / "metrics.json").read_text())
        label = f"{name} (SELECT-ON-TEST)" if metrics.get("select_on_test") else name
        rows[label] = metrics["summary"]
        datasets += [d for d in metrics["datasets"] if d not in datasets]
        full = metrics["summary"]["full"]
        ci = json.loads((path / "bootstrap.json").read_text()) if (path / "bootstrap.json").exists() else None
        cells = []
        for score in ("uf1", "uar"):
            m, s = full[score]["mean"], full[score]["std"]
            text = "n/a" if m is None else f"{m:.4f} ± {s:.4f}"
            if ci:
                text += f" [{ci[score]['low']:.4f}, {ci[score]['high']:.4f}]"
            cells.append(text)
        ci_lines.append(f"| {label} | {len(metrics['seeds'])} | {cells[0]} | {cells[1]} |")
    head = [
        format_table(rows, datasets),
        "",
        "| Method | seeds | Full UF1 mean ± std [95% CI] | Full UAR mean ± std [95% CI] |",
        "|---|---:|---|---|",
    ]
    return "\n".join(head + ci_lines)
