"""Training loop for registered torch models: one fit per fold, same code on CPU and GPU.

:func:`fit_model` trains a model on in-memory arrays and returns the
training history; :func:`predict_proba` gives softmax probabilities.

* Optimiser: AdamW (``lr``, ``weight_decay``), constant learning rate.
* Class imbalance (``imbalance``): ``"weighted_loss"`` weights cross-entropy
  by ``n / (K * n_c)`` over the K classes present in the training set (a
  class absent from training gets weight 0); ``"balanced_sampler"`` draws
  each epoch's samples with replacement, each class equally likely.
* Schedule: ``"fixed"`` trains ``epochs`` epochs and keeps the last one;
  ``"early_stopping"`` evaluates validation UF1 after each epoch, keeps the
  best epoch's weights (ties: lower validation loss) and stops after
  ``patience`` epochs without improvement. The validation samples are
  whatever the caller passes: the runner gives training subjects (honest) or
  the test subject (``select_on_test`` only).
* Identity-adversarial models (``default_cfg["identity_adversarial"]``,
  e.g. ``mier_cvt_id``): with the training rows' ``subjects`` the trainer adds
  the gradient-reversed subject-classifier loss of
  :mod:`merkit.training.adversarial` and optimises both heads.
* Device: CUDA when available (``device="auto"``) with bfloat16 autocast and
  channels-last memory (``amp``); float32 on CPU. Batches are drawn from a
  ``torch.Generator`` seeded by the caller, so a CPU run is reproducible.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from merkit.errors import ShapeError
from merkit.training.augment import FlowAugment, input_channels
from merkit.training.config import TrainConfig

__all__ = ["TrainHistory", "fit_model", "predict_proba", "resolve_device", "class_weights", "macro_f1"]

log = logging.getLogger(__name__)


@dataclass
class TrainHistory:
    """Per-epoch record of one fit.

    Attributes:
        train_loss: mean training loss per epoch.
        val_loss, val_uf1: validation loss and UF1 per epoch (empty without validation data).
        best_epoch: 1-based epoch whose weights were kept.
        samples_per_second: training throughput (forward + backward + step, excluding validation).
        seconds: wall time of the whole fit.
        identity_loss: mean weighted identity loss per epoch (identity-adversarial models only).
        identity_subjects: the identity classes (training subjects) of an identity-adversarial fit.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_uf1: list[float] = field(default_factory=list)
    best_epoch: int = 0
    samples_per_second: float = 0.0
    seconds: float = 0.0
    identity_loss: list[float] = field(default_factory=list)
    identity_subjects: tuple[str, ...] = ()


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; ``"cuda"`` without a GPU falls back to CPU with a log line."""
    if name == "cpu" or not torch.cuda.is_available():
        if name == "cuda":
            log.warning("train.device is 'cuda' but no CUDA device is available; using the CPU")
        return torch.device("cpu")
    return torch.device("cuda")


def class_weights(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights ``n / (K * n_c)`` over the K present classes; absent classes get 0."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """UF1 over the classes present in ``y_true`` or ``y_pred`` (validation-time model selection only)."""
    cm = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    used = denom > 0
    return float(np.mean(2 * tp[used] / denom[used])) if used.any() else 0.0


def _batches(n: int, batch_size: int, order: torch.Tensor) -> list[torch.Tensor]:
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:  # BatchNorm cannot train on one sample
        chunks[-2] = torch.cat(chunks[-2:])
        chunks.pop()
    return chunks


def _check_inputs(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{what} inputs must have shape (N, C, H, W); got {x.shape}.")
    if len(x) != len(y):
        raise ShapeError(f"{what}: {len(x)} inputs but {len(y)} labels; they must match.")


def fit_model(
    model: nn.Module,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    desc: str = "",
    subjects: np.ndarray | None = None,
) -> TrainHistory:
    """Train ``model`` in place.

    Args:
        model: a registered model (its ``default_cfg['inputs']`` selects the augmentation rule).
        x_fit: ``(N, C, H, W)`` float32 training inputs.
        y_fit: ``(N,)`` int64 class indices in ``[0, model.num_classes)``.
        cfg: training settings.
        seed: seeds batch order, class-balanced draws and augmentation.
        x_val: ``(M, C, H, W)`` validation inputs (needed by ``schedule="early_stopping"``).
        y_val: ``(M,)`` validation class indices.
        desc: progress bar label.
        subjects: ``(N,)`` subject key of each training row; needed (and only used) by
            identity-adversarial models, whose identity classes are these subjects.

    Returns:
        The :class:`TrainHistory`; ``model`` holds the kept epoch's weights, in eval mode, on the CPU.
    """
    from tqdm.auto import tqdm

    _check_inputs(x_fit, y_fit, "training")
    early = cfg.schedule == "early_stopping"
    if early and (x_val is None or y_val is None or len(y_val) == 0):
        raise ShapeError("train.schedule 'early_stopping' needs validation samples; none were given.")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    num_classes = int(model.num_classes)
    gen = torch.Generator().manual_seed(int(seed))
    u_channel, u_encoding = input_channels(model.default_cfg["inputs"])
    augment = FlowAugment(u_channel, u_encoding, cfg.flip_p, cfg.max_shift, cfg.max_rotation) if cfg.augment else None

    model = model.to(device)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    x_all = torch.from_numpy(np.ascontiguousarray(x_fit, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(y_fit, dtype=np.int64))
    weight = None
    if cfg.imbalance == "weighted_loss":
        weight = torch.tensor(class_weights(y_fit, num_classes), dtype=torch.float32, device=device)
    sample_p = None
    if cfg.imbalance == "balanced_sampler":
        sample_p = torch.from_numpy(class_weights(y_fit, num_classes)[y_fit]).double()
    from merkit.training.adversarial import build_identity_adversary

    steps_per_epoch = len(_batches(len(y_all), cfg.batch_size, torch.arange(len(y_all))))
    adversary = build_identity_adversary(model, subjects, cfg.epochs * steps_per_epoch)
    params = list(model.parameters())
    s_all = None
    if adversary is not None:
        if len(subjects) != len(y_all):
            raise ShapeError(f"training: {len(y_all)} inputs but {len(subjects)} subject ids; they must match.")
        adversary = adversary.to(device)
        params += list(adversary.parameters())
        s_all = torch.from_numpy(adversary.encode(subjects))
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    history = TrainHistory()
    best_key, best_state, since_best = None, None, 0
    train_time, seen, step = 0.0, 0, 0
    start = time.perf_counter()
    epochs = tqdm(range(1, cfg.epochs + 1), desc=desc or "train", disable=not cfg.progress, leave=False)
    for epoch in epochs:
        model.train()
        if adversary is not None:
            adversary.train()
        t0 = time.perf_counter()
        n = len(y_all)
        order = torch.multinomial(sample_p, n, True, generator=gen) if sample_p is not None else torch.randperm(n, generator=gen)
        total, count, id_total = 0.0, 0, 0.0
        for idx in _batches(n, cfg.batch_size, order):
            xb = x_all[idx]
            if augment is not None:
                xb = augment(xb, gen)
            xb, yb = xb.to(device, non_blocking=True), y_all[idx].to(device, non_blocking=True)
            if use_amp:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                if adversary is None:
                    logits = model(xb)
                else:
                    features = model.forward_features(xb)
                    logits = model.forward_head(features)
                    id_loss = adversary.loss(features, s_all[idx].to(device, non_blocking=True), step)
            loss = F.cross_entropy(logits.float(), yb, weight=weight)
            if adversary is not None:
                id_total += float(id_loss.detach()) * len(idx)
                loss = loss + id_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.perf_counter() - t0
        seen += count
        history.train_loss.append(total / max(count, 1))
        if adversary is not None:
            history.identity_loss.append(id_total / max(count, 1))

        if x_val is not None and y_val is not None and len(y_val):
            probs = predict_proba(model, x_val, cfg.batch_size, device=device, amp=use_amp)
            val_loss = float(F.nll_loss(torch.from_numpy(np.log(probs + 1e-12)), torch.from_numpy(np.asarray(y_val))))
            val_uf1 = macro_f1(np.asarray(y_val), probs.argmax(1), num_classes)
            history.val_loss.append(val_loss)
            history.val_uf1.append(val_uf1)
            if early:
                key = (val_uf1, -val_loss)
                if best_key is None or key > best_key:
                    best_key, since_best, history.best_epoch = key, 0, epoch
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    since_best += 1
                    if since_best >= cfg.patience:
                        break
        epochs.set_postfix(loss=f"{history.train_loss[-1]:.3f}")
    if adversary is not None:
        history.identity_subjects = adversary.subjects
    if not early:
        history.best_epoch = len(history.train_loss)
    elif best_state is not None:
        model.load_state_dict(best_state)
    history.samples_per_second = seen / train_time if train_time > 0 else 0.0
    history.seconds = time.perf_counter() - start
    model.to("cpu").to(memory_format=torch.contiguous_format).eval()
    return history


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: np.ndarray, batch_size: int = 256, device: torch.device | None = None, amp: bool = False
) -> np.ndarray:
    """Softmax probabilities ``(N, num_classes)`` float64 of ``x`` ``(N, C, H, W)`` in eval mode."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)).to(device)
        if amp:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(xb)
        out.append(torch.softmax(logits.float(), 1).cpu().numpy().astype(np.float64))
    model.train(was_training)
    if not out:
        return np.zeros((0, int(model.num_classes)))
    return np.concatenate(out)
