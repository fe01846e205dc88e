"""The resumable fold runner: protocol x seeds -> per-fold predictions -> metrics and report.

The runner knows nothing about models. It hands each fold to a *fit-predict*
callable::

    fit_predict(table: pd.DataFrame, task: FoldTask) -> np.ndarray  # (len(task.test_idx), C) probabilities

which trains on ``task.fit_idx`` (choosing what it must on ``task.val_idx``)
and returns class probabilities for ``task.test_idx`` in ``task.classes``
order. It must not read the labels of ``task.test_idx``. In honest mode
``val_idx`` comes from training subjects only (:func:`inner_validation_split`);
with ``select_on_test=True`` (paper-style reproduction, opt-in) ``val_idx`` is
the test fold itself and every output of the run says so.

Folds run through an :class:`Executor`; :class:`InProcessExecutor` runs them
one after another. An executor only maps a picklable function over tasks, so
process pools or cluster back-ends plug in without touching protocols or
models. Each fold is seeded from ``(seed, fold name)``, so a fold gives the
same predictions whether it runs first, last, alone or after a resume.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from merkit.data.labels import get_label_set
from merkit.errors import ProtocolError, ShapeError
from merkit.evaluation.protocols import Fold, Protocol, inner_validation_split
from merkit.evaluation.report import score_predictions, write_report
from merkit.evaluation.rundir import RunDirectory

__all__ = [
    "FoldTask",
    "Executor",
    "InProcessExecutor",
    "run_protocol",
    "rescore_run",
    "seed_everything",
    "fold_seed",
    "permute_labels",
]

log = logging.getLogger(__name__)

FitPredict = Callable[[pd.DataFrame, "FoldTask"], np.ndarray]


@dataclass(frozen=True)
class FoldTask:
    """Everything a fit-predict callable may use for one (seed, fold).

    Attributes:
        fold: the protocol fold (name, train and test row positions).
        seed: the run seed; ``fold_seed(seed, fold.name)`` has already seeded all RNGs.
        fit_idx: rows to train on.
        val_idx: rows for selection (early stopping, model choice); never test rows in honest mode.
        classes: class names, the column order of the returned probabilities.
        select_on_test: True only in the opt-in paper-style mode (then ``val_idx`` is the test fold).
    """

    fold: Fold
    seed: int
    fit_idx: np.ndarray = field(repr=False)
    val_idx: np.ndarray = field(repr=False)
    classes: tuple[str, ...]
    select_on_test: bool = False

    @property
    def test_idx(self) -> np.ndarray:
        return self.fold.test_idx


class Executor(TypingProtocol):
    """Maps a function over fold tasks; results may arrive in any order."""

    def map(self, fn: Callable[[FoldTask], pd.DataFrame], tasks: Sequence[FoldTask]) -> Iterable[pd.DataFrame]: ...


class InProcessExecutor:
    """Runs tasks one after another in this process."""

    def map(self, fn: Callable[[FoldTask], pd.DataFrame], tasks: Sequence[FoldTask]) -> Iterator[pd.DataFrame]:
        for task in tasks:
            yield fn(task)


def fold_seed(seed: int, fold_name: str) -> int:
    """Deterministic 32-bit seed for one fold of one run seed."""
    digest = hashlib.sha256(f"{seed}:{fold_name}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if imported) PyTorch, and ask PyTorch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)


def permute_labels(table: pd.DataFrame, shuffle_seed: int, seed: int) -> pd.DataFrame:
    """``table`` with its ``label`` column permuted over all rows, one permutation per run seed.

    The chance-level check: the permutation is drawn from ``(shuffle_seed, seed)``, so each run
    seed trains and scores against its own random labelling and the spread over seeds measures
    chance, not one lucky (or unlucky) draw. Class counts are unchanged.
    """
    rng = np.random.default_rng([int(shuffle_seed), int(seed)])
    return table.assign(label=table["label"].to_numpy()[rng.permutation(len(table))])


class _FoldJob:
    """Picklable callable: run one fold and return its prediction rows.

    ``tables`` maps a run seed to the table its folds read (the same table for every seed,
    except in the shuffled-label check); ``None`` as a key is the default.
    """

    def __init__(self, tables: dict, fit_predict: FitPredict) -> None:
        self.tables = tables
        self.fit_predict = fit_predict

    def __call__(self, task: FoldTask) -> pd.DataFrame:
        seed_everything(fold_seed(task.seed, task.fold.name))
        table = self.tables.get(task.seed, self.tables.get(None))
        probs = np.asarray(self.fit_predict(table, task), dtype=np.float64)
        expected = (len(task.test_idx), len(task.classes))
        if probs.shape != expected:
            raise ShapeError(
                f"fold {task.fold.name!r}: fit_predict returned probabilities of shape {probs.shape}; "
                f"expected {expected} (test samples, classes)."
            )
        return _prediction_rows(table, task, probs)


def _prediction_rows(table: pd.DataFrame, task: FoldTask, probs: np.ndarray) -> pd.DataFrame:
    test = table.iloc[task.test_idx]
    classes = list(task.classes)
    rows = pd.DataFrame(
        {
            "sample_key": test["sample_key"].to_numpy(),
            "subject_key": test["subject_key"].to_numpy(),
            "dataset": test["dataset"].to_numpy(),
            "fold": task.fold.name,
            "seed": task.seed,
            "true_label": test["label"].to_numpy(),
            "pred_label": [classes[i] for i in probs.argmax(axis=1)],
        }
    )
    for j, c in enumerate(classes):
        rows[f"prob_{c}"] = probs[:, j]
    rows["select_on_test"] = task.select_on_test
    return rows


def run_protocol(
    table: pd.DataFrame,
    protocol: Protocol,
    fit_predict: FitPredict,
    run_dir: str | os.PathLike,
    *,
    seeds: Sequence[int] = (0,),
    config: dict | None = None,
    select_on_test: bool = False,
    val_fraction: float = 0.2,
    executor: Executor | None = None,
    method_name: str = "model",
    progress: bool = False,
    label_shuffle_seed: int | None = None,
) -> dict:
    """Run ``fit_predict`` over every (seed, fold) of ``protocol`` and score the run.

    Completed folds found in ``run_dir`` are not recomputed (resume). The
    returned metrics equal those of an uninterrupted run.

    Args:
        table: sample table (labels are applied by ``protocol.prepare``).
        protocol: the evaluation protocol.
        fit_predict: see module docstring.
        run_dir: the run folder; created if missing.
        seeds: run seeds; metrics are reported per seed and as mean and std.
        config: the resolved configuration to store (``config.yaml``).
        select_on_test: opt-in paper-style selection on the test fold (flagged everywhere).
        val_fraction: share of training subjects held out for validation (honest mode).
        executor: fold executor (default: in-process).
        method_name: the row name in the report table.
        progress: show a progress bar over fold runs (stderr).
        label_shuffle_seed: when given, the shuffled-label (chance) check: each run seed permutes
            the labels of the prepared table with its own permutation (:func:`permute_labels`);
            true labels in the predictions are the permuted ones. Stored in ``config.yaml``.

    Returns:
        The metrics dict also written to ``metrics.json``.
    """
    if not seeds:
        raise ProtocolError("run_protocol needs at least one seed.")
    prepared = protocol.prepare(table)
    folds = protocol.folds(prepared)
    run = RunDirectory(run_dir)
    full_config = {
        **(config or {}),
        "protocol": protocol.config(),
        "seeds": [int(s) for s in seeds],
        "select_on_test": bool(select_on_test),
        "val_fraction": float(val_fraction),
        "method_name": method_name,
    }
    if label_shuffle_seed is not None:
        full_config["label_shuffle_seed"] = int(label_shuffle_seed)
    run.write_config(full_config)
    if run.remove_stale_temporaries():
        log.info("removed temporary files left by an interrupted run in %s", run.path)
    run.write_environment()

    keys = prepared["sample_key"].to_numpy()
    pending = []
    for seed in seeds:
        for fold in folds:
            if run.has_fold(seed, fold.file_stem, keys[fold.test_idx].tolist()):
                log.info("seed %s fold %s: already done, skipped", seed, fold.name)
                continue
            pending.append(_make_task(prepared, fold, int(seed), protocol.classes, select_on_test, val_fraction))
    log.info("%d of %d fold runs to do", len(pending), len(seeds) * len(folds))

    if label_shuffle_seed is None:
        tables = {None: prepared}
    else:
        tables = {int(s): permute_labels(prepared, label_shuffle_seed, s) for s in seeds}
    job = _FoldJob(tables, fit_predict)
    executor = executor or InProcessExecutor()
    bar = tqdm(total=len(pending), desc=method_name, unit="fold", disable=not progress or not pending)
    for rows in executor.map(job, pending):
        bar.update()
        seed, fold_name = int(rows["seed"].iloc[0]), str(rows["fold"].iloc[0])
        run.write_fold(seed, Fold(fold_name, np.empty(0), np.empty(0)).file_stem, rows)
    bar.close()
    return rescore_run(run.path)


def _make_task(table, fold, seed, classes, select_on_test, val_fraction) -> FoldTask:
    if select_on_test:
        fit_idx, val_idx = fold.train_idx, fold.test_idx
    else:
        fit_idx, val_idx = inner_validation_split(table, fold.train_idx, val_fraction, seed=fold_seed(seed, fold.name))
    return FoldTask(fold, seed, fit_idx, val_idx, tuple(classes), select_on_test)


def rescore_run(run_dir: str | os.PathLike) -> dict:
    """Recompute metrics, report and confusion plots of a run from its saved predictions."""
    run = RunDirectory(run_dir)
    config = run.read_config()
    predictions = run.read_predictions()
    classes = list(get_label_set(config["protocol"]["label_set"]).classes)
    metrics = score_predictions(predictions, classes, select_on_test=bool(config.get("select_on_test")))
    run.write_metrics(metrics)
    write_report(run.path, metrics, method_name=config.get("method_name", "model"))
    return metrics
