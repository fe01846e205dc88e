"""The ``[train]`` and ``[grid]`` settings: how the one training loop and the nested grid search run."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from merkit._options import choice, positive
from merkit.errors import ConfigError

__all__ = ["TrainConfig", "GridConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Training of torch models (ignored by SVM baselines except ``progress``).

    Attributes:
        epochs: epochs of the fixed schedule, or the most epochs with early stopping.
        batch_size: samples per step.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        schedule: ``"fixed"`` (train ``epochs`` on all training subjects, take the last epoch) or
            ``"early_stopping"`` (train on the fit subjects, keep the epoch with the best validation
            UF1; validation subjects are training subjects, never the test subject, unless the
            run is ``select_on_test``).
        patience: early stopping: epochs without improvement before stopping.
        steps: optimiser steps (0: ``epochs`` passes over the training items; MOL counts steps).
        eval_every: with ``steps``, evaluate validation every this many steps (0: after every pass).
        optimizer: ``"adamw"`` (decoupled weight decay), ``"adam"`` or ``"sgd"``.
        momentum: SGD momentum.
        lr_schedule: ``"constant"`` or ``"plateau"`` (halve the lr when the epoch's training loss has
            not improved for ``plateau_patience`` epochs).
        plateau_patience: see ``lr_schedule``.
        imbalance: ``"weighted_loss"`` (cross-entropy weighted by inverse class frequency),
            ``"balanced_sampler"`` (sample each class equally often, with replacement),
            ``"equal_per_class"`` (each epoch takes the smallest class count from every class, no
            repeats) or ``"none"``.
        augment: flow-aware augmentation on training batches.
        flip_p: probability of a horizontal flip (u is negated, see ``augment.py``).
        max_shift: largest random translation, as a fraction of the side.
        max_rotation: largest random rotation, degrees.
        precise_bn: after training (and before each validation), re-estimate every trainable
            BatchNorm layer's running mean and variance as the plain average over one pass of the
            training batches with the final weights (:func:`~merkit.training.loop.recalibrate_batchnorm`,
            "precise BN"). The usual running averages (momentum 0.1) lag weights that moved in the
            last steps; after short schedules eval-mode outputs can collapse to one class even on the
            training set (docs/training.md, "Precise BatchNorm"). Off by default, as in the papers.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        amp: mixed precision and channels-last on CUDA (no effect on CPU).
        threads: torch CPU threads per process (default 1: float sums, hence results, depend on the
            thread count, so one thread per fold makes a run reproducible on any machine; parallelism
            comes from ``run.executor = "process"``; 0: torch's default, all cores).
        progress: show tqdm progress bars.
    """

    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    schedule: str = "fixed"
    patience: int = 10
    steps: int = 0
    eval_every: int = 0
    optimizer: str = "adamw"
    momentum: float = 0.9
    lr_schedule: str = "constant"
    plateau_patience: int = 5
    imbalance: str = "weighted_loss"
    augment: bool = True
    flip_p: float = 0.5
    max_shift: float = 0.06
    max_rotation: float = 8.0
    precise_bn: bool = False
    device: str = "auto"
    amp: bool = True
    threads: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "lr", "patience"):
            positive(f"train.{key}", getattr(self, key))
        for key in ("weight_decay", "max_shift", "max_rotation", "threads", "steps", "eval_every", "momentum"):
            positive(f"train.{key}", getattr(self, key), allow_zero=True)
        positive("train.plateau_patience", self.plateau_patience)
        choice("train.optimizer", self.optimizer, ("adamw", "adam", "sgd"))
        choice("train.lr_schedule", self.lr_schedule, ("constant", "plateau"))
        if not 0.0 <= self.flip_p <= 1.0:
            raise ConfigError(f"train.flip_p must be in [0, 1]; got {self.flip_p!r}.")
        choice("train.schedule", self.schedule, ("fixed", "early_stopping"))
        choice("train.imbalance", self.imbalance, ("weighted_loss", "balanced_sampler", "equal_per_class", "none"))
        choice("train.device", self.device, ("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class GridConfig:
    """Nested grid search over ``[train]`` batch size, learning rate and epochs (merkit.training.grid_search).

    For every outer fold the candidates are compared on inner folds made of that fold's training
    subjects only; the best is retrained on all training subjects. Works with every torch method.

    Attributes:
        enabled: run the search (False: use ``[train]`` as it is).
        batch_size, lr, epochs: candidate values.
        inner_folds: subject groups of the inner split.
    """

    enabled: bool = False
    batch_size: tuple = (32, 64)
    lr: tuple = (0.001, 0.007)
    epochs: tuple = (10, 30)
    inner_folds: int = 3

    def __post_init__(self) -> None:
        for name in ("batch_size", "lr", "epochs"):
            values = getattr(self, name)
            if not isinstance(values, (tuple, list)) or not values or any(v <= 0 for v in values):
                raise ConfigError(f"grid.{name} must be a non-empty list of positive values; got {values!r}.")
        for name in ("batch_size", "epochs"):
            if any(not isinstance(v, int) or isinstance(v, bool) for v in getattr(self, name)):
                raise ConfigError(f"grid.{name} must hold integers; got {getattr(self, name)!r}.")
        if not isinstance(self.inner_folds, int) or self.inner_folds < 2:
            raise ConfigError(f"grid.inner_folds must be an integer >= 2; got {self.inner_folds!r}.")

    def candidates(self) -> list[dict]:
        """Every combination, in grid order (batch size, then lr, then epochs)."""
        return [{"batch_size": int(b), "lr": float(r), "epochs": int(e)}
                for b, r, e in itertools.product(self.batch_size, self.lr, self.epochs)]
