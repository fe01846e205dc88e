"""``flow_pretrain_finetune``: flow-image pre-training, masked-face fine-tuning, SVM classifier (seed 002).

Liu et al., Sci. Rep. 2022 (docs/models/shufflenet_me.md). Per fold of the
protocol, on the training subjects only (the test subject is never seen by
either phase):

1. **Pre-training** (``pretrain=True``): a fresh model with a 3-channel stem
   learns the classes from the onset->apex flow images of the training rows
   (:mod:`merkit.inputs.masked_face_flow`) with softmax +
   cross-entropy, ``pretrain_epochs`` epochs at ``pretrain_lr`` (the paper's 0.001).
2. **Transfer**: the pre-trained "down-sampled partial layers" (the stem and
   ShuffleNetV2 stages 2-4; ``transfer_scope``) are loaded into a fresh
   gray-input model (:meth:`~merkit.models.shufflenet_me.ShuffleNetME.load_transfer_state_dict`).
3. **Fine-tuning** on the aligned, masked gray apex faces (``face_frames = T >
   1``: ``T`` faces per clip from after the onset to the apex, each a training
   image with the clip's label, the clip's probabilities the mean over them;
   our reading of the paper's "classify the image sequences", not the default)
   for ``[train] epochs`` at ``[train] lr`` with the chosen classifier ``head``
   (:mod:`merkit.training.heads`): ``"hinge"`` (a linear SVM head, Eq. 17
   + L2; default), ``"svc"`` (softmax training, then scikit-learn SVC on the
   embeddings) or ``"softmax"`` (the "without SVM" row).

Both phases train through :func:`merkit.training.loop.train_loop` with the
loss :func:`~merkit.training.heads.head_loss` + ``l2 *``
:func:`~merkit.training.heads.l2_penalty` (Keras ``l2(0.2)`` on
convolution and linear kernels). The loop's ``[train]`` settings apply to
both: ``optimizer`` (the seed-002 configs: ``"adam"``, as Keras, with
``weight_decay = 0``), ``lr_schedule = "plateau"`` / ``plateau_patience``
(the paper's learning rate "adjusted dynamically by accuracy and loss",
halved on a training-loss plateau, so nothing held out is read),
``batch_size``, ``schedule``, ``patience``, ``device``, ``amp``, ``threads``.
No other augmentation than the flip expansion below is applied by default
(``[train] augment`` is not read). ``augment=True`` (not in the paper;
docs/models/shufflenet_me.md) moves the fine-tuning phase's faces as the
supervised and seed-003 methods move theirs
(:class:`~merkit.training.augment.FlowAugment` with ``[train]`` ``flip_p``,
``max_shift``, ``max_rotation``, drawn per batch); pre-training is unchanged.

Class balance ``balance="flip_equal"`` (the paper's): every class smaller
than the largest gets horizontally flipped copies of its samples (flow ``u``
negated) up to the largest class's count, each sample flipped at most once
(:func:`expand_by_flipping`), and the loop draws each epoch the same number
of samples from every class without repetition (``imbalance =
"equal_per_class"``, set by the method for both phases whatever ``[train]
imbalance`` says). ``balance="none"``: no flipped copies, ``[train]
imbalance`` as configured.

Selection is honest (:func:`merkit.training.loop.fit_rows`): with
``schedule="early_stopping"`` each phase keeps the epoch with the best
``(validation UF1, -validation cross-entropy)`` on ``task.val_idx``
(training subjects); with ``"fixed"`` the last epoch is kept and the
validation subjects train too. The SVC head chooses ``C`` on the same
validation rows and refits on them unless the run is ``select_on_test``.

The fitted model is a :class:`~merkit.training.methods.fitted.TorchClassifier`
whose input is :meth:`MaskedFaceFlows.take`: encoded faces ``(M, 1, S, S)``.
Hinge scores are turned into probabilities by a softmax (argmax kept).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from merkit._options import unknown_name
from merkit.errors import ConfigError
from merkit.evaluation.runner import fold_seed
from merkit.inputs.masked_face_flow import (
    FLOW_IMAGES,
    MASKS,
    MaskedFaceFlowConfig,
    encode_face,
    encode_flow,
    flip_raw,
)
from merkit.models import create_model
from merkit.training.augment import FlowAugment
from merkit.training.heads import HEADS, EmbeddingSVC, extract_embeddings, head_loss, l2_penalty
from merkit.training.loop import TrainHistory, fit_rows, predict_scores, softmax, train_loop, validation_scorer
from merkit.training.methods import register_method
from merkit.training.methods.base import Method, encode_labels
from merkit.training.methods.fitted import TorchClassifier, mean_over_frames
from merkit.training.settings import TrainConfig

__all__ = ["FlowPretrainOptions", "FlowPretrainFinetune", "expand_by_flipping", "frames_as_images", "INPUT_KIND",
           "BALANCES"]

log = logging.getLogger(__name__)

#: The input kind of the ShuffleNetME models (their ``default_cfg["inputs"]``).
INPUT_KIND = "flow_image_then_masked_face"
BALANCES = ("flip_equal", "none")
_TRANSFER_SCOPES = ("downsampling", "backbone")
#: Constructor options the method sets per phase.
_PHASE_KEYS = ("in_chans", "inputs", "input_size")


@dataclass(frozen=True)
class FlowPretrainOptions:
    """``[method] options`` of ``flow_pretrain_finetune``.

    Attributes:
        size: input side in pixels for both phases (the paper's 224).
        mask: ``"mer"``, ``"eyes"`` or ``"none"`` (:mod:`~merkit.inputs.masked_face_flow`).
        flow_image: ``"hsv"`` or ``"uv_mag"`` pre-training image encoding.
        pretrain: run phase 1 and transfer (False: the "without pre-training" row).
        pretrain_epochs: phase 1 epochs (most epochs with early stopping).
        pretrain_lr: phase 1 learning rate.
        transfer_scope: ``"downsampling"`` or ``"backbone"``.
        head: ``"hinge"``, ``"svc"`` or ``"softmax"``.
        hinge_margin, hinge_p: Eq. 17's margin and power.
        l2: Keras-style L2 factor on kernels (the paper's 0.2).
        svc_C: SVC ``C`` candidates (chosen on validation subjects when there are several).
        svc_kernel: ``"linear"`` or ``"rbf"``.
        balance: ``"flip_equal"`` or ``"none"`` (module docstring).
        augment: random flips, shifts and rotations of the fine-tuning faces (False: the paper's
            flip expansion only; module docstring).
        face_frames: fine-tuning faces per clip (1: the apex; module docstring and
            :mod:`~merkit.inputs.masked_face_flow`).
    """

    size: int = 224
    mask: str = "mer"
    flow_image: str = "hsv"
    pretrain: bool = True
    pretrain_epochs: int = 30
    pretrain_lr: float = 1e-3
    transfer_scope: str = "downsampling"
    head: str = "hinge"
    hinge_margin: float = 1.0
    hinge_p: int = 1
    l2: float = 0.2
    svc_C: tuple = (0.1, 1.0, 10.0)
    svc_kernel: str = "linear"
    balance: str = "flip_equal"
    augment: bool = False
    face_frames: int = 1

    def __post_init__(self) -> None:
        for name, choices in (("head", HEADS), ("balance", BALANCES), ("flow_image", FLOW_IMAGES), ("mask", MASKS),
                              ("transfer_scope", _TRANSFER_SCOPES), ("svc_kernel", ("linear", "rbf"))):
            if getattr(self, name) not in choices:
                raise unknown_name(f"method.options.{name}", getattr(self, name), choices)
        if self.pretrain_epochs < 1 or self.pretrain_lr <= 0:
            raise ConfigError("method.options pretrain_epochs and pretrain_lr must be positive; got "
                              f"{self.pretrain_epochs!r}, {self.pretrain_lr!r}.")
        if self.l2 < 0:
            raise ConfigError(f"method.options.l2 must be >= 0; got {self.l2!r}.")
        if self.hinge_p not in (1, 2):
            raise ConfigError(f"method.options.hinge_p must be 1 or 2; got {self.hinge_p!r}.")
        if not self.svc_C or any(isinstance(c, bool) or not isinstance(c, (int, float)) or c <= 0 for c in self.svc_C):
            raise ConfigError(f"method.options.svc_C must be a non-empty list of positive numbers; got {self.svc_C!r}.")
        if not isinstance(self.augment, bool):
            raise ConfigError(f"method.options.augment must be true or false; got {self.augment!r}.")
        MaskedFaceFlowConfig(size=self.size, mask=self.mask, face_frames=self.face_frames)  # validates both


def expand_by_flipping(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows to flip so every class reaches the largest class's count (at most once per sample).

    Args:
        y: ``(N,)`` class indices.
        rng: draws which samples of a class are flipped when not all are needed.

    Returns:
        Sorted row positions into ``y`` whose mirrored copies are added.
    """
    counts = np.bincount(y)
    top = counts.max() if len(counts) else 0
    picked = []
    for c, n in enumerate(counts):
        if 0 < n < top:
            rows = np.flatnonzero(y == c)
            picked.append(rng.choice(rows, size=min(n, top - n), replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def _train_phase(model: nn.Module, x: np.ndarray, y: np.ndarray, head: str, options: FlowPretrainOptions,
                 cfg: TrainConfig, seed: int, val: tuple[np.ndarray, np.ndarray] | None, desc: str,
                 augment: bool = False) -> TrainHistory:
    """One phase through the shared loop: ``head``'s loss (``svc`` trains with cross-entropy) + Keras L2.

    ``augment``: move each batch of (face) images with ``cfg``'s flip, shift and rotation ranges.
    """
    mover = FlowAugment(None, "signed", cfg.flip_p, cfg.max_shift, cfg.max_rotation) if augment else None
    x_all = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(y, dtype=np.int64))
    train_head = "hinge" if head == "hinge" else "softmax"

    def make_batch(rows: torch.Tensor, gen: torch.Generator) -> tuple:
        xb = x_all[rows]
        return (mover(xb, gen) if mover is not None else xb), y_all[rows]

    def loss_fn(net: nn.Module, batch: tuple, ctx) -> Any:
        loss = head_loss(train_head, net(batch[0]).float(), batch[1], weight=ctx.class_weight,
                         margin=options.hinge_margin, p=options.hinge_p)
        if options.l2 == 0:
            return loss
        penalty = l2_penalty(net, options.l2)
        return loss + penalty, {"l2": float(penalty.detach())}

    validate = None
    if val is not None:
        x_val, y_val = val
        validate = validation_scorer(lambda net: mean_over_frames(
            x_val, lambda rows: softmax(predict_scores(net, rows, cfg.batch_size))), y_val)
    return train_loop(model, y, make_batch, loss_fn, cfg, seed=seed, validate=validate, desc=desc)


def frames_as_images(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, T, C, H, W)`` faces and ``(N,)`` labels -> ``(N T, C, H, W)`` images, each with its clip's label.

    ``(N, C, H, W)`` inputs (one face per clip) are returned unchanged.
    """
    if x.ndim != 5:
        return x, y
    return x.reshape(-1, *x.shape[2:]), np.repeat(np.asarray(y), x.shape[1])


@register_method("flow_pretrain_finetune")
class FlowPretrainFinetune(Method):
    """Flow pre-training, masked-face fine-tuning, SVM classifier (module docstring)."""

    options_class = FlowPretrainOptions

    def __init__(self, model: str, model_options: dict, options: Any, train: Any, features: Any,
                 progress: bool = True) -> None:
        super().__init__(model, model_options, options, train, features, progress)
        fixed = [k for k in _PHASE_KEYS if k in self.model_options]
        if fixed:
            raise ConfigError(f"model.options {fixed!r} are set per phase by flow_pretrain_finetune; remove them.")

        with torch.device("meta"):  # names a bad constructor option now, without allocating weights
            create_model(self.model, **self.network_options(1))

    @property
    def input_kind(self) -> str:
        return INPUT_KIND

    def network_options(self, in_chans: int) -> dict:
        """Constructor options of a phase's network: ``[model] options`` + input channels and size."""
        size = self.options.size
        return {**self.model_options, "in_chans": in_chans, "inputs": INPUT_KIND, "input_size": (size, size)}

    def input_settings(self) -> MaskedFaceFlowConfig:
        return MaskedFaceFlowConfig(size=self.options.size, flow=self.features.flow, mask=self.options.mask,
                                    face_frames=self.options.face_frames, cache_dir=self.features.cache_dir,
                                    workers=self.features.workers)

    def _phase_train(self, pretraining: bool) -> TrainConfig:
        changes: dict = {}
        if self.options.balance == "flip_equal":
            changes["imbalance"] = "equal_per_class"
        if pretraining:  # phase 1 counts epochs of its own
            changes.update(epochs=self.options.pretrain_epochs, lr=self.options.pretrain_lr, steps=0, eval_every=0)
        return dataclasses.replace(self.train, **changes)

    def fit(self, table: pd.DataFrame, task: Any) -> TorchClassifier:
        if self.inputs is None:
            raise ConfigError("flow_pretrain_finetune: call prepare(table) before fitting.")
        o = self.options
        seed = fold_seed(task.seed, task.fold.name)
        torch.manual_seed(seed)  # the networks' initial weights
        rng = np.random.default_rng(seed)
        keys = table["sample_key"].to_numpy()
        k = len(task.classes)
        train_idx, val_idx = fit_rows(task, self.train.schedule)
        y_train = encode_labels(table, train_idx, task.classes)
        faces, flows = self.inputs.raw(keys[train_idx])
        if o.balance == "flip_equal":
            flip = expand_by_flipping(y_train, rng)
            f_faces, f_flows = flip_raw(faces[flip], flows[flip])
            faces, flows = np.concatenate([faces, f_faces]), np.concatenate([flows, f_flows])
            y_train = np.concatenate([y_train, y_train[flip]])
        has_val = val_idx is not None and len(val_idx) > 0
        y_val = encode_labels(table, val_idx, task.classes) if has_val else None
        val_faces, val_flows = self.inputs.raw(keys[val_idx]) if has_val else (None, None)
        desc = f"seed {task.seed} {task.fold.name}"
        record: dict[str, TrainHistory] = {}
        model = create_model(self.model, num_classes=k, **self.network_options(1))
        if o.pretrain:
            flow_model = create_model(self.model, num_classes=k, **self.network_options(3))
            val = (encode_flow(val_flows, o.flow_image), y_val) if has_val else None
            record["pretrain"] = _train_phase(flow_model, encode_flow(flows, o.flow_image), y_train, "softmax", o,
                                              self._phase_train(True), seed, val, f"{desc} pre-train")
            model.load_transfer_state_dict(flow_model.transfer_state_dict(o.transfer_scope))
        x_train, y_frames = frames_as_images(encode_face(faces), y_train)
        x_val = encode_face(val_faces) if has_val else None
        record["finetune"] = _train_phase(model, x_train, y_frames, o.head, o, self._phase_train(False), seed + 1,
                                          (x_val, y_val) if has_val else None, f"{desc} fine-tune", o.augment)
        self.histories.append((task.seed, task.fold.name, record))
        log.info("seed %s fold %s: %s", task.seed, task.fold.name,
                 ", ".join(f"{n} kept epoch {h.best_epoch} ({h.seconds:.0f} s)" for n, h in record.items()))
        svc = None
        if o.head == "svc":
            # float64 rows: the SVC a bundle restores refits on exactly these (EmbeddingSVC.state)
            # with several faces per clip every face is an SVC row (validation faces too: C is chosen per face)
            x_val_rows, y_val_rows = frames_as_images(x_val, y_val) if has_val else (None, None)
            svc = EmbeddingSVC(o.svc_C, kernel=o.svc_kernel, seed=seed).fit(
                extract_embeddings(model, x_train).astype(np.float64), y_frames,
                extract_embeddings(model, x_val_rows).astype(np.float64) if has_val else None, y_val_rows,
                refit_with_val=not task.select_on_test,
            )
        return TorchClassifier(model, task.classes, self.model, self.network_options(1), svc)

    def restore(self, arrays: dict[str, np.ndarray], info: dict) -> TorchClassifier:
        return TorchClassifier.restore(arrays, info, tuple(info["classes"]), self.model, self.network_options(1))
