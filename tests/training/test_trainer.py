import numpy as np
import pandas as pd
import pytest

from merkit.errors import ShapeError
from merkit.evaluation.protocols import Fold
from merkit.evaluation.runner import FoldTask, seed_everything
from merkit.models import create_model
from merkit.training.config import TrainConfig
from merkit.training.features import FeatureSet
from merkit.training.methods import SVMFitPredict, TorchFitPredict
from merkit.training.trainer import class_weights, fit_model, macro_f1, predict_proba

from tests.training.conftest import CLASSES, labelled_table, learnable_features

FAST = TrainConfig(epochs=4, batch_size=16, lr=3e-3, progress=False)


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    table = pd.DataFrame({"label": [CLASSES[i] for i in y]})
    return learnable_features(table, seed), y


def test_same_seed_same_predictions_on_cpu():
    x, y = _data()
    probs = []
    for _ in range(2):
        seed_everything(7)
        model = create_model("ststnet")
        fit_model(model, x, y, FAST, seed=7)
        probs.append(predict_proba(model, x))
    np.testing.assert_array_equal(probs[0], probs[1])
    seed_everything(8)
    other = create_model("ststnet")
    fit_model(other, x, y, FAST, seed=8)
    assert not np.array_equal(probs[0], predict_proba(other, x))


def test_learns_a_learnable_signal():
    x, y = _data(96)
    seed_everything(0)
    model = create_model("ststnet")
    history = fit_model(model, x, y, TrainConfig(epochs=30, batch_size=32, lr=1e-2, progress=False, augment=False), seed=0)
    assert history.train_loss[-1] < history.train_loss[0]
    assert (predict_proba(model, x).argmax(1) == y).mean() > 0.8
    assert history.samples_per_second > 0


def test_early_stopping_keeps_best_validation_epoch():
    x, y = _data(60)
    cfg = TrainConfig(epochs=12, batch_size=16, lr=3e-3, schedule="early_stopping", patience=3, progress=False)
    seed_everything(0)
    history = fit_model(create_model("ststnet"), x[:40], y[:40], cfg, seed=0, x_val=x[40:], y_val=y[40:])
    assert 1 <= history.best_epoch <= len(history.val_uf1)
    assert history.val_uf1[history.best_epoch - 1] == max(history.val_uf1)
    with pytest.raises(ShapeError, match="needs validation samples"):
        fit_model(create_model("ststnet"), x, y, cfg, seed=0)


def test_class_weights_and_macro_f1():
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 6, 2.0, 0.0])
    assert macro_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), 3) == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_balanced_sampler_runs():
    x, y = _data(32)
    fit_model(create_model("ststnet"), x, y, TrainConfig(epochs=1, imbalance="balanced_sampler", progress=False), seed=0)


def _task(table, test_subject, select_on_test=False):
    subjects = table["subject_key"].to_numpy()
    test = np.flatnonzero(subjects == test_subject)
    train = np.flatnonzero(subjects != test_subject)
    rest = sorted(set(subjects[train]))
    val = np.flatnonzero(np.isin(subjects, rest[:2]))
    fit = np.setdiff1d(train, val)
    if select_on_test:
        fit, val = train, test
    return FoldTask(Fold(test_subject, train, test), 0, fit, val, CLASSES, select_on_test)


@pytest.mark.parametrize("method", ["torch_early", "svm"])
def test_honest_methods_never_read_test_labels(method):
    table = labelled_table(4, 6)
    features = FeatureSet(table["sample_key"], learnable_features(table), "flow_uv_strain")
    if method == "svm":
        fp = SVMFitPredict(FeatureSet(table["sample_key"], features.values.reshape(len(table), -1)[:, ::7], "x"))
    else:
        fp = TorchFitPredict("ststnet", {}, TrainConfig(epochs=3, schedule="early_stopping", progress=False), features)
    task = _task(table, "casme2/sub01")
    seed_everything(1)
    a = fp(table, task)
    flipped = table.copy()
    labels = flipped["label"].to_numpy().copy()
    labels[task.test_idx] = np.roll(labels[task.test_idx], 1)
    labels[task.test_idx] = [CLASSES[(CLASSES.index(v) + 1) % 3] for v in labels[task.test_idx]]
    flipped["label"] = labels
    seed_everything(1)
    b = fp(flipped, task)
    assert a.shape == (len(task.test_idx), 3)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(a, b)
