"""Scoring saved predictions and writing the paper-style report.

:func:`score_predictions` turns the per-fold prediction rows of a run into
the metrics dict stored in ``metrics.json``:

* ``per_seed[seed]``: pooled metrics (MEGC2019: one confusion matrix over all
  folds), ``per_dataset`` (pooled within each source), ``per_fold``;
* ``summary``: mean and standard deviation over seeds of UF1, UAR, accuracy
  and weighted F1, for ``full`` and for each dataset.

:func:`write_report` renders ``report.md`` (the papers' layout: Full and per
dataset, UF1 and UAR) and confusion matrices as PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from merkit._io import atomic_path, write_text
from merkit.evaluation.metrics import per_group_reports, pooled_report

__all__ = ["score_predictions", "write_report", "format_table", "DATASET_TITLES"]

SCORES = ("uf1", "uar", "accuracy", "weighted_f1")

#: How the report titles each source.
DATASET_TITLES = {
    "full": "Full", "casme2": "CASME II", "samm": "SAMM", "smic_hs": "SMIC", "smic_vis": "SMIC-VIS",
    "smic_nir": "SMIC-NIR", "casme": "CASME", "casme3_a": "CAS(ME)^3", "mmew": "MMEW", "fourdme": "4DME",
    "casme_sq": "CAS(ME)^2",
}

_SELECT_ON_TEST_NOTE = (
    "SELECT-ON-TEST: selection used the test subject (paper-style, optimistic); "
    "these numbers are not an honest estimate."
)


def score_predictions(predictions: pd.DataFrame, classes: list[str], select_on_test: bool = False) -> dict:
    """Metrics of a run from its prediction rows (columns as written by the runner)."""
    per_seed = {}
    for seed, part in sorted(predictions.groupby("seed"), key=lambda kv: int(kv[0])):
        per_seed[str(int(seed))] = {
            "pooled": pooled_report(part, classes).to_dict(),
            "per_dataset": {k: v.to_dict() for k, v in per_group_reports(part, "dataset", classes).items()},
            "per_fold": {k: v.to_dict() for k, v in per_group_reports(part, "fold", classes).items()},
        }
    datasets = sorted(predictions["dataset"].unique())
    summary = {"full": _mean_std([s["pooled"] for s in per_seed.values()])}
    for d in datasets:
        summary[d] = _mean_std([s["per_dataset"][d] for s in per_seed.values() if d in s["per_dataset"]])
    metrics = {
        "classes": classes,
        "seeds": [int(s) for s in per_seed],
        "n_predictions_per_seed": {k: v["pooled"]["n"] for k, v in per_seed.items()},
        "datasets": datasets,
        "metric_definition": "MEGC2019: UF1/UAR from one confusion matrix pooled over all folds",
        "select_on_test": bool(select_on_test),
        "summary": summary,
        "per_seed": per_seed,
    }
    if select_on_test:
        metrics["WARNING"] = _SELECT_ON_TEST_NOTE
    return metrics


def _mean_std(reports: list[dict]) -> dict:
    out = {}
    for score in SCORES:
        values = np.array([np.nan if r[score] is None else r[score] for r in reports], dtype=float)
        defined = values[~np.isnan(values)]
        out[score] = {
            "mean": float(defined.mean()) if defined.size else None,
            # sample standard deviation over seeds (ddof=1); 0 for a single seed
            "std": float(defined.std(ddof=1)) if defined.size > 1 else (0.0 if defined.size else None),
            "n_seeds": int(defined.size),
        }
    return out


def format_table(rows: dict[str, dict], datasets: list[str]) -> str:
    """Markdown table: one row per method, columns Full and each dataset (UF1, UAR), mean +- std.

    Args:
        rows: ``{method name: metrics["summary"]}``.
        datasets: dataset columns in order.
    """
    scopes = ["full"] + datasets
    titles = ["Full"] + [DATASET_TITLES.get(d, d) for d in datasets]
    header = "| Method | " + " | ".join(f"{t} UF1 | {t} UAR" for t in titles) + " |"
    rule = "|---|" + "---:|" * (2 * len(scopes))
    lines = [header, rule]
    for name, summary in rows.items():
        cells = []
        for scope in scopes:
            for score in ("uf1", "uar"):
                s = summary.get(scope, {}).get(score)
                cells.append(_fmt(s))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(stat: dict | None) -> str:
    if not stat or stat["mean"] is None:
        return "n/a"
    if stat["n_seeds"] > 1:
        return f"{stat['mean']:.4f} ± {stat['std']:.4f}"
    return f"{stat['mean']:.4f}"


def write_report(run_dir: str | Path, metrics: dict, method_name: str = "model") -> Path:
    """Write ``report.md`` and ``confusion_<scope>.png`` into ``run_dir``; return the report path."""
    run_dir = Path(run_dir)
    datasets = metrics["datasets"]
    seeds = metrics["seeds"]
    lines = ["# merkit evaluation report", ""]
    if metrics.get("select_on_test"):
        lines += [f"> **{_SELECT_ON_TEST_NOTE}**", ""]
    lines += [
        f"Seeds: {', '.join(map(str, seeds))} (mean ± std over seeds where more than one). "
        "UF1 and UAR are pooled over all folds (MEGC2019 definition).",
        "",
        format_table({method_name: metrics["summary"]}, datasets),
        "",
        "## Accuracy and weighted F1",
        "",
        "| scope | accuracy | weighted F1 |",
        "|---|---:|---:|",
    ]
    for scope in ["full"] + datasets:
        s = metrics["summary"][scope]
        lines.append(f"| {DATASET_TITLES.get(scope, scope)} | {_fmt(s['accuracy'])} | {_fmt(s['weighted_f1'])} |")
    lines += ["", "## Per seed", "", "| seed | UF1 | UAR | accuracy | n |", "|---|---:|---:|---:|---:|"]
    for seed, result in metrics["per_seed"].items():
        p = result["pooled"]
        lines.append(f"| {seed} | {_num(p['uf1'])} | {_num(p['uar'])} | {_num(p['accuracy'])} | {p['n']} |")
    first = metrics["per_seed"][str(seeds[0])]
    lines += ["", f"## Per fold (seed {seeds[0]})", "", "| fold | n | accuracy | UF1 | UAR | undefined classes |",
              "|---|---:|---:|---:|---:|---|"]
    for fold, r in first["per_fold"].items():
        undefined = sorted(set(r["undefined"]["f1"]) | set(r["undefined"]["recall"]))
        lines.append(
            f"| {fold} | {r['n']} | {_num(r['accuracy'])} | {_num(r['uf1'])} | {_num(r['uar'])} | "
            f"{', '.join(undefined)} |"
        )
    lines += ["", "Per-fold UF1/UAR leave out classes that are undefined in that fold (see docs/metrics.md).", ""]
    lines += [f"## Confusion matrices (seed {seeds[0]}; rows true, columns predicted)", ""]
    scopes = {"full": first["pooled"], **first["per_dataset"]}
    for scope, report in scopes.items():
        png = _plot_confusion(run_dir, scope, report, metrics.get("select_on_test", False))
        lines.append(f"![{scope}]({png.name})")
    path = run_dir / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def _num(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.4f}"


def _plot_confusion(run_dir: Path, scope: str, report: dict, select_on_test: bool) -> Path:
    import matplotlib  # deferred: matplotlib costs ~180 ms; only the confusion plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above, once the Agg backend is chosen

    cm = np.array(report["confusion"])
    classes = report["classes"]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(classes), 1.0 + 1.0 * len(classes)), dpi=100)
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            dark = cm[i, j] > 0.5 * max(cm.max(), 1)
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    title = f"{DATASET_TITLES.get(scope, scope)}: UF1 {_num(report['uf1'])}, UAR {_num(report['uar'])}"
    if select_on_test:
        title = "SELECT-ON-TEST\n" + title
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    target = run_dir / f"confusion_{scope}.png"
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return target
