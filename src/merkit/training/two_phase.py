"""Seed 002's two-phase training: flow pre-training, then fine-tuning on masked faces, SVM classifier.

Liu et al., Sci. Rep. 2022 (seed 002), Fig. 1 and "TV-L1 optical flow
features and pre-training"; architectures.md section 4.3. Per fold of the
protocol (so the test subject is never seen by either phase):

1. **Pre-training** (``pretrain=True``): a fresh model with a 3-channel stem
   learns the classes from the onset->apex TV-L1 flow images of the training
   rows (:mod:`merkit.training.seed002_inputs`), with softmax +
   cross-entropy, Adam at ``pretrain_lr`` (the paper's 0.001).
2. **Transfer**: the pre-trained "down-sampled partial layers" (the stem and
   ShuffleNetV2 stages 2-4; ``transfer_scope``) are loaded into a fresh
   gray-input model (:meth:`~merkit.models.shufflenet_me.ShuffleNetME.load_transfer_state_dict`).
3. **Fine-tuning** on the aligned, masked gray apex faces with the chosen
   classifier ``head`` (:mod:`merkit.training.svm_heads`): ``"hinge"`` (a
   linear SVM head, Eq. 17 + L2; default), ``"svc"`` (softmax training, then
   scikit-learn SVC on the embeddings) or ``"softmax"`` (the "without SVM" row).

Both phases use the paper's class balancing (``balance="flip_equal"``):
every class smaller than the largest gets horizontally flipped copies of its
samples (flow ``u`` negated) up to the largest class's count (each sample
flipped at most once), and every epoch draws the same number of samples
from each class, without repetition inside the epoch ("the same number of
samples from each category ... fed randomly without repetition").

Selection is honest: with ``train.schedule="early_stopping"`` each phase
keeps the epoch with the best validation UF1 (the paper keeps "the most
accurate" weights), measured on validation subjects drawn from the training
subjects; with ``"fixed"`` the last epoch is kept and fit + validation rows
are all used for training. The learning rate is "adjusted dynamically by
accuracy and loss": here ``lr_schedule="plateau"`` halves it when the
training loss has not improved for ``plateau_patience`` epochs (the training
loss, so no held-out data is read).

L2: Keras ``l2(0.2)`` on convolution and linear kernels and dropout 0.5, as
stated (``l2`` option; the hinge head and the softmax heads get the same
penalty). The optimiser is plain Adam (no decoupled weight decay), as in Keras.

Configuration: ``[model] name`` is one of the seed-002 models (their input
kind ``seed002_flow_then_face`` routes the run here through the engine's
``METHOD_MODULES`` hook); ``model.options`` holds the fields of
:class:`TwoPhaseOptions` (``head``, ``pretrain``, ...) and, beside them, the
model's constructor options (``cbam_position``, ``vit_dims``, ...). Epochs,
batch size, lr, schedule, patience, device and threads come from ``[train]``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from merkit._names import unknown_name
from merkit.errors import ConfigError
from merkit.evaluation.runner import FoldTask, fold_seed
from merkit.training.config import ExperimentConfig, TrainConfig
from merkit.training.seed002_inputs import FLOW_IMAGES, RawInputs, Seed002Inputs, compute_raw_inputs, encode_face, encode_flow, flip_raw
from merkit.training.svm_heads import HEADS, EmbeddingSVC, extract_embeddings, head_loss, l2_penalty, scores_to_proba
from merkit.training.loop import macro_f1, resolve_device

__all__ = ["TwoPhaseOptions", "TwoPhaseFitPredict", "PhaseHistory", "train_phase", "balanced_epoch_order",
           "expand_by_flipping", "build_features", "build_fit_predict", "KIND", "BALANCES", "LR_SCHEDULES"]

log = logging.getLogger(__name__)

BALANCES = ("flip_equal", "none")
LR_SCHEDULES = ("plateau", "constant")


_NUMERIC = {"size": int, "pretrain_epochs": int, "pretrain_lr": float, "hinge_margin": float, "hinge_p": int,
            "l2": float, "plateau_patience": int}


@dataclass(frozen=True)
class TwoPhaseOptions:
    """The method's options (the keys of ``model.options`` that are not constructor options).

    Attributes:
        model: registered model (``shufflenet_v2_me``, ``shufflenet_v2_me_cbam``, ``shufflenet_v2_me_vit``).
        model_options: its constructor options (``in_chans``, ``inputs`` and ``input_size`` are set per phase).
        size: input side in pixels for both phases (the paper's 224).
        mask: ``"mer"``, ``"eyes"`` or ``"none"`` (:mod:`~merkit.training.seed002_inputs`).
        flow_image: ``"hsv"`` or ``"uv_mag"`` pre-training image encoding.
        pretrain: run phase 1 and transfer (False: the "without pre-training" row).
        pretrain_epochs: phase 1 epochs (most epochs with early stopping).
        pretrain_lr: phase 1 Adam learning rate.
        transfer_scope: ``"downsampling"`` or ``"backbone"``.
        head: ``"hinge"``, ``"svc"`` or ``"softmax"``.
        hinge_margin, hinge_p: Eq. 17's margin and power.
        l2: Keras-style L2 factor on kernels (the paper's 0.2).
        svc_C: SVC ``C`` candidates (chosen on validation subjects when there are several).
        svc_kernel: ``"linear"`` or ``"rbf"``.
        balance: ``"flip_equal"`` or ``"none"``.
        lr_schedule: ``"plateau"`` or ``"constant"``.
        plateau_patience: epochs without a lower training loss before the lr is halved.
    """

    model: str = "shufflenet_v2_me_vit"
    model_options: dict = field(default_factory=dict)
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
    lr_schedule: str = "plateau"
    plateau_patience: int = 5

    def __post_init__(self) -> None:
        # YAML 1.1 reads `1e-3` (no dot) as a string; top-level --set values are coerced the same way
        for name, kind in _NUMERIC.items():
            value = getattr(self, name)
            try:
                number = kind(float(value)) if isinstance(value, str) else value
            except ValueError:
                number = None
            if isinstance(number, bool) or not isinstance(number, (int, float)) or (kind is int and number != int(number)):
                raise ConfigError(f"model.options.{name} must be a{'n integer' if kind is int else ' number'}; "
                                  f"got {value!r}.")
            object.__setattr__(self, name, kind(number))
        for name, value, choices in (("head", self.head, HEADS), ("balance", self.balance, BALANCES),
                                     ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
                                     ("flow_image", self.flow_image, FLOW_IMAGES)):
            if value not in choices:
                raise unknown_name(f"model.options.{name}", value, choices)
        if self.pretrain_epochs < 1 or self.pretrain_lr <= 0 or self.plateau_patience < 1:
            raise ConfigError("model.options pretrain_epochs, pretrain_lr and plateau_patience must be positive; got "
                              f"{self.pretrain_epochs!r}, {self.pretrain_lr!r}, {self.plateau_patience!r}.")
        if self.l2 < 0:
            raise ConfigError(f"model.options.l2 must be >= 0; got {self.l2!r}.")
        object.__setattr__(self, "svc_C", tuple(self.svc_C) if isinstance(self.svc_C, (list, tuple)) else (self.svc_C,))

    @classmethod
    def from_model_config(cls, name: str, options: dict) -> TwoPhaseOptions:
        """Split ``model.options`` into method options and constructor options (checked by ``create_model``)."""
        own = {f.name for f in dataclasses.fields(cls)} - {"model", "model_options"}
        method = {k: v for k, v in options.items() if k in own}
        ctor = {k: v for k, v in options.items() if k not in own}
        for fixed in ("in_chans", "inputs", "input_size"):
            if fixed in ctor:
                raise ConfigError(f"model.options.{fixed} is set per phase by the two-phase method; remove it.")
        from merkit.models import create_model

        create_model(name, **ctor)  # fails early, naming a bad constructor option
        return cls(model=name, model_options=ctor, **method)


@dataclass
class PhaseHistory:
    """Per-epoch record of one phase: training loss, validation UF1 (if any), kept epoch, seconds."""

    train_loss: list[float] = field(default_factory=list)
    val_uf1: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


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


def balanced_epoch_order(y: np.ndarray, gen: torch.Generator) -> torch.Tensor:
    """One epoch's rows: the same number (the smallest class count) from every present class, no repeats, shuffled."""
    classes = np.unique(y)
    per_class = min(int((y == c).sum()) for c in classes)
    picked = []
    for c in classes:
        rows = torch.from_numpy(np.flatnonzero(y == c))
        picked.append(rows[torch.randperm(len(rows), generator=gen)[:per_class]])
    order = torch.cat(picked)
    return order[torch.randperm(len(order), generator=gen)]


def train_phase(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    head: str,
    l2: float,
    seed: int,
    balance: str = "flip_equal",
    lr_schedule: str = "plateau",
    plateau_patience: int = 5,
    hinge_margin: float = 1.0,
    hinge_p: int = 1,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    early_stopping: bool = False,
    patience: int = 10,
    device: str = "auto",
) -> PhaseHistory:
    """Train ``model`` in place with Adam on in-memory arrays (one phase).

    Args:
        model: a registered model with ``num_classes``.
        x: ``(N, C, H, W)`` float32 inputs (already expanded by flipping if wanted).
        y: ``(N,)`` int64 class indices.
        epochs: most epochs.
        lr: Adam learning rate.
        batch_size: samples per step.
        head: loss head (:data:`~merkit.training.svm_heads.HEADS`; ``svc`` trains with cross-entropy).
        l2: Keras-style kernel L2 factor.
        seed: seeds the epoch draws.
        balance: ``"flip_equal"`` draws equal class counts per epoch; ``"none"`` a plain permutation.
        lr_schedule: ``"plateau"`` or ``"constant"``.
        plateau_patience: epochs without a lower training loss before the lr is halved.
        hinge_margin, hinge_p: Eq. 17 settings.
        x_val, y_val: validation rows (training subjects); needed by ``early_stopping``.
        early_stopping: keep the epoch with the best validation UF1 and stop after ``patience`` epochs without gain.
        patience: see ``early_stopping``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns:
        The :class:`PhaseHistory`; ``model`` ends on the CPU in eval mode with the kept weights.
    """
    if early_stopping and (x_val is None or y_val is None or len(y_val) == 0):
        raise ConfigError("early stopping needs validation rows from training subjects; none were given.")
    dev = resolve_device(device)
    model = model.to(dev)
    num_classes = int(model.num_classes)
    gen = torch.Generator().manual_seed(int(seed))
    x_all = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y_np = np.asarray(y, dtype=np.int64)
    y_all = torch.from_numpy(y_np)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=plateau_patience)
                 if lr_schedule == "plateau" else None)
    train_head = "hinge" if head == "hinge" else "softmax"
    history = PhaseHistory()
    best_key, best_state, since_best = None, None, 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = balanced_epoch_order(y_np, gen) if balance == "flip_equal" else torch.randperm(len(y_np), generator=gen)
        chunks = list(order.split(batch_size))
        if len(chunks) > 1 and len(chunks[-1]) == 1:  # BatchNorm cannot train on one sample
            chunks[-2] = torch.cat(chunks[-2:])
            chunks.pop()
        total, count = 0.0, 0
        for idx in chunks:
            if len(idx) < 2:
                continue
            xb, yb = x_all[idx].to(dev), y_all[idx].to(dev)
            scores = model(xb)
            loss = head_loss(train_head, scores, yb, margin=hinge_margin, p=hinge_p)
            if l2 > 0:
                loss = loss + l2_penalty(model, l2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        history.train_loss.append(total / max(count, 1))
        history.lr.append(optimizer.param_groups[0]["lr"])
        if scheduler is not None:
            scheduler.step(history.train_loss[-1])
        if x_val is not None and y_val is not None and len(y_val):
            pred = predict_scores(model, x_val, batch_size).argmax(1)
            uf1 = macro_f1(np.asarray(y_val), pred, num_classes)
            history.val_uf1.append(uf1)
            if early_stopping:
                key = (uf1, -history.train_loss[-1])
                if best_key is None or key > best_key:
                    best_key, since_best, history.best_epoch = key, 0, epoch
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    since_best += 1
                    if since_best >= patience:
                        break
    if early_stopping and best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = len(history.train_loss)
    history.seconds = time.perf_counter() - start
    model.to("cpu").eval()
    return history


@torch.no_grad()
def predict_scores(model: nn.Module, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Raw class scores ``(M, num_classes)`` float64 in eval mode (logits or hinge scores)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(x[s : s + batch_size], dtype=np.float32)).to(device)).float().cpu()
           for s in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, int(model.num_classes)))


def _labels(table: pd.DataFrame, idx: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    from merkit.training.methods.base import encode_labels

    return encode_labels(table, idx, classes)


class TwoPhaseFitPredict:
    """The runner's fit-predict for seed 002 (module docstring); picklable.

    Args:
        options: the method's options.
        train: ``[train]`` settings (fine-tuning epochs, lr, batch size, schedule, patience, device, threads).
        raw: raw inputs of every table row (:func:`compute_inputs`).
    """

    def __init__(self, options: TwoPhaseOptions, train: TrainConfig, raw: RawInputs) -> None:
        self.options = options
        self.train = train
        self.raw = raw
        self.histories: list = []

    def _model(self, num_classes: int, in_chans: int, inputs: str) -> nn.Module:
        from merkit.models import create_model

        opts = {**self.options.model_options, "in_chans": in_chans, "inputs": inputs,
                "input_size": (self.options.size, self.options.size)}
        return create_model(self.options.model, num_classes=num_classes, **opts)

    def _phase(self, model, x, y, x_val, y_val, *, epochs, lr, head, seed) -> PhaseHistory:
        o, t = self.options, self.train
        return train_phase(
            model, x, y, epochs=epochs, lr=lr, batch_size=t.batch_size, head=head, l2=o.l2, seed=seed,
            balance=o.balance, lr_schedule=o.lr_schedule, plateau_patience=o.plateau_patience,
            hinge_margin=o.hinge_margin, hinge_p=o.hinge_p, x_val=x_val, y_val=y_val,
            early_stopping=t.schedule == "early_stopping", patience=t.patience, device=t.device,
        )

    def __call__(self, table: pd.DataFrame, task: FoldTask) -> np.ndarray:
        o, t = self.options, self.train
        if t.threads:
            torch.set_num_threads(t.threads)
        seed = fold_seed(task.seed, task.fold.name)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        k = len(task.classes)
        rows = self.raw.rows(table["sample_key"].to_numpy())
        if t.schedule == "fixed" and not task.select_on_test:
            train_idx, val_idx = np.sort(np.concatenate([task.fit_idx, task.val_idx])), np.zeros(0, dtype=np.int64)
        else:
            train_idx, val_idx = task.fit_idx, task.val_idx
        y_train = _labels(table, train_idx, task.classes)
        y_val = _labels(table, val_idx, task.classes) if len(val_idx) else None
        faces, flows = self.raw.faces[rows[train_idx]], self.raw.flows[rows[train_idx]]
        if o.balance == "flip_equal":
            flip = expand_by_flipping(y_train, rng)
            f_faces, f_flows = flip_raw(faces[flip], flows[flip])
            faces, flows = np.concatenate([faces, f_faces]), np.concatenate([flows, f_flows])
            y_train = np.concatenate([y_train, y_train[flip]])
        val_faces = encode_face(self.raw.faces[rows[val_idx]]) if y_val is not None else None
        record = {}
        model = self._model(k, 1, KIND)
        if o.pretrain:
            flow_model = self._model(k, 3, KIND)
            val_flows = encode_flow(self.raw.flows[rows[val_idx]], o.flow_image) if y_val is not None else None
            record["pretrain"] = self._phase(flow_model, encode_flow(flows, o.flow_image), y_train, val_flows, y_val,
                                             epochs=o.pretrain_epochs, lr=o.pretrain_lr, head="softmax", seed=seed)
            model.load_transfer_state_dict(flow_model.transfer_state_dict(o.transfer_scope))
        x_train = encode_face(faces)
        record["finetune"] = self._phase(model, x_train, y_train, val_faces, y_val, epochs=t.epochs, lr=t.lr,
                                         head=o.head, seed=seed + 1)
        x_test = encode_face(self.raw.faces[rows[task.test_idx]])
        self.histories.append((task.seed, task.fold.name, record))
        log.info("seed %s fold %s: %s", task.seed, task.fold.name,
                 ", ".join(f"{n} kept epoch {h.best_epoch} ({h.seconds:.0f} s)" for n, h in record.items()))
        if o.head == "svc":
            svc = EmbeddingSVC(o.svc_C, kernel=o.svc_kernel, seed=seed)
            svc.fit(extract_embeddings(model, x_train), y_train,
                    None if y_val is None else extract_embeddings(model, val_faces), y_val)
            return svc.predict_proba(extract_embeddings(model, x_test), k)
        return scores_to_proba(predict_scores(model, x_test))


#: The input kind of the seed-002 models; the engine routes it to this module.
KIND = "seed002_flow_then_face"


def build_features(cfg: ExperimentConfig, table: pd.DataFrame) -> RawInputs:
    """The engine hook: raw inputs of every row of the protocol's table, computed once per run."""
    o = TwoPhaseOptions.from_model_config(cfg.model.name, cfg.model.options)
    settings = Seed002Inputs(size=o.size, flow=cfg.features.flow, mask=o.mask,
                             cache_dir=cfg.features.cache_dir, workers=cfg.features.workers)
    return compute_raw_inputs(table, settings, progress=cfg.train.progress)


def build_fit_predict(cfg: ExperimentConfig, inputs: RawInputs) -> TwoPhaseFitPredict:
    """The engine hook: the fit-predict callable of ``cfg``."""
    return TwoPhaseFitPredict(TwoPhaseOptions.from_model_config(cfg.model.name, cfg.model.options), cfg.train, inputs)
