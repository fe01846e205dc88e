import numpy as np
import pytest

from tests.conftest import make_table
from merkit.data.labels import get_label_set

CLASSES = ("negative", "positive", "surprise")


def learnable_features(table, seed=0, signal=1.0):
    """(N, 3, 28, 28) flow-like inputs in [0, 1] whose class shows as a bright quadrant, plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.6, size=(len(table), 3, 28, 28)).astype(np.float32)
    for i, label in enumerate(table["label"]):
        if label in CLASSES:
            k = CLASSES.index(label)
            x[i, :, 14 * (k // 2) : 14 * (k // 2) + 14, 14 * (k % 2) : 14 * (k % 2) + 14] += 0.4 * signal
    return np.clip(x, 0, 1)


def labelled_table(n_subjects=4, clips=5, seed=0):
    table = make_table(n_subjects, clips, seed)
    return get_label_set("megc3").apply(table)


def write_feature_file(path, n_subjects=4, clips=6, seed=0):
    table = labelled_table(n_subjects, clips, seed)
    x = learnable_features(table, seed)
    np.savez(
        path,
        sample_key=table["sample_key"].to_numpy(str), subject_key=table["subject_key"].to_numpy(str),
        dataset=table["dataset"].to_numpy(str), label=table["label"].to_numpy(str),
        flow_uv_strain=x, biwoof=x.mean(axis=(2,)).reshape(len(x), -1),
    )
    return table


@pytest.fixture
def feature_file(tmp_path):
    path = tmp_path / "features.npz"
    write_feature_file(path)
    return path


def with_test_labels_changed(table, task):
    """A copy of ``table`` whose test rows (``task.test_idx``) carry another class: an honest method must not notice."""
    changed = table.copy()
    labels = changed["label"].to_numpy().copy()
    labels[task.test_idx] = [CLASSES[(CLASSES.index(v) + 1) % 3] for v in labels[task.test_idx]]
    changed["label"] = labels
    return changed


def fit_predict_ignoring_test_labels(method, table, task):
    """``method.fit_predict`` on ``table``, asserted identical when the test rows carry other labels."""
    from merkit.evaluation.runner import seed_everything

    seed_everything(1)
    probs = method.fit_predict(table, task)
    seed_everything(1)
    np.testing.assert_array_equal(probs, method.fit_predict(with_test_labels_changed(table, task), task))
    assert probs.shape == (len(task.test_idx), 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    return probs


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
