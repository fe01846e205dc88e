"""Nested grid search: candidates, inner subject split, never the test subject."""

import dataclasses

import numpy as np
import pytest

from merkit.errors import ConfigError
from merkit.evaluation.protocols import Fold
from merkit.evaluation.runner import FoldTask
from merkit.experiments.executors import ProcessPoolFoldExecutor
from merkit.training.grid_search import GridSearchFitPredict, inner_subject_folds
from merkit.training.settings import GridConfig
from tests._helpers.methods import MACRO_FAST, tiny_macro_transfer
from tests._helpers.tables import CLASSES, labelled_table


class Oracle:
    """A spy method: perfect on inner folds only for lr == good_lr, uniform otherwise; records what it saw."""

    def __init__(self, good_lr, params=None, seen=None):
        self.good_lr = good_lr
        self.params = params or {}
        self.seen = seen if seen is not None else []

    def with_train(self, **params):
        return Oracle(self.good_lr, params, self.seen)

    def __call__(self, table, task):
        self.seen.append((dict(self.params), task.fit_idx.copy(), task.val_idx.copy(), task.test_idx.copy()))
        out = np.full((len(task.test_idx), 3), 1 / 3)
        if self.params.get("lr") == self.good_lr and task.fold.name.startswith("inner"):
            labels = table["label"].to_numpy()[task.test_idx]  # inner test rows are training subjects
            out[np.arange(len(out)), [CLASSES.index(c) for c in labels]] = 1.0
        return out


def _outer(table, test_subject):
    subjects = table["subject_key"].to_numpy()
    test, train = np.flatnonzero(subjects == test_subject), np.flatnonzero(subjects != test_subject)
    return FoldTask(Fold(test_subject, train, test), seed=0, fit_idx=train[:-3], val_idx=train[-3:], classes=CLASSES)


def test_grid_candidates_in_order():
    grid = GridConfig(batch_size=(16, 32), lr=(0.1, 0.01), epochs=(5,))
    assert grid.candidates() == [
        {"batch_size": 16, "lr": 0.1, "epochs": 5}, {"batch_size": 16, "lr": 0.01, "epochs": 5},
        {"batch_size": 32, "lr": 0.1, "epochs": 5}, {"batch_size": 32, "lr": 0.01, "epochs": 5}]
    with pytest.raises(ConfigError, match="grid.epochs"):
        GridConfig(epochs=(2.5,))
    with pytest.raises(ConfigError, match="inner_folds"):
        GridConfig(inner_folds=1)


def test_inner_folds_split_training_subjects_only():
    table = labelled_table(n_subjects=5, clips=4)
    task = _outer(table, table["subject_key"].iloc[0])
    folds = inner_subject_folds(table, np.concatenate([task.fit_idx, task.val_idx]), 3)
    subjects = table["subject_key"].to_numpy()
    tested = np.concatenate([f.test_idx for f in folds])
    assert sorted(tested) == sorted(np.concatenate([task.fit_idx, task.val_idx]))  # each training row once
    for f in folds:
        assert not set(subjects[f.train_idx]) & set(subjects[f.test_idx])  # by subject
    assert not set(tested) & set(task.test_idx)


def test_search_picks_the_best_inner_candidate_and_never_touches_the_test_subject():
    table = labelled_table(n_subjects=5, clips=4)
    task = _outer(table, table["subject_key"].iloc[0])
    blind = table.copy()
    blind.loc[task.test_idx, "label"] = "HIDDEN"  # scoring a test row would raise
    method = Oracle(good_lr=0.01)
    search = GridSearchFitPredict(method, GridConfig(batch_size=(8,), lr=(0.1, 0.01), epochs=(3, 6), inner_folds=3))
    probs = search(blind, task)
    assert probs.shape == (len(task.test_idx), 3)
    assert search.choices[0][2] == {"batch_size": 8, "lr": 0.01, "epochs": 3}  # first best in grid order
    inner_calls = [s for s in method.seen if len(s[3]) and not np.array_equal(s[3], task.test_idx)]
    assert len(inner_calls) == 4 * 3
    for _, fit, val, test in inner_calls:
        assert not set(fit) & set(task.test_idx) and not set(test) & set(task.test_idx) and len(val) == 0
    final = method.seen[-1]
    assert final[0] == {"batch_size": 8, "lr": 0.01, "epochs": 3} and np.array_equal(final[3], task.test_idx)


def test_inner_jobs_run_through_a_process_pool():
    table = labelled_table(n_subjects=4, clips=3)
    task = _outer(table, table["subject_key"].iloc[-1])
    search = GridSearchFitPredict(Oracle(good_lr=0.1), GridConfig(batch_size=(8,), lr=(0.1, 0.2), epochs=(1,),
                                  inner_folds=2), executor=ProcessPoolFoldExecutor(workers=2, threads=1))
    params, scores = search.search(table, task)
    assert params["lr"] == 0.1 and scores[0] == pytest.approx(1.0) and scores[1] < 1.0


def test_a_method_without_with_train_is_refused():
    with pytest.raises(ConfigError, match="with_train"):
        GridSearchFitPredict(lambda table, task: None, GridConfig())


def test_search_runs_the_macro_transfer_method_inside_training_subjects():
    table = labelled_table(n_subjects=4, clips=3)
    task = _outer(table, table["subject_key"].iloc[0])
    blind = table.copy()
    blind.loc[task.test_idx, "label"] = "HIDDEN"  # scoring or training on a test row would raise
    method = tiny_macro_transfer(table, train=MACRO_FAST, head="softmax")
    search = GridSearchFitPredict(method, GridConfig(batch_size=(8,), lr=(0.001, 0.01), epochs=(1,), inner_folds=2))
    probs = search(blind, task)
    assert probs.shape == (len(task.test_idx), 3) and np.allclose(probs.sum(1), 1.0)
    assert search.choices[0][2]["lr"] in (0.001, 0.01) and len(search.choices[0][3]) == 2


def test_a_grid_over_an_early_stopping_method_is_refused():
    table = labelled_table(n_subjects=3, clips=3)
    early = tiny_macro_transfer(table, train=dataclasses.replace(MACRO_FAST, schedule="early_stopping"))
    with pytest.raises(ConfigError, match="train.schedule must be 'fixed'"):
        GridSearchFitPredict(early, GridConfig())
