"""Classic baselines: a hand-crafted descriptor (LBP-TOP or Bi-WOOF) and a scikit-learn SVM per fold.

The pipeline is ``StandardScaler -> SVC(kernel, C, class_weight="balanced")``
(:class:`~merkit.training.heads.EmbeddingSVC`). With several ``C``
candidates the one with the best UF1 on ``task.val_idx`` (training subjects)
is kept, then refitted on all training rows. Probabilities are the softmax
of the one-vs-rest decision values (the argmax is the SVM's decision;
Platt scaling would need an inner cross-validation per fold).

``[model] name = "biwoof_svm"`` or ``"lbptop_svm"`` selects this method and
its descriptor; ``[method] options`` holds ``C`` and ``kernel``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from merkit._options import unknown_name
from merkit.errors import ConfigError
from merkit.evaluation.runner import fold_seed
from merkit.training.heads import EmbeddingSVC
from merkit.training.methods import register_method
from merkit.training.methods.base import Method, encode_labels
from merkit.training.methods.fitted import SVCClassifier

__all__ = ["DESCRIPTOR_BASELINES", "DescriptorSVMOptions", "DescriptorSVM"]

log = logging.getLogger(__name__)

#: ``[model] name`` of each classic baseline -> the descriptor it computes.
DESCRIPTOR_BASELINES = {"lbptop_svm": "lbptop", "biwoof_svm": "biwoof"}


@dataclass(frozen=True)
class DescriptorSVMOptions:
    """Options of ``descriptor_svm``.

    Attributes:
        C: candidate regularisation strengths (one value: no selection).
        kernel: ``"linear"`` (Bi-WOOF's reference) or ``"rbf"``.
    """

    C: tuple = (0.1, 1.0, 10.0)
    kernel: str = "linear"

    def __post_init__(self) -> None:
        if self.kernel not in ("linear", "rbf"):
            raise unknown_name("method.options.kernel", self.kernel, ("linear", "rbf"))
        if not self.C or any(isinstance(c, bool) or not isinstance(c, (int, float)) or c <= 0 for c in self.C):
            raise ConfigError(f"method.options.C must be a non-empty list of positive numbers; got {list(self.C)!r}.")


@register_method("descriptor_svm")
class DescriptorSVM(Method):
    """LBP-TOP or Bi-WOOF + SVM (module docstring)."""

    options_class = DescriptorSVMOptions

    @property
    def input_kind(self) -> str:
        if self.model not in DESCRIPTOR_BASELINES:
            raise unknown_name("descriptor baseline", self.model, DESCRIPTOR_BASELINES)
        return DESCRIPTOR_BASELINES[self.model]

    def input_settings(self) -> Any:
        return self.features

    def fit(self, table: pd.DataFrame, task: Any) -> SVCClassifier:
        seed = fold_seed(task.seed, task.fold.name)
        x = self.inputs.take(table["sample_key"].to_numpy()).reshape(len(table), -1)
        fit, val = task.fit_idx, task.val_idx
        svc = EmbeddingSVC(self.options.C, kernel=self.options.kernel, seed=seed).fit(
            x[fit], encode_labels(table, fit, task.classes),
            x[val] if len(val) else None, encode_labels(table, val, task.classes) if len(val) else None,
            refit_with_val=not task.select_on_test,
        )
        log.info("seed %s fold %s: SVM C=%g", task.seed, task.fold.name, svc.chosen_C)
        return SVCClassifier(svc, task.classes)

    def restore(self, arrays: dict[str, np.ndarray], info: dict) -> SVCClassifier:
        return SVCClassifier.restore(arrays, info, tuple(info["classes"]))
