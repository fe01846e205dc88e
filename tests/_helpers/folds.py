"""Fold tasks for one held-out subject, and the honesty check: a method must not read test labels."""

from __future__ import annotations

import numpy as np

from tests._helpers.tables import CLASSES


def fold_task(table, test_subject, select_on_test=False, val_subjects=2):
    """A fold testing ``test_subject``; the first ``val_subjects`` other subjects (sorted) validate."""
    from merkit.evaluation.protocols import Fold
    from merkit.evaluation.runner import FoldTask

    subjects = table["subject_key"].to_numpy()
    test = np.flatnonzero(subjects == test_subject)
    train = np.flatnonzero(subjects != test_subject)
    rest = sorted(set(subjects[train]))
    val = np.flatnonzero(np.isin(subjects, rest[:val_subjects]))
    fit = np.setdiff1d(train, val)
    if select_on_test:
        fit, val = train, test
    return FoldTask(Fold(test_subject, train, test), 0, fit, val, CLASSES, select_on_test)


def with_test_labels_changed(table, task):
    """A copy of ``table`` whose test rows (``task.test_idx``) carry another class: an honest method must not notice."""
    changed = table.copy()
    labels = changed["label"].to_numpy().copy()
    labels[task.test_idx] = [CLASSES[(CLASSES.index(v) + 1) % 3] for v in labels[task.test_idx]]
    changed["label"] = labels
    return changed


def fit_ignoring_test_labels(method, table, task):
    """``method.fit`` on ``table``, and the test rows' probabilities, asserted identical when the test rows
    carry other labels (both fits seeded alike). Returns ``(fitted, probs)`` of the first fit."""
    from merkit.evaluation.runner import seed_everything

    x_test = method.inputs.take(table["sample_key"].to_numpy()[task.test_idx])
    seed_everything(1)
    fitted = method.fit(table, task)
    probs = fitted.predict_proba(x_test)
    seed_everything(1)
    blind = method.fit(with_test_labels_changed(table, task), task).predict_proba(x_test)
    np.testing.assert_array_equal(probs, blind)
    assert probs.shape == (len(task.test_idx), len(task.classes))
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    return fitted, probs


def fit_predict_ignoring_test_labels(method, table, task):
    """``method.fit_predict`` on ``table``, asserted identical when the test rows carry other labels."""
    return fit_ignoring_test_labels(method, table, task)[1]
