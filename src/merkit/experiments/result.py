"""What a run returns: one result type per task, each readable as tidy frames.

:class:`RecognitionResult` (clip classification under a fold protocol) and
:class:`SpottingResult` (intervals in long videos) share :class:`ExperimentResult`:
``run_dir``, ``metrics`` (the ``metrics.json`` content), :meth:`~ExperimentResult.to_frame`
(the run's predictions), :meth:`~ExperimentResult.metrics_frame` (its scores, one row per
group) and :meth:`~ExperimentResult.summary_lines` (what ``merkit train`` prints).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from merkit.errors import ConfigError, ProtocolError
from merkit.evaluation.report import format_table
from merkit.evaluation.rundir import RunDirectory

__all__ = ["ExperimentResult", "RecognitionResult", "SpottingResult"]

_SCORES = ("tp", "fp", "fn", "precision", "recall", "f1")


@dataclass(frozen=True)
class ExperimentResult(abc.ABC):
    """Where a run went and what it scored (base of the two result types).

    Attributes:
        run_dir: the run directory.
        metrics: the ``metrics.json`` content.
        bootstrap: the ``bootstrap.json`` content (None without bootstrap, and for spotting).
    """

    run_dir: Path
    metrics: dict
    bootstrap: dict | None = None

    @abc.abstractmethod
    def to_frame(self) -> pd.DataFrame:
        """The run's predictions as a tidy frame."""

    @abc.abstractmethod
    def metrics_frame(self, by: str) -> pd.DataFrame:
        """The run's scores as a tidy frame, one row per group ``by``."""

    @abc.abstractmethod
    def summary_lines(self, name: str = "") -> list[str]:
        """Lines ``merkit train`` prints for this run (``name``: the row name of a results table)."""


@dataclass(frozen=True)
class RecognitionResult(ExperimentResult):
    """A recognition run: per-fold predictions of every seed, metrics pooled, per fold, per dataset, per seed."""

    def to_frame(self) -> pd.DataFrame:
        """Tidy predictions: one row per sample x seed (``sample_key``, ``subject_key``, ``dataset``,
        ``fold``, ``seed``, ``true_label``, ``pred_label``, ``prob_<class>``, ``select_on_test``)."""
        return RunDirectory(self.run_dir).read_predictions().reset_index(drop=True)

    def metrics_frame(self, by: str = "fold") -> pd.DataFrame:
        """Tidy metrics: one row per seed x group, ``by`` = ``"fold"``, ``"dataset"`` or ``"seed"`` (pooled).

        Columns: ``seed``, ``fold``/``dataset`` (absent for ``"seed"``), ``n``, ``uf1``, ``uar``,
        ``accuracy``, ``weighted_f1``.
        """
        keys = {"fold": "per_fold", "dataset": "per_dataset"}
        if by not in (*keys, "seed"):
            raise ConfigError(f"metrics_frame(by=...) must be 'fold', 'dataset' or 'seed'; got {by!r}.")
        rows = []
        for seed, part in self.metrics["per_seed"].items():
            groups = {None: part["pooled"]} if by == "seed" else part[keys[by]]
            for group, report in groups.items():
                row = {"seed": int(seed)}
                if group is not None:
                    row[by] = group
                row.update({k: report.get(k) for k in ("n", "uf1", "uar", "accuracy", "weighted_f1")})
                rows.append(row)
        return pd.DataFrame(rows)

    def summary_lines(self, name: str = "") -> list[str]:
        """The select-on-test warning if any, the paper-style table, the bootstrap interval, the files."""
        metrics = self.metrics
        lines = [metrics["WARNING"]] if metrics.get("select_on_test") else []
        lines.append(format_table({name or metrics.get("method_name") or "model": metrics["summary"]},
                                  metrics["datasets"]))
        if self.bootstrap:
            ci = self.bootstrap
            lines.append(f"95% bootstrap CI over subjects: UF1 [{ci['uf1']['low']:.4f}, {ci['uf1']['high']:.4f}], "
                         f"UAR [{ci['uar']['low']:.4f}, {ci['uar']['high']:.4f}]")
        lines += [f"run directory: {self.run_dir}", f"report: {self.run_dir / 'report.md'}"]
        return lines


@dataclass(frozen=True)
class SpottingResult(ExperimentResult):
    """A spotting run: intervals found in every long video, scored with the MEGC interval metric."""

    def to_frame(self) -> pd.DataFrame:
        """Tidy predictions: one row per spotted interval (``vid``, ``pred_onset``, ``pred_offset``, ``type``,
        ``subject``, ``dataset``, ``apex``, ``strength``; frame numbers as on disk)."""
        path = Path(self.run_dir) / "predictions.csv"
        if not path.is_file():
            raise ProtocolError(f"no spotting predictions at {str(path)!r}; nothing to read.")
        return pd.read_csv(path, dtype={"vid": str, "subject": str})

    def metrics_frame(self, by: str = "type") -> pd.DataFrame:
        """Tidy scores: one row per ``by`` = ``"type"`` (micro, macro), ``"dataset"`` (dataset x type) or
        ``"overall"``. Columns: the group (``type``, or ``dataset`` and ``type``), ``tp``, ``fp``, ``fn``,
        ``precision``, ``recall``, ``f1``."""
        if by == "overall":
            return pd.DataFrame([{k: self.metrics["overall"][k] for k in _SCORES}])
        if by == "type":
            return pd.DataFrame([{"type": kind, **{k: row[k] for k in _SCORES}}
                                 for kind, row in self.metrics["per_type"].items()])
        if by == "dataset":
            rows = []
            for key, row in self.metrics["per_dataset"].items():
                dataset, _, kind = key.rpartition("/")
                rows.append({"dataset": dataset, "type": kind, **{k: row[k] for k in _SCORES}})
            return pd.DataFrame(rows)
        raise ConfigError(f"metrics_frame(by=...) must be 'type', 'dataset' or 'overall'; got {by!r}.")

    def summary_lines(self, name: str = "") -> list[str]:
        """TP/FP/FN, precision, recall and F1 overall and per type, then the run directory."""
        scopes = [("overall", self.metrics["overall"]), *self.metrics["per_type"].items()]
        lines = [f"{scope:8s} TP {row['tp']:4d} FP {row['fp']:4d} FN {row['fn']:4d}  P {row['precision']:.3f} "
                 f"R {row['recall']:.3f} F1 {row['f1']:.3f}" for scope, row in scopes]
        lines.append(f"{self.metrics.get('videos', 0)} videos, {self.metrics.get('minutes', 0):.1f} min; "
                     f"run directory: {self.run_dir}")
        return lines
