"""MOL training: joint loss, clip batches with online crops, one prediction per video, pre-training.

The method of seed 001 (CYF-cuber/MOL ``train.py``; architectures.md sections
3.3-3.4; ``docs/models/mol.md``) inside the engine's runner:

* loss ``L = lambda_ce * CE + lambda_of * L_OFE + lambda_ldm * L_FLD`` (:func:`mol_loss`; ``lambda_ce = 1``,
  0 for the paper's "w/o MER" rows):
  ``L_OFE`` is the mean squared error between predicted and TV-L1 flow of the
  T - 1 pairs, divided by T - 1 as the code does; ``L_FLD`` is, per frame and
  sample, the summed L1 landmark error divided by the ground truth's
  inter-ocular distance, summed over frames 1..T-1 and the batch, then divided
  by ``B * 68``. Defaults ``lambda_of = 10``, ``lambda_ldm = 0.1`` (README; the
  code's argparse default is 0.5). A weight of 0 drops its head entirely.
* batches: clips drawn from the training videos; each clip gets a random
  ``crop_size`` crop of the aligned frames every time it is drawn (the code
  draws 5 crops per clip offline), the same window for its flow and landmark
  targets; optional horizontal flip (``hflip``, paper yes, code no: default
  off) mirrors frames, negates u and swaps landmark points.
* schedule: ``steps`` optimisation steps (1000 in the code; 0: ``train.epochs``
  passes over the training clips), AdamW (the code; ``optimizer="adam"`` for
  the paper) with the engine's ``lr`` and ``weight_decay``. With
  ``train.schedule = "early_stopping"`` the video-level UF1 on ``val_idx``
  (training subjects only) is checked every ``eval_every`` steps and the best
  weights are kept; the test subject is never looked at.
* prediction: every clip of a test video, centre crop, softmax averaged over
  its clips (``aggregate="mean_prob"``, or ``"mean_logit"``): one prediction
  per video, never one per crop as the public code counts them.
* pre-training (:func:`pretrain_mol`): the whole MOL (all three tasks) on a
  class-per-folder macro-expression video table, then fine-tuning loads every
  weight but the classifier's last layer (``pretrained`` option).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from merkit.errors import ConfigError, ShapeError
from merkit.evaluation.runner import FoldTask, fold_seed
from merkit.training.config import ExperimentConfig, TrainConfig
from merkit.training.mol_data import MIRROR_68, MOLDataConfig, MOLVideo, MOLVideoSet, prepare_videos

__all__ = ["MOLMethodConfig", "MOLFitPredict", "mol_loss", "clip_batch", "fit_mol", "predict_videos",
           "pretrain_mol", "build_features", "build_fit_predict", "split_options"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MOLMethodConfig:
    """MOL's training settings (read from ``model.options`` next to the architecture options).

    Attributes:
        lambda_ce: weight of the recognition loss (1; 0 trains the auxiliary heads alone, the paper's
            "MOL w/o MER" rows of Tables XIV and XV).
        lambda_of: weight of the flow loss (10; 0 drops the flow head).
        lambda_ldm: weight of the landmark loss (0.1 README, 0.5 code default; 0 drops the head).
        steps: optimisation steps per fold (1000 code; 0: ``train.epochs`` passes over the clips).
        eval_every: steps between validation checks with ``train.schedule = "early_stopping"``.
        hflip: random horizontal flips (paper yes, code no).
        optimizer: ``"adamw"`` (code) or ``"adam"`` (paper).
        aggregate: clip -> video: ``"mean_prob"`` or ``"mean_logit"``.
        pretrained: path of a state dict from :func:`pretrain_mol` ("" none).
        max_clips, flow, frames, num_frames, align_size, crop_size: see :class:`MOLDataConfig`.
    """

    lambda_of: float = 10.0
    lambda_ldm: float = 0.1
    lambda_ce: float = 1.0
    steps: int = 1000
    eval_every: int = 100
    hflip: bool = False
    optimizer: str = "adamw"
    aggregate: str = "mean_prob"
    pretrained: str = ""
    max_clips: int = 0
    flow: str = "tvl1"
    frames: str = "video"
    align_size: int = 144
    crop_size: int = 128

    def __post_init__(self) -> None:
        if self.lambda_of < 0 or self.lambda_ldm < 0 or self.lambda_ce < 0:
            raise ConfigError(f"MOL lambda_of, lambda_ldm and lambda_ce must be >= 0; got {self.lambda_of}, "
                              f"{self.lambda_ldm}, {self.lambda_ce}.")
        if self.lambda_ce == 0 and self.lambda_of == 0 and self.lambda_ldm == 0:
            raise ConfigError("MOL lambda_ce, lambda_of and lambda_ldm are all 0: nothing would be trained.")
        if self.steps < 0 or self.eval_every < 1:
            raise ConfigError(f"MOL steps must be >= 0 and eval_every >= 1; got {self.steps}, {self.eval_every}.")
        if self.optimizer not in ("adamw", "adam"):
            raise ConfigError(f"MOL optimizer must be 'adamw' or 'adam'; got {self.optimizer!r}.")
        if self.aggregate not in ("mean_prob", "mean_logit"):
            raise ConfigError(f"MOL aggregate must be 'mean_prob' or 'mean_logit'; got {self.aggregate!r}.")

    def data_config(self, num_frames: int, cache_dir: str = "") -> MOLDataConfig:
        return MOLDataConfig(num_frames=num_frames, align_size=self.align_size, crop_size=self.crop_size,
                             flow=self.flow, max_clips=self.max_clips, frames=self.frames, cache_dir=cache_dir)


def split_options(options: dict) -> tuple[MOLMethodConfig, dict]:
    """Split ``model.options`` into MOL training settings and architecture options."""
    names = {f.name for f in fields(MOLMethodConfig)}
    method = MOLMethodConfig(**{k: v for k, v in options.items() if k in names})
    arch = {k: v for k, v in options.items() if k not in names}
    arch["flow_head"] = method.lambda_of > 0
    arch["landmark_head"] = method.lambda_ldm > 0
    arch.setdefault("img_size", method.crop_size)
    return method, arch


def mol_loss(
    out: dict, labels: torch.Tensor, flows: torch.Tensor | None, landmarks: torch.Tensor | None,
    lambda_of: float, lambda_ldm: float, class_weight: torch.Tensor | None = None, lambda_ce: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The joint loss (module docstring).

    Args:
        out: :meth:`merkit.models.mol.MOL.forward_joint` output.
        labels: ``(B,)`` int64 class indices.
        flows: ``(B, T - 1, 2, H, W)`` TV-L1 targets in pixels (needed if ``lambda_of > 0``).
        landmarks: ``(B, T, 68, 2)`` ground-truth landmarks of all T frames in input pixels
            (frames 1..T-1 are supervised; needed if ``lambda_ldm > 0``).
        lambda_of, lambda_ldm: loss weights.
        class_weight: optional ``(K,)`` cross-entropy weights.
        lambda_ce: weight of the cross-entropy (0: auxiliary tasks only; ``ce`` is still reported).

    Returns:
        ``(total, parts)`` with the float values of ``ce``, ``flow`` and ``landmarks``.
    """
    ce = F.cross_entropy(out["logits"].float(), labels, weight=class_weight)
    total, parts = lambda_ce * ce, {"ce": float(ce.detach())}
    if lambda_of > 0:
        pred = out["flow"].float()
        if flows is None or pred.shape != flows.shape:
            raise ShapeError(f"flow targets must have shape {tuple(pred.shape)}; got "
                             f"{None if flows is None else tuple(flows.shape)}.")
        flow_loss = F.mse_loss(pred, flows) / pred.shape[1]
        total = total + lambda_of * flow_loss
        parts["flow"] = float(flow_loss.detach())
    if lambda_ldm > 0:
        pred = out["landmarks"].float()  # (B, T - 1, 68, 2) for frames 1..T-1
        truth = landmarks[:, 1:]
        if truth.shape != pred.shape:
            raise ShapeError(f"landmark targets must have shape (B, T, 68, 2) matching {tuple(pred.shape)}; "
                             f"got {tuple(landmarks.shape)}.")
        iod = (truth[..., 42:48, :].mean(-2) - truth[..., 36:42, :].mean(-2)).norm(dim=-1).clamp_min(1e-6)
        ldm_loss = ((pred - truth).abs().sum((-1, -2)) / iod).sum() / (pred.shape[0] * pred.shape[2])
        total = total + lambda_ldm * ldm_loss
        parts["landmarks"] = float(ldm_loss.detach())
    return total, parts


def clip_batch(
    videos: list[MOLVideo], clip_ids: list[int], crop: int, rng: np.random.Generator | None, hflip: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut clips with their targets.

    Args:
        videos: one video per batch row.
        clip_ids: which clip of each video.
        crop: output side.
        rng: random crops and flips; ``None``: centre crop, no flip (evaluation).
        hflip: allow random horizontal flips (with ``rng``).

    Returns:
        ``x`` ``(B, T, crop, crop)`` float32 (grey / 255 - 0.5), ``flows`` ``(B, T - 1, 2, crop, crop)``
        float32 pixels, ``landmarks`` ``(B, T, 68, 2)`` float32 crop pixels.
    """
    xs, fs, ls = [], [], []
    for video, c in zip(videos, clip_ids):
        size = video.frames.shape[-1]
        if rng is None:
            oy = ox = (size - crop) // 2
        else:
            oy, ox = (int(v) for v in rng.integers(0, size - crop + 1, 2))
        idx = video.clips[c]
        frames = video.frames[idx, oy : oy + crop, ox : ox + crop].astype(np.float32) / 255.0 - 0.5
        flows = video.flows[c, :, :, oy : oy + crop, ox : ox + crop].astype(np.float32)
        marks = video.landmarks[idx] - np.array([ox, oy], dtype=np.float32)
        if rng is not None and hflip and rng.random() < 0.5:
            frames, flows = frames[..., ::-1], flows[..., ::-1].copy()
            flows[:, 0] *= -1.0  # mirrored motion: u changes sign, v does not
            marks = marks[:, list(MIRROR_68)]
            marks[..., 0] = crop - 1 - marks[..., 0]
        xs.append(np.ascontiguousarray(frames))
        fs.append(np.ascontiguousarray(flows))
        ls.append(marks)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(fs)), torch.from_numpy(np.stack(ls))


@dataclass
class MOLHistory:
    """Per-step losses and timing of one fit."""

    loss: list[float] = field(default_factory=list)
    parts: list[dict] = field(default_factory=list)
    val_uf1: list[float] = field(default_factory=list)
    best_step: int = 0
    seconds: float = 0.0


def _class_weights(y: np.ndarray, k: int) -> np.ndarray:
    from merkit.training.loop import class_weights

    return class_weights(y, k)


def fit_mol(
    model, videos: list[MOLVideo], labels: np.ndarray, method: MOLMethodConfig, train: TrainConfig, *, seed: int,
    val_videos: list[MOLVideo] | None = None, val_labels: np.ndarray | None = None,
    on_step: Callable[[int, torch.nn.Module], None] | None = None,
) -> MOLHistory:
    """Train a MOL model (built with the heads the loss weights need) in place; returns the history.

    The model ends in eval mode on the CPU with the kept weights (last step, or best validation UF1).
    ``on_step(step, model)``, if given, is called after every optimiser step (1-based) with the
    model on its training device; whatever it does to the mode, training resumes in train mode.
    It observes (learning curves); it must not feed anything back into training.
    """
    from merkit.training.loop import macro_f1, resolve_device

    if train.threads:
        torch.set_num_threads(train.threads)
    device = resolve_device(train.device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.to(device).train()
    pool = [(v, c) for v, video in enumerate(videos) for c in range(len(video.clips))]
    clip_labels = np.array([labels[v] for v, _ in pool])
    k = int(model.num_classes)
    weight = None
    if train.imbalance == "weighted_loss":
        weight = torch.tensor(_class_weights(labels, k), dtype=torch.float32, device=device)
    draw_p = None
    if train.imbalance == "balanced_sampler":  # each class equally likely, each video equally within it
        per_video = np.array([len(videos[v].clips) for v, _ in pool], dtype=np.float64)
        draw_p = _class_weights(labels, k)[clip_labels] / per_video
        draw_p /= draw_p.sum()
    opt_cls = torch.optim.AdamW if method.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    batch = min(train.batch_size, len(pool))
    steps = method.steps or max(1, train.epochs * int(np.ceil(len(pool) / batch)))
    early = train.schedule == "early_stopping" and val_videos
    history, best, best_state = MOLHistory(), None, None
    use_amp = train.amp and device.type == "cuda"
    start = time.perf_counter()
    order: list[int] = []
    for step in range(1, steps + 1):
        if draw_p is not None:
            ids = rng.choice(len(pool), size=batch, p=draw_p)
        else:
            if len(order) < batch:
                order += rng.permutation(len(pool)).tolist()
            ids, order = order[:batch], order[batch:]
        x, flows, marks = clip_batch([videos[pool[i][0]] for i in ids], [pool[i][1] for i in ids],
                                     method.crop_size, rng, method.hflip)
        y = torch.from_numpy(clip_labels[ids]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = model.forward_joint(x.to(device))
        loss, parts = mol_loss(out, y, flows.to(device), marks.to(device), method.lambda_of, method.lambda_ldm,
                               weight, lambda_ce=method.lambda_ce)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.loss.append(float(loss.detach()))
        history.parts.append(parts)
        if on_step is not None:
            on_step(step, model)
            model.train()
        if early and (step % method.eval_every == 0 or step == steps):
            probs = predict_videos(model, val_videos, method, device=device)
            uf1 = macro_f1(np.asarray(val_labels), probs.argmax(1), k)
            history.val_uf1.append(uf1)
            if best is None or uf1 > best:
                best, history.best_step, best_state = uf1, step, copy.deepcopy(model.state_dict())
            model.train()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_step = steps
    history.seconds = time.perf_counter() - start
    model.to("cpu").eval()
    return history


@torch.no_grad()
def predict_videos(model, videos: list[MOLVideo], method: MOLMethodConfig, device=None) -> np.ndarray:
    """One ``(K,)`` probability row per video: every clip, centre crop, aggregated (``method.aggregate``)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows = []
    for video in videos:
        x, _, _ = clip_batch([video] * len(video.clips), list(range(len(video.clips))), method.crop_size, None)
        logits = model(x.to(device)).float()
        if method.aggregate == "mean_logit":
            rows.append(torch.softmax(logits.mean(0), 0).cpu().numpy())
        else:
            rows.append(torch.softmax(logits, 1).mean(0).cpu().numpy())
    model.train(was_training)
    return np.asarray(rows, dtype=np.float64).reshape(len(videos), -1)


def load_pretrained(model, path: str) -> None:
    """Load a :func:`pretrain_mol` state dict, all but the classifier's last layer (``strict=False``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("head.fc2.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    log.info("MOL pretrained %s: %d missing, %d unexpected keys", path, len(missing), len(unexpected))


class MOLFitPredict:
    """The runner's fit-predict callable for MOL (honest: selection only on ``task.val_idx``).

    Args:
        arch: architecture options for ``create_model("mol", ...)``.
        method: MOL training settings.
        train: the engine's training settings (lr, weight decay, batch size, device, schedule).
        videos: prepared videos of the whole table.
    """

    def __init__(self, arch: dict, method: MOLMethodConfig, train: TrainConfig, videos: MOLVideoSet,
                 model_name: str = "mol") -> None:
        self.arch, self.method, self.train, self.videos, self.model_name = dict(arch), method, train, videos, model_name
        self.histories: list = []

    def __call__(self, table: pd.DataFrame, task: FoldTask) -> np.ndarray:
        from merkit.models import create_model
        from merkit.training.methods.base import encode_labels

        seed = fold_seed(task.seed, task.fold.name)
        keys = table["sample_key"].to_numpy()
        if self.train.schedule == "fixed" and not task.select_on_test:
            train_idx, val_idx = np.sort(np.concatenate([task.fit_idx, task.val_idx])), None
        else:
            train_idx, val_idx = task.fit_idx, task.val_idx
        torch.manual_seed(seed)
        model = create_model(self.model_name, num_classes=len(task.classes), **self.arch)
        if self.method.pretrained:
            load_pretrained(model, self.method.pretrained)
        history = fit_mol(
            model, self.videos.take(keys[train_idx]), encode_labels(table, train_idx, task.classes), self.method,
            self.train, seed=seed,
            val_videos=None if val_idx is None else self.videos.take(keys[val_idx]),
            val_labels=None if val_idx is None else encode_labels(table, val_idx, task.classes),
        )
        log.info("seed %s fold %s: %d steps, kept %d, %.1f s", task.seed, task.fold.name, len(history.loss),
                 history.best_step, history.seconds)
        self.histories.append((task.seed, task.fold.name, history))
        return predict_videos(model, self.videos.take(keys[task.test_idx]), self.method)


def build_features(cfg: ExperimentConfig, table: pd.DataFrame) -> MOLVideoSet:
    """Engine hook: prepare every video of the (protocol-prepared) table."""
    method, arch = split_options(cfg.model.options)
    data = method.data_config(int(arch.get("num_frames", 8)), cfg.features.cache_dir)
    return prepare_videos(table, data, workers=cfg.features.workers, progress=cfg.train.progress)


def build_fit_predict(cfg: ExperimentConfig, videos: MOLVideoSet) -> MOLFitPredict:
    """Engine hook: the fit-predict callable of ``cfg.model``."""
    method, arch = split_options(cfg.model.options)
    return MOLFitPredict(arch, method, cfg.train, videos, cfg.model.name)


def pretrain_mol(
    table: pd.DataFrame, classes: tuple[str, ...], arch: dict, method: MOLMethodConfig, train: TrainConfig,
    out_path: str, *, seed: int = 0, cache_dir: str = "", workers: int = 1,
) -> MOLHistory:
    """Pre-train the whole MOL (recognition, flow, landmarks) on a macro-expression video table.

    Args:
        table: sample table of any class-per-folder video dataset (``label`` in ``classes``).
        classes: class names of the pre-training task (the classifier's last layer is not reused).
        arch, method, train: as for fine-tuning (see :func:`split_options`).
        out_path: where the state dict is written (atomically).

    Returns:
        The training history.
    """
    from merkit._io import atomic_path
    from merkit.models import create_model
    from merkit.training.methods.base import encode_labels

    videos = prepare_videos(table, method.data_config(int(arch.get("num_frames", 8)), cache_dir), workers)
    model = create_model("mol", num_classes=len(classes), **arch)
    labels = encode_labels(table, np.arange(len(table)), classes)
    history = fit_mol(model, videos.take(table["sample_key"].tolist()), labels, method, train, seed=seed)
    with atomic_path(out_path) as tmp:
        torch.save(model.state_dict(), tmp)
    return history
