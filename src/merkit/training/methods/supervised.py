"""Supervised training of a registered network on precomputed inputs (incl. identity-adversarial models).

The method of STSTNet, OFF-ApexNet, the RGB-apex ResNet-18 and MiER-CvT
(seed 000): one fresh model per fold, cross-entropy (weighted by inverse
class frequency by default), flow-aware augmentation
(:mod:`merkit.training.augment`: a horizontal flip negates ``u``), the
training settings of ``[train]`` through :func:`merkit.training.loop.train_loop`.

Identity-adversarial models (``default_cfg["identity_adversarial"]``, e.g.
``mier_cvt_id``) add the gradient-reversed subject-classifier loss of
:mod:`merkit.training.adversarial`; its classes are the training rows'
subjects and the adversary is trained with the model (and discarded after).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from merkit.errors import ShapeError
from merkit.evaluation.runner import fold_seed
from merkit.models import create_model, model_defaults
from merkit.training.adversarial import build_identity_adversary
from merkit.training.augment import FlowAugment, input_channels
from merkit.training.loop import TrainHistory, fit_rows, planned_steps, predict_proba, train_loop, validation_scorer
from merkit.training.methods import register_method
from merkit.training.methods.base import Method, encode_labels
from merkit.training.methods.fitted import TorchClassifier
from merkit.training.settings import TrainConfig

__all__ = ["SupervisedMethod", "fit_supervised"]

log = logging.getLogger(__name__)


def fit_supervised(
    model: nn.Module,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    subjects: np.ndarray | None = None,
    desc: str = "",
) -> TrainHistory:
    """Train ``model`` in place with cross-entropy on in-memory arrays.

    Args:
        model: a registered model (its ``default_cfg['inputs']`` selects the augmentation rule).
        x_fit: ``(N, C, H, W)`` float32 training inputs.
        y_fit: ``(N,)`` int64 class indices in ``[0, model.num_classes)``.
        cfg: training settings.
        seed: seeds batch order, class-balanced draws and augmentation.
        x_val, y_val: validation rows (needed by ``schedule="early_stopping"``; curves otherwise).
        subjects: ``(N,)`` subject key of each training row; used (and needed) only by
            identity-adversarial models, whose identity classes are these subjects.
        desc: progress bar label.

    Returns:
        The :class:`~merkit.training.loop.TrainHistory`; ``model`` holds the kept weights, eval mode, CPU.
    """
    x_fit = np.asarray(x_fit)
    if x_fit.ndim != 4:
        raise ShapeError(f"training inputs must have shape (N, C, H, W); got {x_fit.shape}.")
    if len(x_fit) != len(y_fit):
        raise ShapeError(f"training: {len(x_fit)} inputs but {len(y_fit)} labels; they must match.")
    u_channel, u_encoding = input_channels(model.default_cfg["inputs"])
    augment = FlowAugment(u_channel, u_encoding, cfg.flip_p, cfg.max_shift, cfg.max_rotation) if cfg.augment else None
    x_all = torch.from_numpy(np.ascontiguousarray(x_fit, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(y_fit, dtype=np.int64))
    adversary = build_identity_adversary(model, subjects, planned_steps(len(y_all), cfg))
    s_all = None
    if adversary is not None:
        if len(subjects) != len(y_all):
            raise ShapeError(f"training: {len(y_all)} inputs but {len(subjects)} subject ids; they must match.")
        s_all = torch.from_numpy(adversary.encode(subjects))

    def make_batch(rows: torch.Tensor, gen: torch.Generator) -> tuple:
        xb = x_all[rows]
        if augment is not None:
            xb = augment(xb, gen)
        return (xb, y_all[rows]) if s_all is None else (xb, y_all[rows], s_all[rows])

    def loss_fn(net: nn.Module, batch: tuple, ctx) -> Any:
        if adversary is None:
            return F.cross_entropy(net(batch[0]).float(), batch[1], weight=ctx.class_weight)
        features = net.forward_features(batch[0])
        loss = F.cross_entropy(net.forward_head(features).float(), batch[1], weight=ctx.class_weight)
        id_loss = adversary.loss(features, batch[2], ctx.step)
        return loss + id_loss, {"identity": float(id_loss.detach())}

    validate = None
    if x_val is not None and y_val is not None and len(y_val):
        validate = validation_scorer(lambda net: predict_proba(net, x_val, cfg.batch_size), y_val)
    history = train_loop(model, y_fit, make_batch, loss_fn, cfg, seed=seed, validate=validate,
                         extra_modules=() if adversary is None else (adversary,), desc=desc)
    if adversary is not None:
        history.extra["identity_subjects"] = adversary.subjects
    return history


@register_method("supervised")
class SupervisedMethod(Method):
    """A registered network trained with cross-entropy on the model's input kind (module docstring)."""

    @property
    def input_kind(self) -> str:
        return str(self.model_options.get("inputs") or model_defaults(self.model)["inputs"])

    def input_settings(self) -> Any:
        return self.features

    def fit(self, table: pd.DataFrame, task: Any) -> TorchClassifier:
        seed = fold_seed(task.seed, task.fold.name)
        x = self.inputs.take(table["sample_key"].to_numpy())
        train_idx, val_idx = fit_rows(task, self.train.schedule)
        model = create_model(self.model, num_classes=len(task.classes), **self.model_options)
        history = fit_supervised(
            model, x[train_idx], encode_labels(table, train_idx, task.classes), self.train, seed=seed,
            x_val=None if val_idx is None else x[val_idx],
            y_val=None if val_idx is None else encode_labels(table, val_idx, task.classes),
            subjects=table["subject_key"].to_numpy()[train_idx] if "subject_key" in table.columns else None,
            desc=f"seed {task.seed} {task.fold.name}",
        )
        log.info("seed %s fold %s: %d epochs, kept %d, %.0f samples/s", task.seed, task.fold.name,
                 len(history.train_loss), history.best_epoch, history.samples_per_second)
        self.histories.append((task.seed, task.fold.name, history))
        return TorchClassifier(model, task.classes, self.model, self.model_options)

    def restore(self, arrays: dict[str, np.ndarray], info: dict) -> TorchClassifier:
        return TorchClassifier.restore(arrays, info, tuple(info["classes"]), self.model, self.model_options)
