"""Nested grid search over batch size, learning rate and epochs, inside the training subjects of each fold.

Seed 003 sets "batch size, initial learning rate, and a number of
iterations" by grid search before each training phase, without saying on
which data. Searching on the test subject would leak it, so here the search
is *nested*: for an outer fold (one test subject), the training subjects
alone are split by subject into ``inner_folds`` groups (scikit-learn
``GroupKFold`` on ``subject_key``); each candidate is trained on all but one
group and scored on the held-out group; the candidate with the best pooled
inner UF1 (ties: the first in grid order, i.e. the smallest batch size, then
learning rate, then epochs) is retrained on all training subjects and
predicts the test subject. The test subject's rows and labels never enter
the search (tested).

The inner (candidate, inner fold) jobs go through an executor with the
runner's ``map(fn, tasks)`` interface (default: in this process; pass
:class:`~merkit.experiments.executors.ProcessPoolFoldExecutor` to spread them
when the outer folds run in-process). Inner runs use a fixed schedule: the
number of epochs is itself searched.

The method being searched is any registered method
(:class:`~merkit.training.methods.base.Method`): ``with_train(batch_size=...,
lr=..., epochs=...)`` returns the same method with those ``[train]`` settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from merkit.errors import ConfigError
from merkit.evaluation.protocols import Fold
from merkit.evaluation.runner import FoldTask, InProcessExecutor
from merkit.training.loop import macro_f1
from merkit.training.methods.base import encode_labels
from merkit.training.settings import GridConfig

__all__ = ["GridSearchFitPredict", "inner_subject_folds"]

log = logging.getLogger(__name__)


def inner_subject_folds(table: pd.DataFrame, train_idx: np.ndarray, n_folds: int) -> list[Fold]:
    """Split a fold's training rows by subject into ``min(n_folds, subjects)`` inner folds.

    Returns:
        Folds whose ``train_idx``/``test_idx`` are positions in ``table``, all inside ``train_idx``.

    Raises:
        ConfigError: fewer than two training subjects.
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    groups = table["subject_key"].astype(str).to_numpy()[train_idx]
    n_subjects = len(set(groups))
    if n_subjects < 2:
        raise ConfigError(
            f"the grid search needs at least two training subjects for its inner split; got {n_subjects}.")
    splitter = GroupKFold(n_splits=min(n_folds, n_subjects))
    return [Fold(f"inner{i}", np.sort(train_idx[a]), np.sort(train_idx[b]))
            for i, (a, b) in enumerate(splitter.split(train_idx, groups=groups))]


class _InnerJob:
    """Picklable: train one candidate on one inner fold, return its test probabilities."""

    def __init__(self, table: pd.DataFrame, methods: Sequence[Callable]) -> None:
        self.table = table
        self.methods = list(methods)

    def __call__(self, item: tuple[int, FoldTask]) -> tuple[int, np.ndarray, np.ndarray]:
        candidate, task = item
        return candidate, task.test_idx, np.asarray(self.methods[candidate](self.table, task))


class GridSearchFitPredict:
    """A fit-predict callable that grid-searches its method inside each fold's training subjects.

    Args:
        method: the searched method (has ``with_train``).
        grid: candidates and inner split.
        executor: runs the inner jobs (default: in-process).
    """

    def __init__(self, method, grid: GridConfig, executor=None) -> None:
        if not hasattr(method, "with_train"):
            raise ConfigError(f"{type(method).__name__} cannot be grid-searched: it has no with_train().")
        train = getattr(method, "train", None)
        if train is not None and train.schedule != "fixed":
            # inner folds have no validation rows, and the number of epochs is itself a candidate
            raise ConfigError(f"grid.enabled searches the epochs, so train.schedule must be 'fixed'; got "
                              f"{train.schedule!r}.")
        self.method = method
        self.grid = grid
        self.executor = executor
        self.choices: list[tuple] = []  # (seed, fold, chosen params, inner UF1 per candidate), in-process only

    def search(self, table: pd.DataFrame, task: FoldTask) -> tuple[dict, list[float]]:
        """Choose the candidate for ``task`` from its training subjects only; returns (params, inner UF1s)."""
        train_idx = np.sort(np.concatenate([task.fit_idx, task.val_idx])) if not task.select_on_test else task.fit_idx
        inner = inner_subject_folds(table, train_idx, self.grid.inner_folds)
        candidates = self.grid.candidates()
        tasks = [(c, FoldTask(fold=f, seed=task.seed, fit_idx=f.train_idx, val_idx=f.train_idx[:0],
                              classes=task.classes))
                 for c in range(len(candidates)) for f in inner]
        job = _InnerJob(table, [self.method.with_train(**p) for p in candidates])
        executor = self.executor or InProcessExecutor()
        preds: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {c: [] for c in range(len(candidates))}
        for c, idx, probs in executor.map(job, tasks):
            preds[c].append((idx, probs))
        k = len(task.classes)
        scores = []
        for c in range(len(candidates)):
            idx = np.concatenate([i for i, _ in preds[c]])
            pred = np.concatenate([p for _, p in preds[c]]).argmax(1)
            scores.append(macro_f1(np.asarray(encode_labels(table, idx, task.classes)), pred, k))
        best = int(np.argmax(scores))  # first best in grid order
        log.info("seed %s fold %s: grid search chose %s (inner UF1 %.3f of %s)", task.seed, task.fold.name,
                 candidates[best], scores[best], [round(s, 3) for s in scores])
        return candidates[best], scores

    def __call__(self, table: pd.DataFrame, task: FoldTask) -> np.ndarray:
        params, scores = self.search(table, task)
        self.choices.append((task.seed, task.fold.name, params, scores))
        return self.method.with_train(**params)(table, task)
