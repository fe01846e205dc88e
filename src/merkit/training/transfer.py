"""Seed 003 training: macro-expression transfer (phase 1), micro fine-tuning with progressive unfreezing (phase 2).

Liu et al., 2022 (seed 003; architectures.md 5.3):

* **Phase 1** trains MobileViT-S on macro-expression images (3 classes,
  ``macro3``) with SGD, momentum 0.9, lr 0.01, batch 32, 100 epochs, and
  keeps "the weights of the MobileNetV2 block ... when the highest accuracy is
  achieved". Here the accuracy is measured on a validation split of the
  *macro* set drawn by subject (``val_fraction``), never on micro data, and
  the kept weights are :meth:`MobileViTME.transfer_state_dict` of ``scope``
  (``mv2`` = stem + MV2 blocks by default; see the model's docstring).
* **Phase 2** loads them into a fresh model and fine-tunes on the
  micro-expression apex frames with Adam, lr 0.007, batch 64. The paper
  "freeze[s] the weights of all convolutional layers and gradually
  unfreeze[s] [them] as the number of training iterations increases until
  all are unfrozen", without a schedule. Reconstructed schedule
  (``unfreeze="progressive"``): at the start every transferred group is
  frozen (weights fixed, its BatchNorm statistics frozen in eval mode), the
  untransferred parts (MobileViT blocks, final 1x1 conv, classifier) train;
  every ``unfreeze_every`` epochs the next transferred group is unfrozen,
  deepest first (``stages.4``, ``stages.3``, ... ``stem``), as in ULMFiT's
  gradual unfreezing. ``unfreeze_every=0`` spreads the groups so the last is
  unfrozen at half of the epochs. ``"none"`` trains everything from epoch 1;
  ``"frozen"`` never unfreezes.
* Both phases: L2 on convolution and linear kernels (Keras
  ``kernel_regularizer``, :func:`merkit.training.svm_heads.l2_penalty`;
  the paper's 0.2 is a named option, ``l2``), decoupled-free ``weight_decay``
  (the paper's sweep found 0.01 best), dropout 0.5 in the model, class
  balance by drawing each class equally often per epoch (the paper's "same
  number of samples per class in each iteration"), augmentation by small
  shifts, horizontal flips and "pixel fine-tuning with probability 0.3
  (maximum value 20)", read as a uniform grey-level offset in [-20, 20]/255
  on the face pixels of 30 % of the images.
* Classifier (``head``, shared with seed 002 in :mod:`merkit.training.svm_heads`):
  ``softmax``, ``hinge`` (linear SVM head trained with Eq. 17) or ``svc``
  (scikit-learn SVC on the 640-d embeddings of the softmax-trained network).

Honesty. Phase 1 never sees micro-expression data. Phase 2 selects (early
stopping, the SVC's ``C``) only on ``task.val_idx`` (training subjects).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from merkit._names import unknown_name
from merkit.errors import ConfigError, ShapeError
from merkit.training.augment import FlowAugment
from merkit.training.trainer import _batches, class_weights, macro_f1, resolve_device

__all__ = [
    "PhaseConfig",
    "TransferConfig",
    "PhaseHistory",
    "UNFREEZE_MODES",
    "OPTIMIZERS",
    "unfreeze_plan",
    "fit_phase",
    "pretrain_macro",
    "save_transfer_weights",
    "load_transfer_weights",
]

log = logging.getLogger(__name__)

UNFREEZE_MODES = ("progressive", "none", "frozen")
OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass(frozen=True)
class PhaseConfig:
    """Training settings of one phase.

    Attributes:
        epochs: epochs (fixed schedule) or the most epochs (early stopping).
        batch_size: samples per step.
        lr: initial learning rate (constant; the paper names no schedule).
        optimizer: ``"sgd"`` (momentum ``momentum``), ``"adam"`` or ``"adamw"``.
        momentum: SGD momentum.
        weight_decay: optimiser weight decay (coupled for sgd/adam, decoupled for adamw).
        l2: Keras-style L2 factor on conv/linear kernels added to the loss (paper: 0.2).
        imbalance: ``"balanced_sampler"`` (each class equally often), ``"weighted_loss"`` or ``"none"``.
        augment: shifts, flips and grey-level jitter on training batches.
        flip_p: horizontal flip probability.
        max_shift: largest translation, fraction of the side.
        jitter_p: probability of the grey-level offset per image.
        jitter_max: largest grey-level offset in 0-255 units.
        schedule: ``"fixed"`` (keep the last epoch) or ``"best_val"`` (keep the epoch with the best
            validation UF1 (phase 2) or accuracy (phase 1), ties: lower loss; stop after ``patience``).
        patience: early stopping patience in epochs.
        threads: torch CPU threads (0: leave as is).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.007
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.01
    l2: float = 0.0
    imbalance: str = "balanced_sampler"
    augment: bool = True
    flip_p: float = 0.5
    max_shift: float = 0.05
    jitter_p: float = 0.3
    jitter_max: float = 20.0
    schedule: str = "fixed"
    patience: int = 10
    threads: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "patience"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ConfigError(f"phase.{key} must be a positive integer; got {getattr(self, key)!r}.")
        if self.lr <= 0:
            raise ConfigError(f"phase.lr must be > 0; got {self.lr!r}.")
        for key in ("weight_decay", "l2", "momentum", "max_shift", "jitter_max"):
            if getattr(self, key) < 0:
                raise ConfigError(f"phase.{key} must be >= 0; got {getattr(self, key)!r}.")
        for key in ("flip_p", "jitter_p"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"phase.{key} must be in [0, 1]; got {getattr(self, key)!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        if self.imbalance not in ("balanced_sampler", "weighted_loss", "none"):
            raise unknown_name("imbalance", self.imbalance, ("balanced_sampler", "weighted_loss", "none"))
        if self.schedule not in ("fixed", "best_val"):
            raise unknown_name("schedule", self.schedule, ("fixed", "best_val"))


def _macro_default() -> PhaseConfig:
    return PhaseConfig(epochs=100, batch_size=32, lr=0.01, optimizer="sgd", schedule="best_val", patience=100)


@dataclass(frozen=True)
class TransferConfig:
    """The seed 003 method.

    Attributes:
        model: registered model name (``mobilevit_s_me``).
        model_options: constructor options (``in_chans``, ``drop_rate``, ``input_size``).
        transfer: run phase 1 and load its weights (False: the "without transfer" ablation).
        scope: transferred weights, ``mv2``, ``mv2_only`` or ``backbone``.
        unfreeze: ``"progressive"``, ``"none"`` or ``"frozen"`` (module docstring).
        unfreeze_every: epochs between unfreezing steps (0: automatic).
        head: ``softmax``, ``hinge`` or ``svc`` (:data:`merkit.training.svm_heads.HEADS`).
        svc_C: SVC regularisation candidates (``head="svc"``), chosen on validation subjects.
        macro_val_fraction: share of macro subjects held out to choose phase 1's epoch.
        macro: phase 1 settings (SGD 0.01, batch 32, 100 epochs, best validation accuracy).
        micro: phase 2 settings (Adam 0.007, batch 64).
    """

    model: str = "mobilevit_s_me"
    model_options: dict = field(default_factory=dict)
    transfer: bool = True
    scope: str = "mv2"
    unfreeze: str = "progressive"
    unfreeze_every: int = 0
    head: str = "svc"
    svc_C: tuple = (0.1, 1.0, 10.0)
    macro_val_fraction: float = 0.2
    macro: PhaseConfig = field(default_factory=_macro_default)
    micro: PhaseConfig = field(default_factory=PhaseConfig)

    def __post_init__(self) -> None:
        from merkit.models.mobilevit_me import TRANSFER_SCOPES
        from merkit.training.svm_heads import HEADS

        if self.scope not in TRANSFER_SCOPES:
            raise unknown_name("transfer scope", self.scope, TRANSFER_SCOPES)
        if self.unfreeze not in UNFREEZE_MODES:
            raise unknown_name("unfreeze mode", self.unfreeze, UNFREEZE_MODES)
        if self.head not in HEADS:
            raise unknown_name("head", self.head, HEADS)
        if self.unfreeze_every < 0:
            raise ConfigError(f"transfer.unfreeze_every must be >= 0; got {self.unfreeze_every!r}.")
        if not 0 < self.macro_val_fraction < 1:
            raise ConfigError(f"transfer.macro_val_fraction must be in (0, 1); got {self.macro_val_fraction!r}.")


@dataclass
class PhaseHistory:
    """Per-epoch record of one phase: losses, validation scores, frozen groups, the kept epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    frozen_groups: list[int] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def unfreeze_plan(model: nn.Module, prefixes: Sequence[str], mode: str, every: int, epochs: int) -> list[list[nn.Module]]:
    """Per epoch (0-based), the modules frozen in that epoch.

    Transferred groups are the model's :meth:`layer_groups` holding any key
    starting with one of ``prefixes``, ordered deepest first; they unfreeze
    one by one every ``every`` epochs (``every=0``: the last unfreezes at half
    of ``epochs``).

    Returns:
        ``epochs`` lists of modules (within a group only the transferred
        sub-modules are frozen: in ``stages.2`` the MV2 block, not the MobileViT block).
    """
    if mode not in UNFREEZE_MODES:
        raise unknown_name("unfreeze mode", mode, UNFREEZE_MODES)
    groups = []
    for name, module in reversed(model.layer_groups()):
        if name.startswith("stages."):
            subs = [(f"{name}.{child}.", m) for child, m in module.named_children()]
        else:
            subs = [(f"{name}.", module)]
        chosen = [m for qualified, m in subs if qualified.startswith(tuple(prefixes))]
        if chosen:
            groups.append(chosen)
    if mode == "none" or not groups:
        return [[] for _ in range(epochs)]
    if mode == "frozen":
        flat = [m for g in groups for m in g]
        return [flat for _ in range(epochs)]
    step = every or max(1, epochs // (2 * len(groups)))
    plan = []
    for epoch in range(epochs):
        unfrozen = min(len(groups), epoch // step)
        plan.append([m for g in groups[unfrozen:] for m in g])
    return plan


def _set_frozen(model: nn.Module, frozen: Sequence[nn.Module]) -> None:
    for p in model.parameters():
        p.requires_grad_(True)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
        module.eval()  # frozen BatchNorm keeps its transferred running statistics


def _make_optimizer(model: nn.Module, cfg: PhaseConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _jitter(x: torch.Tensor, cfg: PhaseConfig, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    hit = (torch.rand(b, generator=gen) < cfg.jitter_p).float()
    offset = (torch.rand(b, generator=gen) * 2 - 1) * cfg.jitter_max / 255.0 * hit
    face = (x > 0).to(x.dtype)  # masked eyes and the border stay 0
    return (x + offset[:, None, None, None] * face).clamp(0.0, 1.0)


@torch.no_grad()
def _scores(model: nn.Module, x: np.ndarray, device: torch.device, batch_size: int = 128) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], np.float32)).to(device)).float().cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, int(model.num_classes)), np.float32)


def fit_phase(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    cfg: PhaseConfig,
    *,
    seed: int,
    head: str = "softmax",
    frozen_plan: Sequence[Sequence[nn.Module]] | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    val_metric: str = "uf1",
) -> PhaseHistory:
    """Train ``model`` in place for one phase; it ends in eval mode on the CPU.

    Args:
        model: a model with ``num_classes`` (and ``layer_groups`` when ``frozen_plan`` is used).
        x: ``(N, C, H, W)`` float32 inputs in [0, 1].
        y: ``(N,)`` int64 class indices.
        cfg: the phase's settings.
        seed: seeds batch order, class draws and augmentation.
        head: training loss, ``softmax``/``svc`` (cross-entropy) or ``hinge`` (Eq. 17).
        frozen_plan: per epoch, the modules to freeze (:func:`unfreeze_plan`); None: nothing frozen.
        x_val, y_val: validation rows (needed by ``schedule="best_val"``).
        val_metric: ``"uf1"`` or ``"accuracy"`` (phase 1 keeps its best-accuracy epoch, as the paper).

    Returns:
        The :class:`PhaseHistory`.
    """
    from merkit.training.svm_heads import head_loss, l2_penalty

    if x.ndim != 4 or len(x) != len(y):
        raise ShapeError(f"fit_phase needs x (N, C, H, W) and y (N,); got {x.shape} and {np.shape(y)}.")
    best_val = cfg.schedule == "best_val"
    if best_val and (x_val is None or y_val is None or not len(y_val)):
        raise ShapeError("phase.schedule 'best_val' needs validation rows; none were given.")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    gen = torch.Generator().manual_seed(int(seed))
    k = int(model.num_classes)
    model.to(device)
    x_all, y_all = torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64))
    weight = None
    if cfg.imbalance == "weighted_loss":
        weight = torch.tensor(class_weights(y, k), dtype=torch.float32, device=device)
    draw_p = torch.from_numpy(class_weights(y, k)[y]).double() if cfg.imbalance == "balanced_sampler" else None
    augment = FlowAugment(None, "signed", cfg.flip_p, cfg.max_shift, 0.0) if cfg.augment else None
    optimizer = _make_optimizer(model, cfg)
    history = PhaseHistory()
    best_key, best_state, since = None, None, 0
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        frozen = list(frozen_plan[epoch]) if frozen_plan is not None else []
        _set_frozen(model, frozen)
        history.frozen_groups.append(len(frozen))
        n = len(y_all)
        order = torch.multinomial(draw_p, n, True, generator=gen) if draw_p is not None else torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for idx in _batches(n, cfg.batch_size, order):
            xb = x_all[idx]
            if augment is not None:
                xb = _jitter(augment(xb, gen), cfg, gen)
            xb, yb = xb.to(device), y_all[idx].to(device)
            loss = head_loss(head, model(xb).float(), yb, weight=weight)
            if cfg.l2:
                loss = loss + l2_penalty(model, cfg.l2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        history.train_loss.append(total / max(count, 1))
        if x_val is not None and y_val is not None and len(y_val):
            scores = _scores(model, x_val, device)
            pred = scores.argmax(1)
            yv = np.asarray(y_val)
            score = float(np.mean(pred == yv)) if val_metric == "accuracy" else macro_f1(yv, pred, k)
            vloss = float(torch.nn.functional.cross_entropy(torch.from_numpy(scores), torch.from_numpy(yv)))
            history.val_score.append(score)
            history.val_loss.append(vloss)
            if best_val:
                key = (score, -vloss)
                if best_key is None or key > best_key:
                    best_key, best_state, since, history.best_epoch = key, copy.deepcopy(model.state_dict()), 0, epoch + 1
                else:
                    since += 1
                    if since >= cfg.patience:
                        break
    if best_val and best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = len(history.train_loss)
    for p in model.parameters():
        p.requires_grad_(True)
    history.seconds = time.perf_counter() - start
    model.to("cpu").eval()
    return history


def _subject_split(subjects: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    names = np.array(sorted(set(subjects.tolist())))
    if len(names) < 2:
        raise ConfigError(f"the macro set has {len(names)} subject(s); a subject-wise validation split needs two.")
    rng = np.random.default_rng(seed)
    n_val = min(len(names) - 1, max(1, int(round(fraction * len(names)))))
    val = set(rng.choice(names, n_val, replace=False).tolist())
    is_val = np.array([s in val for s in subjects])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def pretrain_macro(
    x: np.ndarray, labels: Sequence[str], subjects: Sequence[str], classes: Sequence[str], cfg: TransferConfig, seed: int
) -> tuple[dict[str, torch.Tensor], PhaseHistory]:
    """Phase 1: train on macro images, keep the best-validation-accuracy epoch, return its transfer weights.

    Args:
        x: ``(N, C, H, W)`` macro inputs (:class:`~merkit.training.apex_gray.GrayApexProvider`).
        labels: class name per row.
        subjects: subject key per row (the validation split holds out whole subjects).
        classes: class order (the micro protocol's, so indices agree).
        cfg: the method settings (``cfg.macro`` for the optimiser).
        seed: split, initialisation and batch seed.

    Returns:
        ``(transfer state dict of cfg.scope, phase history)``.
    """
    from merkit.models import create_model

    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ConfigError(f"macro labels {unknown!r} are not protocol classes {list(classes)!r}; apply label set macro3.")
    y = np.array([index[c] for c in labels], np.int64)
    fit_idx, val_idx = _subject_split(np.asarray(subjects), cfg.macro_val_fraction, seed)
    torch.manual_seed(seed)
    model = create_model(cfg.model, num_classes=len(classes), **cfg.model_options)
    history = fit_phase(model, x[fit_idx], y[fit_idx], cfg.macro, seed=seed, head="softmax",
                        x_val=x[val_idx], y_val=y[val_idx], val_metric="accuracy")
    best = history.val_score[history.best_epoch - 1] if history.val_score else float("nan")
    log.info("phase 1 (macro): %d images, kept epoch %d, validation accuracy %.3f, %.0f s", len(y),
             history.best_epoch, best, history.seconds)
    return model.transfer_state_dict(cfg.scope), history


def save_transfer_weights(path: str | Path, state: dict[str, torch.Tensor]) -> Path:
    """Write transfer weights atomically (``torch.save`` of a plain tensor dict)."""
    from merkit._io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({k: v.contiguous() for k, v in state.items()}, tmp)
    return path


def load_transfer_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read weights written by :func:`save_transfer_weights` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"transfer weights {str(path)!r} do not exist; run phase 1 first.")
    return torch.load(path, map_location="cpu", weights_only=True)
