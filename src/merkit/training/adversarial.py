"""Identity-adversarial training (subject = domain), used by the trainer for marked models.

MiER-CvT's "identity domain" (seed 000, docs/models/mier_cvt.md) strips
subject identity from the pooled features: a subject classifier sits behind
a gradient-reversal layer (GRL), the classifier learns to tell the training
subjects apart, and the reversed gradient pushes the feature extractor to
make that impossible. The total loss of one step is::

    L = CE(emotion logits, emotion) + lambda * CE(identity logits, subject)

where the identity logits are ``IdentityHead(GRL(z, alpha))`` of the pooled
features ``z = model.forward_features(x)``. ``alpha`` follows the DANN
schedule ``2 / (1 + exp(-gamma p)) - 1`` over training progress ``p`` (the
fraction of all optimiser steps done, from 0 at the first step to 1 after
the last), so early training, when the features are still noise, is not
disturbed. The identity classifier itself always gets the full gradient of
``lambda * CE``; only the gradient reaching the features is reversed and
scaled by ``alpha``.

Which models take part: any model whose ``default_cfg["identity_adversarial"]``
is true (``mier_cvt_id``, or ``mier_cvt`` with ``identity_adversarial=True``).
Its options ``identity_loss_weight`` (lambda), ``identity_hidden`` and
``identity_gamma`` (read from ``default_cfg`` with the defaults below) set
the rest.

Honesty. The subject classes are the distinct subjects of the rows the
trainer fits on, which :class:`~merkit.training.methods.supervised.SupervisedMethod`
takes from the fold's training rows only; the test subject of a fold never
becomes a class. The head is rebuilt per fold because the number of
training subjects changes (67 in a 68-subject composite LOSO fold) and it is
dropped after training: prediction uses the emotion head only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch.nn.functional as F
from torch import Tensor, nn

from merkit.errors import ConfigError, ShapeError
from merkit.models.mier_cvt import IdentityHead, dann_coefficient

__all__ = ["IdentityAdversary", "build_identity_adversary", "is_identity_adversarial"]

#: Reconstructed defaults (docs/models/mier_cvt.md): lambda 1, MLP 384 -> 256 -> subjects, DANN gamma 10.
DEFAULT_LOSS_WEIGHT = 1.0
DEFAULT_HIDDEN = 256
DEFAULT_GAMMA = 10.0


def is_identity_adversarial(model: nn.Module) -> bool:
    """Whether ``model`` asks for identity-adversarial training (``default_cfg['identity_adversarial']``)."""
    cfg = getattr(model, "default_cfg", None) or {}
    return bool(cfg.get("identity_adversarial", False))


class IdentityAdversary(nn.Module):
    """The identity head of one fit, with its subject classes and coefficient schedule.

    Args:
        num_features: width of the model's pooled features ``z``.
        subjects: the training subjects, in class-index order (distinct).
        loss_weight: lambda, the weight of the identity cross-entropy (> 0).
        hidden: hidden width of the identity MLP.
        gamma: steepness of the DANN schedule.
        total_steps: optimiser steps of the whole fit (the schedule's ``p = step / total_steps``).

    Raises:
        ConfigError: fewer than 2 subjects, a non-positive weight or step count.
    """

    def __init__(
        self,
        num_features: int,
        subjects: Sequence[str],
        loss_weight: float = DEFAULT_LOSS_WEIGHT,
        hidden: int = DEFAULT_HIDDEN,
        gamma: float = DEFAULT_GAMMA,
        total_steps: int = 1,
    ) -> None:
        super().__init__()
        if loss_weight <= 0:
            raise ConfigError(f"identity_loss_weight must be > 0; got {loss_weight!r}.")
        if total_steps < 1:
            raise ConfigError(f"total_steps must be >= 1; got {total_steps!r}.")
        self.subjects = tuple(str(s) for s in subjects)
        if len(set(self.subjects)) != len(self.subjects):
            raise ConfigError("identity classes must be distinct subjects; got duplicates.")
        self.head = IdentityHead(int(num_features), len(self.subjects), hidden=int(hidden))
        self.loss_weight = float(loss_weight)
        self.gamma = float(gamma)
        self.total_steps = int(total_steps)
        self._index = {s: i for i, s in enumerate(self.subjects)}

    def encode(self, subject_keys: Sequence[str]) -> np.ndarray:
        """Class indices ``(N,)`` int64 of ``subject_keys``.

        Raises:
            ConfigError: naming a subject that is not one of the training subjects.
        """
        try:
            return np.array([self._index[str(s)] for s in subject_keys], dtype=np.int64)
        except KeyError as exc:
            raise ConfigError(
                f"subject {exc.args[0]!r} is not one of the {len(self.subjects)} training subjects of this fit."
            ) from None

    def coefficient(self, step: int) -> float:
        """GRL coefficient alpha at optimiser step ``step`` (0-based)."""
        return dann_coefficient(step / self.total_steps, self.gamma)

    def loss(self, features: Tensor, subject_idx: Tensor, step: int) -> Tensor:
        """``lambda * CE(IdentityHead(GRL(features, alpha(step))), subject_idx)``.

        Args:
            features: ``(B, num_features)`` pooled features, still attached to the model's graph.
            subject_idx: ``(B,)`` int64 subject classes from :meth:`encode`.
            step: 0-based optimiser step of the fit.
        """
        if features.ndim != 2 or len(features) != len(subject_idx):
            raise ShapeError(
                f"identity loss needs features (B, D) and B subject indices; got {tuple(features.shape)} "
                f"and {tuple(subject_idx.shape)}."
            )
        logits = self.head(features, self.coefficient(step))
        return self.loss_weight * F.cross_entropy(logits.float(), subject_idx)


def build_identity_adversary(
    model: nn.Module, subjects: Sequence[str] | np.ndarray | None, total_steps: int
) -> IdentityAdversary | None:
    """The adversary for one fit of ``model``, or None when the model does not ask for one.

    Args:
        model: a registered model (``default_cfg``, ``num_features``, ``forward_features``, ``forward_head``).
        subjects: ``(N,)`` subject key of every training row (e.g. ``casme2/sub01``); the distinct
            values, sorted, become the identity classes.
        total_steps: optimiser steps the fit will take at most.

    Raises:
        ConfigError: the model asks for identity-adversarial training but no subjects were given,
            or it lacks ``forward_features``/``forward_head``, or there are fewer than 2 subjects.
    """
    if not is_identity_adversarial(model):
        return None
    name = type(model).__name__
    if subjects is None:
        raise ConfigError(
            f"{name} is marked identity_adversarial but the trainer got no subject ids; "
            "pass subjects= to fit_supervised."
        )
    if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
        raise ConfigError(f"{name} is marked identity_adversarial but has no forward_features/forward_head.")
    distinct = sorted({str(s) for s in np.asarray(subjects, dtype=object).tolist()})
    if len(distinct) < 2:
        raise ConfigError(
            f"identity-adversarial training needs at least 2 training subjects; got {distinct!r}."
        )
    cfg = model.default_cfg
    return IdentityAdversary(
        int(model.num_features),
        distinct,
        loss_weight=float(cfg.get("identity_loss_weight", DEFAULT_LOSS_WEIGHT)),
        hidden=int(cfg.get("identity_hidden", DEFAULT_HIDDEN)),
        gamma=float(cfg.get("identity_gamma", DEFAULT_GAMMA)),
        total_steps=total_steps,
    )
