"""Classification metrics for micro-expression recognition.

UF1 (unweighted F1) is the mean over classes of the per-class F1
``2 TP / (2 TP + FP + FN)``; UAR (unweighted average recall) is the mean over
classes of ``TP / (TP + FN)``. Under the MEGC2019 definition both are
computed *once* from the confusion matrix of all test predictions pooled
over every fold, never averaged over folds (:func:`pooled_report`).

Undefined classes. In a single fold (one LOSO test subject) a class is often
absent from the ground truth. Its recall is then 0/0, and if it is also never
predicted its F1 is 0/0 too. The policy is explicit (``zero_division``):

* ``"exclude"`` (default): an undefined per-class value is ``nan`` and is left
  out of the mean. The class is still listed in ``per_class`` and in
  ``MetricReport.undefined``, so nothing is dropped silently. A class that is
  absent from the ground truth but *predicted* has F1 = 0 (defined: FP > 0)
  and counts in UF1.
* ``"zero"``: an undefined value counts as 0, as scikit-learn's
  ``zero_division=0`` with ``labels=classes`` does. This punishes folds for
  classes the subject never showed.

Pooled over all folds of a standard protocol every class is present, and both
policies give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix

from merkit.errors import ProtocolError

__all__ = [
    "MetricReport",
    "confusion_matrix",
    "compute_metrics",
    "pooled_report",
    "per_group_reports",
]

ZeroDivision = Literal["exclude", "zero"]


@dataclass
class MetricReport:
    """Metrics of one set of predictions.

    Attributes:
        classes: class names; row/column order of ``confusion``.
        confusion: (C, C) int counts, rows = true class, columns = predicted.
        uf1, uar, accuracy, weighted_f1: scalar scores in [0, 1] (``nan`` if undefined).
        per_class: ``{class: {"f1", "recall", "precision", "support"}}`` (``nan`` where undefined).
        undefined: ``{"f1": [...], "recall": [...]}`` classes left out of UF1 / UAR.
        n: number of predictions.
    """

    classes: list[str]
    confusion: list[list[int]]
    uf1: float
    uar: float
    accuracy: float
    weighted_f1: float
    n: int
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    undefined: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain-data form for JSON; undefined values (``nan``) become ``None``."""
        return _nan_to_none(asdict(self))


def _nan_to_none(obj):
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Return the (C, C) confusion matrix in ``classes`` order (rows true, columns predicted).

    Raises:
        ProtocolError: if a true or predicted label is not in ``classes``.
    """
    classes = list(classes)
    _check_labels(y_true, classes, "true")
    _check_labels(y_pred, classes, "predicted")
    if len(y_true) == 0:
        return np.zeros((len(classes), len(classes)), dtype=np.int64)
    return _sk_confusion_matrix(list(y_true), list(y_pred), labels=classes).astype(np.int64)


def compute_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    classes: Sequence[str],
    zero_division: ZeroDivision = "exclude",
) -> MetricReport:
    """Compute UF1, UAR, accuracy, weighted F1 and the confusion matrix.

    Args:
        y_true: true class names, length N.
        y_pred: predicted class names, length N.
        classes: the protocol's class names (all of them, even if absent here).
        zero_division: policy for undefined per-class values (module docstring).

    Returns:
        A :class:`MetricReport`.

    Raises:
        ProtocolError: on unequal lengths, labels outside ``classes``, or an unknown policy.
    """
    if zero_division not in ("exclude", "zero"):
        raise ProtocolError(f"zero_division must be 'exclude' or 'zero'; got {zero_division!r}.")
    if len(y_true) != len(y_pred):
        raise ProtocolError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; they must match.")
    classes = list(classes)
    cm = confusion_matrix(y_true, y_pred, classes)
    return _report_from_confusion(cm, classes, zero_division)


def _report_from_confusion(cm: np.ndarray, classes: list[str], zero_division: ZeroDivision) -> MetricReport:
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    fp, fn = predicted - tp, support - tp
    fill = 0.0 if zero_division == "zero" else math.nan
    f1 = _safe_ratio(2 * tp, 2 * tp + fp + fn, fill)
    recall = _safe_ratio(tp, support, fill)
    precision = _safe_ratio(tp, predicted, fill)
    n = int(cm.sum())
    per_class = {
        c: {"f1": float(f1[i]), "recall": float(recall[i]), "precision": float(precision[i]),
            "support": int(support[i])}
        for i, c in enumerate(classes)
    }
    undefined = {
        "f1": [c for i, c in enumerate(classes) if 2 * tp[i] + fp[i] + fn[i] == 0],
        "recall": [c for i, c in enumerate(classes) if support[i] == 0],
    }
    weighted = float(np.nansum(np.nan_to_num(f1) * support) / n) if n else math.nan
    return MetricReport(
        classes=classes,
        confusion=cm.tolist(),
        uf1=_nanmean(f1),
        uar=_nanmean(recall),
        accuracy=float(tp.sum() / n) if n else math.nan,
        weighted_f1=weighted,
        n=n,
        per_class=per_class,
        undefined=undefined,
    )


def pooled_report(
    predictions: pd.DataFrame, classes: Sequence[str], zero_division: ZeroDivision = "exclude"
) -> MetricReport:
    """MEGC2019 metrics: one confusion matrix from all rows of ``predictions``.

    Args:
        predictions: a DataFrame with ``true_label`` and ``pred_label`` columns (one row per test sample).
        classes: the protocol's classes.
    """
    _check_columns(predictions, ("true_label", "pred_label"))
    return compute_metrics(list(predictions["true_label"]), list(predictions["pred_label"]), classes, zero_division)


def per_group_reports(
    predictions: pd.DataFrame, by: str, classes: Sequence[str], zero_division: ZeroDivision = "exclude"
) -> dict[str, MetricReport]:
    """Metrics for each value of column ``by`` (``fold``, ``dataset``, ``seed``), in sorted order."""
    _check_columns(predictions, ("true_label", "pred_label", by))
    return {
        str(group): pooled_report(part, classes, zero_division)
        for group, part in sorted(predictions.groupby(by, sort=True), key=lambda kv: str(kv[0]))
    }


def _safe_ratio(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    out = np.full(num.shape, fill, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _check_labels(labels: Sequence[str], classes: list[str], which: str) -> None:
    known = set(classes)
    bad = sorted({str(x) for x in labels if x not in known})
    if bad:
        raise ProtocolError(f"{which} labels {bad!r} are not among the protocol classes {classes!r}.")


def _check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ProtocolError(f"predictions lack columns {missing!r}; got {list(frame.columns)!r}.")
