"""The one training loop of every torch method, and the helpers around it.

:func:`train_loop` trains a model in place on any kind of batch. The method
supplies what differs between methods and the loop owns everything else:

* ``make_batch(rows, generator) -> tuple of tensors`` builds one batch from
  training-item positions (flow maps with augmentation, masked faces, MOL
  clips with random crops); draws from ``generator`` only, so a run is
  reproducible;
* ``loss_fn(model, batch, ctx) -> loss`` or ``(loss, parts)``: the method's
  objective (cross-entropy, the SVM hinge, MOL's joint loss, the
  identity-adversarial term); ``ctx`` gives the step, device and class weights;
* ``validate(model) -> (score, loss)`` on validation rows drawn from training
  subjects (never the test subject in honest mode), needed by early stopping.

From :class:`~merkit.training.settings.TrainConfig` the loop takes:

* length: ``epochs`` passes over the items, or exactly ``steps`` optimiser
  steps when ``steps > 0`` (passes are repeated as needed);
* optimiser: ``adamw`` (decoupled weight decay), ``adam`` or ``sgd``
  (``momentum``), constant learning rate or ``lr_schedule="plateau"``
  (halved when the epoch's training loss has not improved for
  ``plateau_patience`` epochs: training loss, so nothing held out is read);
* class imbalance: ``weighted_loss`` (``ctx.class_weight``: ``n / (K n_c)``
  over the classes present), ``balanced_sampler`` (each epoch draws N items
  with replacement, each class equally likely), ``equal_per_class`` (each
  epoch takes the smallest class count from every class, no repeats) or ``none``;
* selection: ``schedule="fixed"`` keeps the last weights;
  ``"early_stopping"`` evaluates after every epoch (or every ``eval_every``
  steps), keeps the best ``(score, -loss)`` and stops after ``patience``
  evaluations without improvement;
* freezing: an optional per-epoch list of modules to freeze
  (:func:`merkit.training.methods.macro_transfer.unfreeze_plan`); frozen
  BatchNorm layers stay in eval mode so transferred statistics are kept;
* precise BatchNorm (``precise_bn``): after training, and before every
  validation, :func:`recalibrate_batchnorm` replaces the running statistics of
  the trainable BatchNorm layers with their plain average over one pass of
  training batches under the current weights;
* device: CUDA when available (``device="auto"``) with bfloat16 autocast and
  channels-last 4-D batches (``amp``; not for networks with 3-D convolutions,
  :func:`use_channels_last`); float32 on CPU.

:func:`fit_rows` is the one "fixed schedule versus validation" rule of every
method: with a fixed schedule nothing is selected, so the validation subjects
train too; otherwise training uses ``fit_idx`` and selection ``val_idx``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from merkit.errors import ConfigError, ShapeError
from merkit.training.settings import TrainConfig

__all__ = [
    "StepContext",
    "TrainHistory",
    "train_loop",
    "fit_rows",
    "planned_steps",
    "predict_scores",
    "predict_proba",
    "softmax",
    "resolve_device",
    "class_weights",
    "macro_f1",
    "balanced_epoch_order",
    "validation_scorer",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepContext:
    """What a loss function may need besides the batch.

    Attributes:
        step: 0-based optimiser step.
        device: where the model and batch are.
        class_weight: ``(K,)`` cross-entropy weights with ``imbalance="weighted_loss"``, else None.
    """

    step: int
    device: torch.device
    class_weight: torch.Tensor | None


@dataclass
class TrainHistory:
    """Record of one :func:`train_loop` run.

    Attributes:
        train_loss: mean training loss per epoch.
        step_loss: training loss per optimiser step.
        parts: per step, the named loss parts the loss function returned (empty dicts if none).
        val_score, val_loss: per evaluation (empty without ``validate``).
        lr: learning rate per epoch.
        frozen_groups: modules frozen per epoch.
        best_epoch: 1-based epoch whose weights were kept.
        best_step: optimiser steps done when the kept weights were taken.
        samples_per_second: training throughput (forward + backward + step; validation excluded).
        seconds: wall time of the whole loop.
        extra: method-specific records (e.g. ``identity_subjects``).
    """

    train_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    parts: list[dict] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    frozen_groups: list[int] = field(default_factory=list)
    best_epoch: int = 0
    best_step: int = 0
    samples_per_second: float = 0.0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; ``"cuda"`` without a GPU falls back to CPU with a log line."""
    if name == "cpu" or not torch.cuda.is_available():
        if name == "cuda":
            log.warning("train.device is 'cuda' but no CUDA device is available; using the CPU")
        return torch.device("cpu")
    return torch.device("cuda")


def class_weights(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency weights ``n / (K * n_c)`` over the K present classes; absent classes get 0."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """UF1 over the classes present in ``y_true`` or ``y_pred`` (validation-time selection only)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    cm = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    used = denom > 0
    return float(np.mean(2 * tp[used] / denom[used])) if used.any() else 0.0


def fit_rows(task: Any, schedule: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and selection rows of a fold task under ``schedule`` (module docstring).

    Returns:
        ``(train_idx, val_idx)``; ``val_idx`` is None when nothing is selected (fixed schedule, honest).
    """
    if schedule == "fixed" and not task.select_on_test:
        return np.sort(np.concatenate([task.fit_idx, task.val_idx])), None
    return task.fit_idx, task.val_idx


def balanced_epoch_order(y: np.ndarray, gen: torch.Generator) -> torch.Tensor:
    """One epoch's rows: the smallest class count from every present class, no repeats, shuffled."""
    classes = np.unique(y)
    per_class = min(int((y == c).sum()) for c in classes)
    picked = []
    for c in classes:
        rows = torch.from_numpy(np.flatnonzero(y == c))
        picked.append(rows[torch.randperm(len(rows), generator=gen)[:per_class]])
    order = torch.cat(picked)
    return order[torch.randperm(len(order), generator=gen)]


def _batches(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:  # BatchNorm cannot train on one sample
        chunks[-2] = torch.cat(chunks[-2:])
        chunks.pop()
    return [c for c in chunks if len(c) > 1]


def planned_steps(n: int, cfg: TrainConfig) -> int:
    """Optimiser steps :func:`train_loop` will take on ``n`` items (before any early stop)."""
    if cfg.steps:
        return int(cfg.steps)
    # with imbalance="equal_per_class" an epoch is shorter: this is then an upper bound
    return cfg.epochs * len(_batches(torch.arange(n), cfg.batch_size))


def _epoch_order(
    labels: np.ndarray, cfg: TrainConfig, gen: torch.Generator, draw_p: torch.Tensor | None
) -> torch.Tensor:
    n = len(labels)
    if draw_p is not None:
        return torch.multinomial(draw_p, n, True, generator=gen)
    if cfg.imbalance == "equal_per_class":
        return balanced_epoch_order(labels, gen)
    return torch.randperm(n, generator=gen)


def _optimizer(params: list, cfg: TrainConfig) -> torch.optim.Optimizer:
    # foreach: one kernel per operation over all tensors, bit-identical to the per-tensor loop torch
    # picks on CPU (tested) and faster on large models such as MOL (44 M parameters); fused kernels are faster
    # still but round differently, which would move every recorded result.
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def _set_frozen(model: nn.Module, frozen: Sequence[nn.Module]) -> None:
    for p in model.parameters():
        p.requires_grad_(True)
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
        module.eval()  # frozen BatchNorm keeps its transferred running statistics


def use_channels_last(model: nn.Module, amp: bool, device: torch.device) -> bool:
    """Whether training moves ``model`` and its input batches to the channels-last layout.

    Only with mixed precision on CUDA, and only for 2-D networks: PyTorch refuses the 2-D
    channels-last format on 5-D weights (a 3-D convolution's, as in MOL), so one such weight
    keeps the whole network in the default layout.
    """
    return amp and device.type == "cuda" and all(p.dim() != 5 for p in model.parameters())


def _to_device(batch: tuple, device: torch.device, channels_last: bool) -> tuple:
    out = []
    for position, t in enumerate(batch):
        if isinstance(t, torch.Tensor):
            t = t.to(device, non_blocking=True)
            # only the network's input (the first tensor) is an image batch; targets keep their layout
            if channels_last and position == 0 and t.ndim == 4 and t.is_floating_point():
                t = t.contiguous(memory_format=torch.channels_last)
        out.append(t)
    return tuple(out)


def _batchnorm_layers(model: nn.Module, skip: Sequence[nn.Module] = ()) -> list[nn.modules.batchnorm._BatchNorm]:
    skipped = {id(m) for module in skip for m in module.modules()}
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and id(m) not in skipped]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Sequence[Any], forward: Callable[[nn.Module, Any], Any],
                          skip: Sequence[nn.Module] = ()) -> int:
    """Re-estimate BatchNorm running statistics under the model's current weights ("precise BN").

    Every BatchNorm layer of ``model`` outside ``skip`` forgets its running mean and variance and
    accumulates their plain (cumulative, ``momentum=None``) average over ``batches``, with the
    rest of the model in eval mode (dropout off) and no gradient. The exponential running average
    kept during training (momentum 0.1) mixes statistics of older weights; after a short schedule
    it can be far from the statistics of the final weights (Wu & Johnson, "Rethinking 'Batch' in
    BatchNorm", 2021, section 3). Momentum and eval mode are restored afterwards.

    Args:
        model: the network (left in eval mode).
        batches: inputs for ``forward``, each a batch of at least 2 items.
        forward: ``(model, batch) -> anything``; runs the network on one batch.
        skip: modules whose BatchNorm layers keep their statistics (e.g. frozen, transferred ones).

    Returns:
        The number of BatchNorm layers re-estimated (0: nothing to do, ``batches`` not read).
    """
    layers = _batchnorm_layers(model, skip)
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for batch in batches:
            forward(model, batch)
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.eval()
    return len(layers)


def train_loop(
    model: nn.Module,
    labels: np.ndarray,
    make_batch: Callable[[torch.Tensor, torch.Generator], tuple],
    loss_fn: Callable[[nn.Module, tuple, StepContext], torch.Tensor | tuple[torch.Tensor, dict]],
    cfg: TrainConfig,
    *,
    seed: int,
    validate: Callable[[nn.Module], tuple[float, float]] | None = None,
    freeze_plan: Sequence[Sequence[nn.Module]] | None = None,
    extra_modules: Sequence[nn.Module] = (),
    sample_weights: np.ndarray | None = None,
    on_step: Callable[[int, nn.Module], None] | None = None,
    desc: str = "",
) -> TrainHistory:
    """Train ``model`` in place (module docstring).

    Args:
        model: any ``nn.Module`` with ``num_classes``.
        labels: ``(N,)`` int64 class of each training item (drives the samplers and class weights).
        make_batch: builds the CPU tensors of one batch from item positions ``(B,)``.
        loss_fn: the objective of one batch (on ``ctx.device``).
        cfg: training settings.
        seed: seeds the item order and everything ``make_batch`` draws.
        validate: ``model -> (score, loss)`` on validation rows; needed by ``early_stopping``.
        freeze_plan: per epoch, modules to freeze (epochs past its end use its last entry).
        extra_modules: further trained modules (e.g. an identity adversary), optimised with the model.
        sample_weights: ``(N,)`` draw weights replacing the class-balanced ones of ``balanced_sampler``.
        on_step: ``(step, model)`` observer after every optimiser step (1-based step); must not feed back.
        desc: progress bar label.

    Returns:
        The :class:`TrainHistory`; ``model`` (and ``extra_modules``) end on the CPU in eval mode with the
        kept weights, every parameter trainable again.

    Raises:
        ShapeError: no training items, or early stopping without ``validate``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) < 2:  # BatchNorm cannot train on one item, and no batch could be formed
        raise ShapeError(f"train_loop: {len(labels)} training item(s); at least 2 are needed.")
    early = cfg.schedule == "early_stopping"
    if early and validate is None:
        raise ShapeError(
            "train.schedule 'early_stopping' needs validation rows from training subjects; none were given.")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    num_classes = int(model.num_classes)
    gen = torch.Generator().manual_seed(int(seed))
    model.to(device)
    channels_last = use_channels_last(model, use_amp, device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    for extra in extra_modules:
        extra.to(device)
    weight = None
    if cfg.imbalance == "weighted_loss":
        weight = torch.tensor(class_weights(labels, num_classes), dtype=torch.float32, device=device)
    draw_p = None
    if cfg.imbalance == "balanced_sampler":
        p = class_weights(labels, num_classes)[labels] if sample_weights is None else np.asarray(sample_weights)
        draw_p = torch.from_numpy(np.asarray(p, dtype=np.float64))
    params = list(model.parameters()) + [p for m in extra_modules for p in m.parameters()]
    optimizer = _optimizer(params, cfg)
    scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=cfg.plateau_patience)
                 if cfg.lr_schedule == "plateau" else None)
    max_steps = int(cfg.steps) if cfg.steps else None
    max_epochs = cfg.epochs if max_steps is None else 10**9

    history = TrainHistory()
    best_key, best_state, since_best = None, None, 0
    train_time, seen, step = 0.0, 0, 0
    start = time.perf_counter()
    stop = False

    calibrated_at = None  # the optimiser step whose weights the BatchNorm statistics were re-estimated for

    def precise_bn(frozen: Sequence[nn.Module]) -> None:
        # one pass over the training items in a fixed order, drawn from its own generator so the
        # training run itself is unchanged by it
        nonlocal calibrated_at
        calibrated_at = step
        recal_gen = torch.Generator().manual_seed(int(seed) + 1)
        rows = _batches(torch.arange(len(labels)), cfg.batch_size)

        def forward(net: nn.Module, rows_: torch.Tensor) -> None:
            batch = _to_device(make_batch(rows_, recal_gen), device, channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss_fn(net, batch, StepContext(step, device, weight))

        recalibrate_batchnorm(model, rows, forward, skip=frozen)

    def evaluate(epoch: int, frozen: Sequence[nn.Module] = ()) -> bool:
        nonlocal best_key, best_state, since_best
        if cfg.precise_bn:
            precise_bn(frozen)
        model.eval()
        score, loss = validate(model)
        history.val_score.append(float(score))
        history.val_loss.append(float(loss))
        if not early:
            return False
        key = (float(score), -float(loss))
        if best_key is None or key > best_key:
            best_key, since_best = key, 0
            history.best_epoch, history.best_step = epoch, step
            best_state = copy.deepcopy(model.state_dict())
            return False
        since_best += 1
        return since_best >= cfg.patience

    bar = tqdm(total=max_steps or max_epochs, desc=desc or "train", disable=not cfg.progress, leave=False)
    epoch = 0
    while not stop and epoch < max_epochs:
        epoch += 1
        frozen = list(freeze_plan[min(epoch - 1, len(freeze_plan) - 1)]) if freeze_plan else []
        model.train()
        for extra in extra_modules:
            extra.train()
        _set_frozen(model, frozen)
        history.frozen_groups.append(len(frozen))
        t0 = time.perf_counter()
        total, count = 0.0, 0
        batches = _batches(_epoch_order(labels, cfg, gen, draw_p), cfg.batch_size)
        if not batches:  # e.g. equal_per_class with a one-item class: a pass would never take a step
            raise ShapeError(f"train_loop: an epoch of {len(labels)} items with imbalance={cfg.imbalance!r} and "
                             f"batch_size={cfg.batch_size} gives no batch of 2 or more items.")
        for rows in batches:
            batch = _to_device(make_batch(rows, gen), device, channels_last)
            ctx = StepContext(step, device, weight)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                out = loss_fn(model, batch, ctx)
            loss, parts = out if isinstance(out, tuple) else (out, {})
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            value = float(loss.detach())
            history.step_loss.append(value)
            history.parts.append(parts)
            total += value * len(rows)
            count += len(rows)
            if on_step is not None:
                on_step(step, model)
                model.train()
                _set_frozen(model, frozen)
            if max_steps is not None:
                bar.update(1)
                if cfg.eval_every and validate is not None and (step % cfg.eval_every == 0 or step == max_steps):
                    stop = evaluate(epoch, frozen)
                    model.train()
                    _set_frozen(model, frozen)
                if stop or step >= max_steps:
                    stop = True
                    break
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.perf_counter() - t0
        seen += count
        history.train_loss.append(total / max(count, 1))
        history.lr.append(optimizer.param_groups[0]["lr"])
        if scheduler is not None:
            scheduler.step(history.train_loss[-1])
        if validate is not None and not (max_steps is not None and cfg.eval_every):
            stop = evaluate(epoch, frozen) or stop
        if max_steps is None:
            bar.update(1)
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}")
    bar.close()
    if early and best_state is not None:
        model.load_state_dict(best_state)  # its statistics were re-estimated before it was scored
    else:
        history.best_epoch, history.best_step = len(history.train_loss), step
        if cfg.precise_bn and calibrated_at != step:  # a validation after the last step already did it
            precise_bn(frozen)
    for p in model.parameters():
        p.requires_grad_(True)
    history.samples_per_second = seen / train_time if train_time > 0 else 0.0
    history.seconds = time.perf_counter() - start
    model.to("cpu").to(memory_format=torch.contiguous_format).eval()
    for extra in extra_modules:
        extra.to("cpu").eval()
    return history


@torch.no_grad()
def predict_scores(
    model: nn.Module,
    x: np.ndarray,
    batch_size: int = 128,
    device: torch.device | None = None,
    amp: bool = False,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """Raw outputs ``(N, K)`` float64 of ``forward`` (default ``model``) on ``x`` ``(N, ...)``, in eval mode."""
    device = device or next(model.parameters()).device
    forward = forward or model
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size], dtype=np.float32)).to(device)
        if amp and xb.ndim == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out.append(forward(xb).float().cpu().numpy().astype(np.float64))
    model.train(was_training)
    if not out:
        return np.zeros((0, int(getattr(model, "num_classes", 0))))
    return np.concatenate(out)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` scores, float64."""
    scores = np.asarray(scores, dtype=np.float64)
    z = np.exp(scores - scores.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def predict_proba(
    model: nn.Module, x: np.ndarray, batch_size: int = 256, device: torch.device | None = None, amp: bool = False
) -> np.ndarray:
    """Softmax probabilities ``(N, num_classes)`` float64 of ``x`` in eval mode."""
    scores = predict_scores(model, x, batch_size, device, amp)
    return softmax(scores) if len(scores) else scores


def validation_scorer(
    predict: Callable[[nn.Module], np.ndarray], y_val: np.ndarray, metric: str = "uf1"
) -> Callable[[nn.Module], tuple[float, float]]:
    """A ``validate`` callable for :func:`train_loop` from a probability predictor.

    Args:
        predict: ``model -> (M, K)`` class probabilities of the validation rows.
        y_val: ``(M,)`` their classes.
        metric: ``"uf1"`` or ``"accuracy"``.

    Returns:
        ``model -> (score, cross-entropy)``.
    """
    if metric not in ("uf1", "accuracy"):
        raise ConfigError(f"validation metric must be 'uf1' or 'accuracy'; got {metric!r}.")
    y_val = np.asarray(y_val, dtype=np.int64)

    def validate(model: nn.Module) -> tuple[float, float]:
        probs = predict(model)
        pred = probs.argmax(1)
        k = probs.shape[1]
        score = float(np.mean(pred == y_val)) if metric == "accuracy" else macro_f1(y_val, pred, k)
        loss = float(-np.mean(np.log(probs[np.arange(len(y_val)), y_val] + 1e-12)))
        return score, loss

    return validate
