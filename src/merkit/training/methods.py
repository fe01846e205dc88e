"""Fit-predict callables for the runner: torch models and SVM baselines on precomputed features.

The runner (``merkit.evaluation.runner.run_protocol``) calls
``fit_predict(table, task)`` once per (seed, fold) and expects class
probabilities for ``task.test_idx``. Both callables here look their inputs up
by ``sample_key`` in a :class:`~merkit.training.features.FeatureSet`
computed once before the run, so they are cheap to pickle to worker
processes and never recompute flow per fold.

Honest selection. Whatever a method chooses (the early-stopping epoch, the
SVM's ``C``) it chooses on ``task.val_idx`` only, which the runner draws from
the training subjects; the test labels are never read here. With a fixed
schedule (nothing to choose) the model trains on all training subjects
(``fit_idx`` and ``val_idx`` together).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from merkit.errors import ConfigError
from merkit.evaluation.runner import FoldTask, fold_seed
from merkit.training.config import TrainConfig
from merkit.training.features import FeatureSet

__all__ = ["TorchFitPredict", "SVMFitPredict", "encode_labels"]

log = logging.getLogger(__name__)


def encode_labels(table: pd.DataFrame, idx: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Class indices (int64) of ``table.label`` at row positions ``idx``, in ``classes`` order."""
    lookup = {c: i for i, c in enumerate(classes)}
    labels = table["label"].to_numpy()[idx]
    try:
        return np.array([lookup[c] for c in labels], dtype=np.int64)
    except KeyError as exc:
        raise ConfigError(f"label {exc.args[0]!r} is not one of the protocol classes {list(classes)!r}.") from None


class TorchFitPredict:
    """Train a fresh registered model per fold and predict the test subject.

    Args:
        model_name: registered model name.
        model_options: constructor options (``num_classes`` is set from the protocol).
        train: training settings.
        features: inputs keyed by sample key, ``(N, C, H, W)`` float32.
    """

    def __init__(self, model_name: str, model_options: dict, train: TrainConfig, features: FeatureSet) -> None:
        self.model_name = model_name
        self.model_options = dict(model_options)
        self.train = train
        self.features = features
        self.histories: list = []  # filled in-process only; workers return predictions, not histories

    def __call__(self, table: pd.DataFrame, task: FoldTask) -> np.ndarray:
        from merkit.models import create_model
        from merkit.training.trainer import fit_model, predict_proba

        seed = fold_seed(task.seed, task.fold.name)
        keys = table["sample_key"].to_numpy()
        x = self.features.take(keys)
        if self.train.schedule == "fixed" and not task.select_on_test:
            train_idx, val_idx = np.sort(np.concatenate([task.fit_idx, task.val_idx])), None
        else:
            train_idx, val_idx = task.fit_idx, task.val_idx
        model = create_model(self.model_name, num_classes=len(task.classes), **self.model_options)
        history = fit_model(
            model,
            x[train_idx],
            encode_labels(table, train_idx, task.classes),
            self.train,
            seed=seed,
            x_val=None if val_idx is None else x[val_idx],
            y_val=None if val_idx is None else encode_labels(table, val_idx, task.classes),
            desc=f"seed {task.seed} {task.fold.name}",
            # training rows only: identity-adversarial models take these subjects as their classes
            subjects=table["subject_key"].to_numpy()[train_idx] if "subject_key" in table.columns else None,
        )
        log.info("seed %s fold %s: %d epochs, kept %d, %.0f samples/s", task.seed, task.fold.name,
                 len(history.train_loss), history.best_epoch, history.samples_per_second)
        self.histories.append((task.seed, task.fold.name, history))
        return predict_proba(model, x[task.test_idx])


class SVMFitPredict:
    """A scikit-learn SVM on a descriptor (LBP-TOP or Bi-WOOF) per fold.

    The pipeline is ``StandardScaler -> SVC(kernel, C, class_weight="balanced")``.
    With several ``C`` candidates the one with the best UF1 on ``task.val_idx``
    (training subjects) is kept, then refitted on all training rows.
    Probabilities are the softmax of the one-vs-rest decision values (named
    option ``probabilities="softmax_decision"``; Platt scaling would need an
    inner cross-validation per fold and does not change the argmax).

    Args:
        features: descriptors keyed by sample key, ``(N, D)`` float.
        C: candidate regularisation strengths (one value: no selection).
        kernel: ``"linear"`` (Bi-WOOF's reference) or ``"rbf"``.
    """

    def __init__(self, features: FeatureSet, C: tuple[float, ...] = (0.1, 1.0, 10.0), kernel: str = "linear") -> None:
        if kernel not in ("linear", "rbf"):
            raise ConfigError(f"model.options.kernel must be 'linear' or 'rbf'; got {kernel!r}.")
        if not C or any(float(c) <= 0 for c in C):
            raise ConfigError(f"model.options.C must be a non-empty list of positive numbers; got {list(C)!r}.")
        self.features = features
        self.C = tuple(float(c) for c in C)
        self.kernel = kernel

    def _fit(self, x: np.ndarray, y: np.ndarray, c: float, seed: int):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        return make_pipeline(
            StandardScaler(), SVC(kernel=self.kernel, C=c, class_weight="balanced", random_state=seed % 2**31)
        ).fit(x, y)

    @staticmethod
    def _proba(model, x: np.ndarray, num_classes: int) -> np.ndarray:
        seen = model.classes_
        scores = model.decision_function(x)
        if scores.ndim == 1:  # two classes: one signed score for the second
            scores = np.stack([-scores, scores], 1)
        scores = scores - scores.max(1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(1, keepdims=True)
        out = np.zeros((len(x), num_classes))
        out[:, seen] = p
        return out

    def __call__(self, table: pd.DataFrame, task: FoldTask) -> np.ndarray:
        from merkit.training.trainer import macro_f1

        seed = fold_seed(task.seed, task.fold.name)
        x = self.features.take(table["sample_key"].to_numpy()).reshape(len(table), -1)
        k = len(task.classes)
        train_idx = np.sort(np.concatenate([task.fit_idx, task.val_idx])) if not task.select_on_test else task.fit_idx
        y_train = encode_labels(table, train_idx, task.classes)
        if len(np.unique(y_train)) < 2:  # one class only: nothing to separate
            out = np.zeros((len(task.test_idx), k))
            out[:, y_train[0]] = 1.0
            return out
        best_c = self.C[0]
        if len(self.C) > 1 and len(task.val_idx):
            y_fit = encode_labels(table, task.fit_idx, task.classes)
            y_val = encode_labels(table, task.val_idx, task.classes)
            if len(np.unique(y_fit)) >= 2:
                scores = []
                for c in self.C:
                    model = self._fit(x[task.fit_idx], y_fit, c, seed)
                    scores.append(macro_f1(y_val, self._proba(model, x[task.val_idx], k).argmax(1), k))
                best_c = self.C[int(np.argmax(scores))]  # first best: the smallest C among ties
        model = self._fit(x[train_idx], y_train, best_c, seed)
        log.info("seed %s fold %s: SVM C=%g", task.seed, task.fold.name, best_c)
        return self._proba(model, x[task.test_idx], k)
