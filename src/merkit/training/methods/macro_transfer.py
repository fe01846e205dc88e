"""``macro_transfer``: macro-expression pre-training, micro fine-tuning with progressive unfreezing (seed 003).

Liu et al., 2022 (MobileViT-S; docs/models/mobilevit_me.md):

* **Phase 1** trains the model on macro-expression images (``macro3``
  classes; ``options.macro_data``) with the ``options.macro`` settings (paper:
  SGD, momentum 0.9, lr 0.01, batch 32, 100 epochs) and keeps "the weights of
  the MobileNetV2 block ... when the highest accuracy is achieved": accuracy
  on a validation split of the *macro* set drawn by subject
  (``macro_val_fraction``), never on micro data. The kept weights are
  :meth:`MobileViTME.transfer_state_dict` of ``scope`` (``mv2`` = stem + MV2
  blocks by default).
* **Phase 2** loads them into a fresh model per fold and fine-tunes on the
  micro-expression apex frames with ``[train]`` (paper: Adam, lr 0.007,
  batch 64). The paper "freeze[s] the weights of all convolutional layers and
  gradually unfreeze[s] [them]" without a schedule; reconstructed
  (``unfreeze="progressive"``): every transferred group starts frozen (its
  BatchNorm statistics too), the untransferred parts train, and every
  ``unfreeze_every`` epochs the next group is unfrozen, deepest first
  (ULMFiT's gradual unfreezing); ``unfreeze_every=0`` spreads the groups so
  the last unfreezes at half of the epochs. ``"none"`` trains everything from
  epoch 1, ``"frozen"`` never unfreezes.
* Both phases go through :func:`merkit.training.loop.train_loop`: loss =
  :func:`~merkit.training.heads.head_loss` + Keras-style
  :func:`~merkit.training.heads.l2_penalty` (``l2``; the paper's 0.2),
  batches with small shifts and horizontal flips
  (:class:`~merkit.training.augment.FlowAugment`) plus "pixel fine-tuning
  with probability 0.3 (maximum value 20)", read as a uniform grey-level
  offset in [-20, 20]/255 on the face pixels of ``jitter_p`` of the images.
  ``jitter_p``, ``jitter_max`` and ``l2`` apply to both phases.
* Classifier (``head``): ``softmax``, ``hinge`` (Eq. 17 on the network's
  linear head) or ``svc`` (an SVC on the 640-d embeddings of the
  softmax-trained network, ``C`` chosen on ``task.val_idx``, refitted on
  fit + validation rows only when these are training subjects).

Phase 1 runs once per run seed, in :meth:`MacroTransferMethod.prepare`; its
result is memoised in the feature cache (namespace
``macro_transfer.phase1``, keyed by the model, the macro settings, the crop
settings, the seed and the content of every macro image), so a resumed run
does not redo it, and kept per seed in the method, which the executors
pickle to their workers.

Honesty. Phase 1 never sees micro-expression data. Phase 2 selects (early
stopping, the SVC's ``C``) only on ``task.val_idx``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from merkit._options import unknown_name
from merkit.cache import FeatureCache, memoise
from merkit.data.labels import get_label_set
from merkit.errors import ConfigError, ShapeError
from merkit.evaluation.protocols import inner_validation_split
from merkit.evaluation.runner import fold_seed
from merkit.inputs.gray_apex import GrayApexConfig, GrayApexProvider
from merkit.inputs.macro_images import MacroDataConfig, load_macro_table
from merkit.models import create_model
from merkit.models.mobilevit_me import TRANSFER_SCOPES
from merkit.training.augment import FlowAugment
from merkit.training.heads import HEADS, EmbeddingSVC, extract_embeddings, head_loss, l2_penalty
from merkit.training.loop import TrainHistory, fit_rows, predict_proba, resolve_device, train_loop, validation_scorer
from merkit.training.methods import register_method
from merkit.training.methods.base import Method, build_options, encode_labels
from merkit.training.methods.fitted import TorchClassifier
from merkit.training.settings import TrainConfig

__all__ = ["MACRO_DEFAULTS", "UNFREEZE_MODES", "MacroTransferOptions", "MacroTransferMethod", "unfreeze_plan",
           "grey_jitter", "train_phase", "pretrain_macro", "fit_svc_head"]

log = logging.getLogger(__name__)

UNFREEZE_MODES = ("progressive", "none", "frozen")

#: Phase 1 defaults (the paper's): SGD 0.01, batch 32, 100 epochs, keep the best macro-validation accuracy.
MACRO_DEFAULTS = TrainConfig(epochs=100, batch_size=32, lr=0.01, optimizer="sgd", weight_decay=0.01,
                             schedule="early_stopping", patience=100, imbalance="balanced_sampler",
                             max_shift=0.05, max_rotation=0.0)

_PHASE1_VERSION = 1


@dataclass(frozen=True)
class MacroTransferOptions:
    """``[method] options`` of ``macro_transfer`` (module docstring).

    Attributes:
        transfer: run phase 1 and load its weights (False: the "without transfer" ablation).
        scope: transferred weights, ``mv2``, ``mv2_only`` or ``backbone``.
        unfreeze: ``"progressive"``, ``"none"`` or ``"frozen"``.
        unfreeze_every: epochs between unfreezing steps (0: automatic).
        head: ``softmax``, ``hinge`` or ``svc``.
        svc_C: SVC regularisation candidates (``head="svc"``), chosen on validation subjects.
        macro_val_fraction: share of macro subjects held out to choose phase 1's epoch.
        macro: phase 1 settings, a ``[train]``-style table over :data:`MACRO_DEFAULTS`.
        macro_data: the macro images (:class:`~merkit.inputs.macro_images.MacroDataConfig`).
        size: side of the square grey crop in pixels (the paper's 256).
        eye_margin: growth of each masked eye's landmark hull, fraction of the eye width.
        jitter_p: probability of the grey-level offset per training image.
        jitter_max: largest grey-level offset in 0-255 units.
        l2: Keras-style L2 factor on conv/linear kernels added to the loss (paper: 0.2).
    """

    transfer: bool = True
    scope: str = "mv2"
    unfreeze: str = "progressive"
    unfreeze_every: int = 0
    head: str = "svc"
    svc_C: tuple = (0.1, 1.0, 10.0)
    macro_val_fraction: float = 0.2
    macro: TrainConfig = field(default_factory=lambda: MACRO_DEFAULTS)
    macro_data: MacroDataConfig = field(default_factory=lambda: MacroDataConfig(synth_root="data/synthme_macro"))
    size: int = 256
    eye_margin: float = 0.25
    jitter_p: float = 0.3
    jitter_max: float = 20.0
    l2: float = 0.0

    def __post_init__(self) -> None:
        # the nested tables arrive as dicts from a config file or a model card: validate them strictly
        if isinstance(self.macro, dict):
            raw = {**dataclasses.asdict(MACRO_DEFAULTS), **self.macro}
            try:
                object.__setattr__(self, "macro", build_options(TrainConfig, raw, "method.options.macro"))
            except ConfigError as exc:  # TrainConfig names its keys train.*: say which table is meant
                raise ConfigError(f"method.options.macro (phase 1): {exc}") from None
        if isinstance(self.macro_data, dict):
            object.__setattr__(self, "macro_data",
                               build_options(MacroDataConfig, self.macro_data, "method.options.macro_data"))
        if not isinstance(self.macro, TrainConfig) or not isinstance(self.macro_data, MacroDataConfig):
            raise ConfigError("method.options.macro and method.options.macro_data must be tables of keys.")
        if self.scope not in TRANSFER_SCOPES:
            raise unknown_name("transfer scope", self.scope, TRANSFER_SCOPES)
        if self.unfreeze not in UNFREEZE_MODES:
            raise unknown_name("unfreeze mode", self.unfreeze, UNFREEZE_MODES)
        if self.head not in HEADS:
            raise unknown_name("head", self.head, HEADS)
        if not self.svc_C or any(isinstance(c, bool) or not isinstance(c, (int, float)) or c <= 0 for c in self.svc_C):
            raise ConfigError(f"method.options.svc_C must be a non-empty list of positive numbers; got {self.svc_C!r}.")
        if self.unfreeze_every < 0:
            raise ConfigError(f"method.options.unfreeze_every must be >= 0; got {self.unfreeze_every!r}.")
        if not 0 < self.macro_val_fraction < 1:
            raise ConfigError(f"method.options.macro_val_fraction must be in (0, 1); got {self.macro_val_fraction!r}.")
        if not 16 <= self.size <= 1024:
            raise ConfigError(f"method.options.size must be in [16, 1024] pixels; got {self.size!r}.")
        if not 0 <= self.eye_margin <= 1 or not 0 <= self.jitter_p <= 1:
            raise ConfigError(f"method.options.eye_margin and jitter_p must be in [0, 1]; got "
                              f"{self.eye_margin!r}, {self.jitter_p!r}.")
        if self.jitter_max < 0 or self.l2 < 0:
            raise ConfigError(f"method.options.jitter_max and l2 must be >= 0; got {self.jitter_max!r}, {self.l2!r}.")


def unfreeze_plan(
    model: nn.Module, prefixes: Sequence[str], mode: str, every: int, epochs: int
) -> list[list[nn.Module]]:
    """Per epoch (0-based), the modules frozen in that epoch (the loop's ``freeze_plan``).

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
        subs = ([(f"{name}.{child}.", m) for child, m in module.named_children()] if name.startswith("stages.")
                else [(f"{name}.", module)])
        chosen = [m for qualified, m in subs if qualified.startswith(tuple(prefixes))]
        if chosen:
            groups.append(chosen)
    if mode == "none" or not groups:
        return [[] for _ in range(epochs)]
    if mode == "frozen":
        flat = [m for g in groups for m in g]
        return [flat for _ in range(epochs)]
    step = every or max(1, epochs // (2 * len(groups)))
    return [[m for g in groups[min(len(groups), epoch // step):] for m in g] for epoch in range(epochs)]


def grey_jitter(x: torch.Tensor, p: float, max_level: float, gen: torch.Generator) -> torch.Tensor:
    """Add one uniform offset in ``[-max_level, max_level]/255`` to the face pixels of a ``p`` share of images."""
    b = x.shape[0]
    hit = (torch.rand(b, generator=gen) < p).float()
    offset = (torch.rand(b, generator=gen) * 2 - 1) * max_level / 255.0 * hit
    face = (x > 0).to(x.dtype)  # masked eyes and the border stay 0
    return (x + offset[:, None, None, None] * face).clamp(0.0, 1.0)


def train_phase(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    options: MacroTransferOptions,
    *,
    seed: int,
    head: str = "softmax",
    freeze_plan: Sequence[Sequence[nn.Module]] | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    metric: str = "uf1",
    desc: str = "",
) -> TrainHistory:
    """Train ``model`` in place for one phase through the shared loop (module docstring).

    Args:
        model: a model with ``num_classes`` (and ``layer_groups`` when ``freeze_plan`` is used).
        x: ``(N, C, H, W)`` float32 inputs in [0, 1].
        y: ``(N,)`` int64 class indices.
        cfg: the phase's loop settings.
        options: the method options (``jitter_p``, ``jitter_max``, ``l2``).
        seed: seeds batch order, class draws and augmentation.
        head: training loss, ``softmax``/``svc`` (cross-entropy) or ``hinge`` (Eq. 17).
        freeze_plan: per epoch, the modules to freeze (:func:`unfreeze_plan`).
        x_val, y_val: validation rows (needed by ``schedule="early_stopping"``).
        metric: validation score, ``"uf1"`` or ``"accuracy"`` (phase 1 keeps its best-accuracy epoch).
    """
    if x.ndim != 4 or len(x) != len(y):
        raise ShapeError(f"train_phase needs x (N, C, H, W) and y (N,); got {x.shape} and {np.shape(y)}.")
    augment = FlowAugment(None, "signed", cfg.flip_p, cfg.max_shift, cfg.max_rotation) if cfg.augment else None
    x_all = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(y, dtype=np.int64))

    def make_batch(rows: torch.Tensor, gen: torch.Generator) -> tuple:
        xb = x_all[rows]
        if augment is not None:
            xb = grey_jitter(augment(xb, gen), options.jitter_p, options.jitter_max, gen)
        return xb, y_all[rows]

    def loss_fn(net: nn.Module, batch: tuple, ctx) -> torch.Tensor:
        loss = head_loss(head, net(batch[0]).float(), batch[1], weight=ctx.class_weight)
        return loss + l2_penalty(net, options.l2) if options.l2 else loss

    validate = None
    if x_val is not None and y_val is not None and len(y_val):
        validate = validation_scorer(lambda net: predict_proba(net, x_val, cfg.batch_size), y_val, metric)
    return train_loop(model, y, make_batch, loss_fn, cfg, seed=seed, validate=validate, freeze_plan=freeze_plan,
                      desc=desc)


def _macro_classes() -> tuple[str, ...]:
    return tuple(get_label_set("macro3").classes)


def pretrain_macro(
    x: np.ndarray, labels: Sequence[str], subjects: Sequence[str], options: MacroTransferOptions, seed: int,
    model: str = "mobilevit_s_me", model_options: dict | None = None, progress: bool = False,
) -> tuple[dict[str, torch.Tensor], TrainHistory]:
    """Phase 1: train on macro images, keep the best-validation-accuracy epoch, return its transfer weights.

    Args:
        x: ``(N, C, H, W)`` macro inputs (:class:`~merkit.inputs.gray_apex.GrayApexProvider`).
        labels: ``macro3`` class name per row.
        subjects: subject key per row (the validation split holds out whole subjects).
        options: the method options (``options.macro`` for the loop).
        seed: split, initialisation and batch seed.
        model, model_options: the registered model and its constructor options.

    Returns:
        ``(transfer state dict of options.scope, phase history)``.
    """
    classes = _macro_classes()
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ConfigError(f"macro labels {unknown!r} are not macro3 classes {list(classes)!r}; apply label set macro3.")
    y = np.array([index[c] for c in labels], np.int64)
    if len(set(subjects)) < 2:
        raise ConfigError(f"the macro set has {len(set(subjects))} subject(s); a subject-wise validation split "
                          f"needs two.")
    fit_idx, val_idx = inner_validation_split(pd.DataFrame({"subject_key": list(subjects)}), np.arange(len(y)),
                                              options.macro_val_fraction, seed)
    torch.manual_seed(seed)
    net = create_model(model, num_classes=len(classes), **(model_options or {}))
    cfg = dataclasses.replace(options.macro, progress=progress and options.macro.progress)
    history = train_phase(net, x[fit_idx], y[fit_idx], cfg, options, seed=seed, x_val=x[val_idx], y_val=y[val_idx],
                          metric="accuracy", desc=f"phase 1 seed {seed}")
    best = history.val_score[history.best_epoch - 1] if history.val_score else float("nan")
    log.info("phase 1 (macro): %d images, kept epoch %d, validation accuracy %.3f, %.0f s", len(y),
             history.best_epoch, best, history.seconds)
    return net.transfer_state_dict(options.scope), history


def fit_svc_head(model: nn.Module, x: np.ndarray, table: pd.DataFrame, task: Any, C: Sequence[float],
                 seed: int) -> Any:
    """The ``svc`` head of a trained network: an :class:`~merkit.training.heads.EmbeddingSVC` on its embeddings.

    Fitted on ``task.fit_idx``, ``C`` chosen on ``task.val_idx``; refitted on fit + validation rows
    unless the run is ``select_on_test`` (its validation rows are then the test subject).

    Args:
        model: the trained network (eval mode).
        x: inputs of every row of ``table``.
        table, task: the fold.
        C: candidate regularisation strengths.
        seed: the SVC's random state.
    """
    val = task.val_idx
    return EmbeddingSVC(C=C, seed=seed).fit(
        extract_embeddings(model, x[task.fit_idx]), encode_labels(table, task.fit_idx, task.classes),
        extract_embeddings(model, x[val]) if len(val) else None,
        encode_labels(table, val, task.classes) if len(val) else None,
        refit_with_val=not task.select_on_test)


def _encode(state: dict[str, torch.Tensor], history: TrainHistory) -> dict[str, np.ndarray]:
    # cache array names must be identifiers: "stages.1.0.conv.weight" -> "t_stages__1__0__conv__weight"
    out = {"t_" + k.replace(".", "__"): v.numpy() for k, v in state.items()}
    if any(_decode_name(n) != k for n, k in zip(out, state)):
        raise ShapeError("a transfer weight name cannot be stored in the cache (it holds '__').")
    # what phase 1 kept, so a cached phase 1 still reports it
    out["h_best_epoch"] = np.array(history.best_epoch, dtype=np.int64)
    out["h_val_score"] = np.asarray(history.val_score, dtype=np.float64)
    return out


def _decode_name(name: str) -> str:
    return name[2:].replace("__", ".")


@register_method("macro_transfer")
class MacroTransferMethod(Method):
    """Macro-expression transfer then micro fine-tuning (module docstring).

    Attributes:
        transfer_states: run seed -> phase-1 transfer weights (filled by :meth:`prepare`).
        phase1: run seed -> ``{"best_epoch", "val_accuracy", "val_score"}`` of its phase 1.
    """

    options_class = MacroTransferOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transfer_states: dict[int, dict[str, torch.Tensor]] = {}
        self.phase1: dict[int, dict] = {}

    @property
    def input_kind(self) -> str:
        return "gray_apex_masked"

    def gray_config(self) -> Any:
        """The :class:`~merkit.inputs.gray_apex.GrayApexConfig` of the options and ``[features]``."""
        return GrayApexConfig(size=self.options.size, eye_margin=self.options.eye_margin,
                              cache_dir=self.features.cache_dir, workers=self.features.workers)

    def input_settings(self) -> Any:
        return self.gray_config()

    def pretrain(self, table: pd.DataFrame, seeds: Sequence[int] = (0,)) -> None:
        """Phase 1 of every run seed (macro-expression images only; ``table`` is not read)."""
        if self.options.transfer:
            for seed in seeds:
                self.transfer_state(int(seed))

    def transfer_state(self, seed: int) -> dict[str, torch.Tensor]:
        """Phase-1 weights of run seed ``seed``: kept, else read from the feature cache, else trained."""
        if seed not in self.transfer_states:
            self.transfer_states[seed] = self._phase1(seed)
        return self.transfer_states[seed]

    def _phase1(self, seed: int) -> dict[str, torch.Tensor]:
        opts = self.options
        macro_table = load_macro_table(opts.macro_data)

        def compute() -> dict[str, np.ndarray]:
            features, kept = GrayApexProvider(self.gray_config(), progress=self.progress).for_images(macro_table)
            state, history = pretrain_macro(features.take(kept["image_key"]), kept["label"].tolist(),
                                            kept["subject_key"].tolist(), opts, seed, self.model, self.model_options,
                                            self.progress)
            return _encode(state, history)

        macro = {k: v for k, v in dataclasses.asdict(opts.macro).items() if k != "progress"}
        settings = {"model": self.model, "model_options": self.model_options, "scope": opts.scope, "macro": macro,
                    "macro_val_fraction": opts.macro_val_fraction, "size": opts.size, "eye_margin": opts.eye_margin,
                    "jitter_p": opts.jitter_p, "jitter_max": opts.jitter_max, "l2": opts.l2, "seed": int(seed),
                    "device": resolve_device(opts.macro.device).type, "version": _PHASE1_VERSION}
        cache = FeatureCache(self.features.cache_dir or None)
        arrays = memoise(cache, "macro_transfer.phase1", settings, macro_table["path"].astype(str).tolist(), compute,
                         meta={"seed": int(seed), "images": len(macro_table)})
        best, scores = int(arrays["h_best_epoch"]), np.asarray(arrays["h_val_score"]).tolist()
        self.phase1[seed] = {"best_epoch": best, "val_score": scores,
                             "val_accuracy": scores[best - 1] if 0 < best <= len(scores) else float("nan")}
        return {_decode_name(n): torch.from_numpy(np.array(v)) for n, v in arrays.items() if n.startswith("t_")}

    def with_train(self, **changes: Any) -> MacroTransferMethod:
        clone = super().with_train(**changes)
        clone.transfer_states, clone.phase1 = self.transfer_states, self.phase1  # grid candidates share phase 1
        return clone

    def fit(self, table: pd.DataFrame, task: Any) -> TorchClassifier:
        opts = self.options
        seed = fold_seed(task.seed, task.fold.name)
        x = self.inputs.take(table["sample_key"].to_numpy())
        train_idx, val_idx = fit_rows(task, self.train.schedule)
        torch.manual_seed(seed)
        model = create_model(self.model, num_classes=len(task.classes), **self.model_options)
        plan = None
        if opts.transfer:
            model.load_transfer_state(self.transfer_state(int(task.seed)), opts.scope)
            plan = unfreeze_plan(model, model.transfer_prefixes(opts.scope), opts.unfreeze, opts.unfreeze_every,
                                 self.train.epochs)
        has_val = val_idx is not None and len(val_idx) > 0
        history = train_phase(
            model, x[train_idx], encode_labels(table, train_idx, task.classes), self.train, opts, seed=seed,
            head="softmax" if opts.head == "svc" else opts.head, freeze_plan=plan,
            x_val=x[val_idx] if has_val else None,
            y_val=encode_labels(table, val_idx, task.classes) if has_val else None,
            desc=f"seed {task.seed} {task.fold.name}")
        log.info("seed %s fold %s: phase 2 %d epochs, kept %d, %.0f s", task.seed, task.fold.name,
                 len(history.train_loss), history.best_epoch, history.seconds)
        self.histories.append((task.seed, task.fold.name, history))
        svc = None
        if opts.head == "svc":
            svc = fit_svc_head(model, x, table, task, opts.svc_C, seed)
            log.info("seed %s fold %s: SVC C=%g", task.seed, task.fold.name, svc.chosen_C)
        return TorchClassifier(model, task.classes, self.model, self.model_options, svc)

    def restore(self, arrays: dict[str, np.ndarray], info: dict) -> TorchClassifier:
        return TorchClassifier.restore(arrays, info, tuple(info["classes"]), self.model, self.model_options)
