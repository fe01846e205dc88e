"""The "SVM classifier" of papers 002 and 003, both readings, for any registered model.

Papers 002 (ShuffleNetV2) and 003 (MobileViT) classify with an "SVM" on top
of the network and write its loss as the multi-class hinge of Eq. 17 (002):
``loss(x, y) = 1/N * sum_{i != y} max(0, margin - x_y + x_i)^p``, with L2
regularisation, in Keras 2.2.4. Two readings exist (docs/models/shufflenet_me.md);
both are here, as the named option ``head``:

* ``"hinge"``: the network's own linear classifier is the SVM. It is trained
  end to end with :func:`multiclass_hinge_loss` (Eq. 17, which is PyTorch's
  ``MultiMarginLoss``: the sum runs over the N classes and is divided by N)
  plus :func:`l2_penalty` (Keras ``kernel_regularizer=l2(scale)``: ``scale *
  sum(w ** 2)`` over convolution and linear kernels, added to the loss; biases
  and normalisation parameters are not penalised, as in Keras). This is the
  likely Keras reading ("a neural SVM").
* ``"svc"``: the network is trained with the softmax head (cross-entropy),
  then a scikit-learn ``SVC`` is fitted on its embeddings
  (``forward_head(forward_features(x), pre_logits=True)``, the
  ``num_features``-wide vector before the classifier) of the training rows
  (:class:`EmbeddingSVC`).
* ``"softmax"``: plain cross-entropy, the "without SVM" ablation.

Probabilities. Hinge scores and SVC decision values are not probabilities;
both are turned into ones with a softmax over the classes
(:func:`scores_to_proba`), which keeps the argmax (what UF1/UAR use). Platt
scaling would need an inner cross-validation per fold.

API for other methods (issue 11 reuses this module)::

    from merkit.training.heads import head_loss, l2_penalty, extract_embeddings, EmbeddingSVC
    loss = head_loss("hinge", logits, y) + l2_penalty(model, 0.2)       # per batch
    emb = extract_embeddings(model, x_train)                             # (N, num_features) float32
    svc = EmbeddingSVC(C=(0.1, 1, 10)).fit(emb, y_train, emb_val, y_val) # C chosen on validation only
    proba = svc.predict_proba(extract_embeddings(model, x_test), num_classes)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import Tensor, nn

from merkit._options import unknown_name
from merkit.errors import ConfigError, ShapeError

__all__ = [
    "HEADS",
    "multiclass_hinge_loss",
    "l2_penalty",
    "head_loss",
    "scores_to_proba",
    "extract_embeddings",
    "EmbeddingSVC",
]

#: Classifier heads: ``softmax`` (cross-entropy), ``hinge`` (linear SVM head), ``svc`` (sklearn SVC on embeddings).
HEADS = ("softmax", "hinge", "svc")


def multiclass_hinge_loss(
    scores: Tensor, target: Tensor, margin: float = 1.0, p: int = 1, weight: Tensor | None = None
) -> Tensor:
    """Eq. 17 of paper 002: ``1/N sum_{i != y} max(0, margin - s_y + s_i)^p``, averaged over the batch.

    Args:
        scores: ``(B, N)`` class scores (the linear head's output, no softmax).
        target: ``(B,)`` int64 class indices.
        margin: the margin (1 in the SVM convention).
        p: 1 (hinge) or 2 (squared hinge).
        weight: ``(N,)`` per-class weights applied to each sample's loss by its true class, or None.

    Returns:
        Scalar loss.
    """
    if scores.ndim != 2 or target.shape != scores.shape[:1]:
        raise ShapeError(
            f"hinge loss needs scores (B, N) and target (B,); got {tuple(scores.shape)}, {tuple(target.shape)}.")
    if p not in (1, 2):
        raise ConfigError(f"hinge power p must be 1 or 2; got {p!r}.")
    return F.multi_margin_loss(scores, target, p=p, margin=margin, weight=weight)


def l2_penalty(model: nn.Module, scale: float) -> Tensor:
    """Keras-style L2 kernel regularisation: ``scale * sum(w ** 2)`` over conv and linear kernels.

    Args:
        model: the network.
        scale: the regularisation factor (papers 002/003: 0.2). 0 gives a zero tensor.

    Returns:
        Scalar tensor on the model's device (differentiable).
    """
    if scale < 0:
        raise ConfigError(f"L2 scale must be >= 0; got {scale!r}.")
    kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    device = kernels[0].device if kernels else torch.device("cpu")
    if scale == 0 or not kernels:
        return torch.zeros((), device=device)
    return scale * sum(w.pow(2).sum() for w in kernels)


def head_loss(
    head: str, scores: Tensor, target: Tensor, *, weight: Tensor | None = None, margin: float = 1.0, p: int = 1
) -> Tensor:
    """The training loss of a head: cross-entropy for ``softmax`` and ``svc``, Eq. 17 for ``hinge``.

    Args:
        head: one of :data:`HEADS`.
        scores: ``(B, N)`` logits.
        target: ``(B,)`` class indices.
        weight: optional ``(N,)`` class weights.
        margin, p: hinge settings (``hinge`` only).
    """
    if head not in HEADS:
        raise unknown_name("head", head, HEADS)
    if head == "hinge":
        return multiclass_hinge_loss(scores, target, margin=margin, p=p, weight=weight)
    return F.cross_entropy(scores, target, weight=weight)


def scores_to_proba(scores: np.ndarray) -> np.ndarray:
    """Softmax over classes of ``(M, N)`` scores (logits, hinge scores or SVC decision values), float64."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores - scores.max(axis=1, keepdims=True)
    out = np.exp(scores)
    return out / out.sum(axis=1, keepdims=True)


@torch.no_grad()
def extract_embeddings(model: nn.Module, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Embeddings before the classifier, in eval mode on the model's device.

    Args:
        model: a registered model (``forward_features`` / ``forward_head(pre_logits=True)``).
        x: ``(M, C, H, W)`` float32 inputs.
        batch_size: rows per forward pass.

    Returns:
        ``(M, num_features)`` float32.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)).to(device)
        out.append(model.forward_head(model.forward_features(xb), pre_logits=True).float().cpu().numpy())
    model.train(was_training)
    if not out:
        return np.zeros((0, int(model.num_features)), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)


class EmbeddingSVC:
    """scikit-learn ``StandardScaler -> SVC`` on network embeddings (``head="svc"``).

    Args:
        C: candidate regularisation strengths; with several, the one with the best
            validation UF1 is kept (validation rows come from training subjects),
            then the SVC is refitted on training + validation rows.
        kernel: ``"linear"`` (a linear SVM, the paper's) or ``"rbf"``.
        class_weight: ``"balanced"`` or ``None``.
        seed: SVC random state.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> emb, y = rng.normal(size=(30, 8)), np.repeat([0, 1, 2], 10)
        >>> EmbeddingSVC().fit(emb, y).predict_proba(emb, 3).shape
        (30, 3)
    """

    def __init__(
        self, C: Sequence[float] = (1.0,), kernel: str = "linear", class_weight: str | None = "balanced", seed: int = 0
    ) -> None:
        if kernel not in ("linear", "rbf"):
            raise unknown_name("svc kernel", kernel, ("linear", "rbf"))
        cs = tuple(float(c) for c in (C if isinstance(C, (list, tuple)) else (C,)))
        if not cs or any(c <= 0 for c in cs):
            raise ConfigError(f"svc C must be a non-empty list of positive numbers; got {C!r}.")
        self.C = cs
        self.kernel = kernel
        self.class_weight = class_weight
        self.seed = int(seed) % 2**31
        self.chosen_C: float | None = None
        self.model = None
        self._single_class: int | None = None
        self._x_fit = self._y_fit = None

    def _make(self, c: float):
        return make_pipeline(StandardScaler(), SVC(kernel=self.kernel, C=c, class_weight=self.class_weight,
                                                   random_state=self.seed))

    def fit(
        self, emb: np.ndarray, y: np.ndarray, emb_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
        refit_with_val: bool = True,
    ) -> EmbeddingSVC:
        """Fit on ``(M, D)`` embeddings and ``(M,)`` labels; choose ``C`` on the validation rows if given.

        ``refit_with_val=False`` keeps the validation rows out of the final fit: required when they are
        the test subject (``select_on_test`` runs), which must never be trained on.
        """
        emb, y = np.asarray(emb), np.asarray(y)
        if emb.ndim != 2 or len(emb) != len(y):
            raise ShapeError(f"EmbeddingSVC.fit needs emb (M, D) and y (M,); got {emb.shape}, {y.shape}.")
        has_val = emb_val is not None and y_val is not None and len(y_val) > 0
        x_all = np.concatenate([emb, emb_val]) if has_val and refit_with_val else emb
        y_all = np.concatenate([y, y_val]) if has_val and refit_with_val else y
        self._x_fit, self._y_fit = np.asarray(x_all, dtype=np.float64), np.asarray(y_all, dtype=np.int64)
        if len(np.unique(y_all)) < 2:  # nothing to separate: always predict the one class
            self._single_class, self.chosen_C = int(y_all[0]), self.C[0]
            return self
        best = self.C[0]
        if len(self.C) > 1 and has_val and len(np.unique(y)) >= 2:
            scores = [f1_score(y_val, self._make(c).fit(emb, y).predict(emb_val), average="macro") for c in self.C]
            best = self.C[int(np.argmax(scores))]  # first best: the smallest C among ties
        self.chosen_C = best
        self.model = self._make(best).fit(x_all, y_all)
        return self

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The fitted SVC as ``(arrays, info)`` without pickle: the rows it was fitted on and its settings.

        libsvm's solution is a deterministic function of the rows, labels, ``C`` and kernel, so
        :meth:`from_state` refits it exactly (tested) instead of storing solver internals.
        """
        if self.chosen_C is None:
            raise ConfigError("EmbeddingSVC is not fitted; call fit() first.")
        info = {"C": self.chosen_C, "kernel": self.kernel, "class_weight": self.class_weight, "seed": self.seed}
        return {"svc_x": self._x_fit, "svc_y": self._y_fit}, info

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], info: dict) -> EmbeddingSVC:
        """Rebuild the SVC written by :meth:`state` (refits on the stored rows)."""
        svc = cls(C=(float(info["C"]),), kernel=info["kernel"], class_weight=info["class_weight"], seed=info["seed"])
        return svc.fit(np.asarray(arrays["svc_x"]), np.asarray(arrays["svc_y"], dtype=np.int64))

    def decision_scores(self, emb: np.ndarray, num_classes: int) -> np.ndarray:
        """``(M, num_classes)`` one-vs-rest decision values; classes unseen in training get -inf."""
        out = np.full((len(emb), num_classes), -np.inf)
        if self._single_class is not None:
            out[:, self._single_class] = 0.0
            return out
        if self.model is None:
            raise ConfigError("EmbeddingSVC is not fitted; call fit() first.")
        scores = self.model.decision_function(np.asarray(emb))
        if scores.ndim == 1:  # two classes: one signed score for the second
            scores = np.stack([-scores, scores], 1)
        out[:, self.model.classes_] = scores
        return out

    def predict_proba(self, emb: np.ndarray, num_classes: int) -> np.ndarray:
        """``(M, num_classes)`` softmax of the decision values (module docstring), float64."""
        return scores_to_proba(self.decision_scores(emb, num_classes))
