"""MOL's joint loss, clip batches with online crops, one prediction per video, and pre-training.

What the ``multitask_clips`` method (seed 001, ``docs/models/mol.md``) plugs
into the one training loop (:func:`merkit.training.loop.train_loop`):

* loss ``L = lambda_ce * CE + lambda_of * L_OFE + lambda_ldm * L_FLD``
  (:func:`mol_loss`): ``L_OFE`` is the mean squared error between predicted
  and TV-L1 flow of the T - 1 pairs, divided by T - 1 as the public code
  does; ``L_FLD`` is, per frame and sample, the summed L1 landmark error
  divided by the ground truth's inter-ocular distance, summed over frames
  1..T-1 and the batch, then divided by ``B * 68``. A weight of 0 drops its
  head entirely (the method builds only the heads it trains).
* batches (:func:`clip_batch`): the loop's items are the clips of the
  training videos; each clip gets a random ``crop_size`` crop of the aligned
  frames every time it is drawn (the public code draws 5 crops per clip
  offline), the same window for its flow and landmark targets; optional
  horizontal flip (``hflip``) mirrors frames, negates u and swaps landmark
  points. Crops and flips come from a NumPy generator seeded from the loop's
  torch generator, so a run is reproducible from its seed.
* class imbalance, per video as before the port: ``weighted_loss`` weights
  the cross-entropy by the inverse class frequency of the training *videos*
  (not clips, whose count per video varies); ``balanced_sampler`` draws each
  class equally often and, within a class, each video equally often whatever
  its clip count (``sample_weights`` of the loop).
* prediction (:func:`predict_videos`): every clip of a video, centre crop,
  softmax averaged over its clips (``aggregate="mean_prob"``, or
  ``"mean_logit"``): one row per video, never one per crop.
* pre-training (:func:`pretrain_mol`): the whole MOL (all three tasks) on a
  class-per-folder macro-expression video table; fine-tuning then loads every
  weight but the classifier's last layer (:func:`load_pretrained`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from merkit._io import atomic_path
from merkit.errors import ShapeError
from merkit.inputs.clips import MIRROR_68, MOLVideo, prepare_videos
from merkit.models import create_model
from merkit.training.loop import TrainHistory, class_weights, train_loop, validation_scorer
from merkit.training.methods.base import encode_labels
from merkit.training.methods.multitask_options import MultitaskClipsOptions, arch_options
from merkit.training.settings import TrainConfig

__all__ = ["mol_loss", "clip_batch", "predict_videos", "train_clips", "load_pretrained", "pretrain_mol"]

log = logging.getLogger(__name__)


def mol_loss(
    out: dict, labels: torch.Tensor, flows: torch.Tensor | None, landmarks: torch.Tensor | None,
    lambda_of: float, lambda_ldm: float, class_weight: torch.Tensor | None = None, lambda_ce: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The joint loss (module docstring).

    Args:
        out: :meth:`merkit.models.mol.MOL.forward_joint` output.
        labels: ``(B,)`` int64 class indices.
        flows: ``(B, T - 1, 2, H, W)`` TV-L1 targets in pixels (needed if ``lambda_of > 0``); when
            ``out`` holds ``"flow_pairs"`` only those pairs are compared, still divided by T - 1.
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
        pairs = out.get("flow_pairs")
        if flows is None or flows.dim() != 5 or pred.shape[2:] != flows.shape[2:] or (
                pairs is None and pred.shape[1] != flows.shape[1]):
            raise ShapeError(f"flow targets must have shape (B, T - 1, 2, H, W) matching {tuple(pred.shape)}; "
                             f"got {None if flows is None else tuple(flows.shape)}.")
        num_pairs = flows.shape[1]
        if pairs is not None:  # a random subset of each clip's pairs: same targets, same T - 1 divisor
            flows = flows[torch.arange(flows.shape[0], device=pairs.device).unsqueeze(1), pairs]
        flow_loss = F.mse_loss(pred, flows) / num_pairs
        total = total + lambda_of * flow_loss
        parts["flow"] = float(flow_loss.detach())
    if lambda_ldm > 0:
        pred = out["landmarks"].float()  # (B, T - 1, 68, 2) for frames 1..T-1
        if landmarks is None or landmarks[:, 1:].shape != pred.shape:
            b, p, n = pred.shape[:3]  # the head predicts frames 1..T-1; the targets hold frames 0..T-1
            raise ShapeError(f"landmark targets must have shape (B, T, {n}, 2) = {(b, p + 1, n, 2)} for predictions "
                             f"{tuple(pred.shape)}; got {None if landmarks is None else tuple(landmarks.shape)}.")
        truth = landmarks[:, 1:]
        iod = (truth[..., 42:48, :].mean(-2) - truth[..., 36:42, :].mean(-2)).norm(dim=-1).clamp_min(1e-6)
        ldm_loss = ((pred - truth).abs().sum((-1, -2)) / iod).sum() / (pred.shape[0] * pred.shape[2])
        total = total + lambda_ldm * ldm_loss
        parts["landmarks"] = float(ldm_loss.detach())
    return total, parts


def clip_batch(
    videos: Sequence[MOLVideo], clip_ids: Sequence[int], crop: int, rng: np.random.Generator | None,
    hflip: bool = False,
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


def random_pairs(rng: np.random.Generator, clips: int, pairs: int, k: int) -> np.ndarray:
    """``(clips, k)`` int64: ``k`` distinct pair indices out of ``pairs`` per clip, increasing."""
    return np.sort(rng.permuted(np.tile(np.arange(pairs), (clips, 1)), axis=1)[:, :k], axis=1).astype(np.int64)


@torch.no_grad()
def predict_videos(
    model: nn.Module, videos: Sequence[MOLVideo], crop_size: int, aggregate: str = "mean_prob",
    network: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """One ``(K,)`` float64 probability row per video: every clip, centre crop, aggregated over clips.

    Args:
        model: a MOL (eval mode is set for the call; its device is used).
        videos: prepared videos.
        crop_size: side of the centre crop.
        aggregate: ``"mean_prob"`` (softmax, then the mean over clips) or ``"mean_logit"``.
        network: run this on the ``(clips, T, H, W)`` float32 clips instead of ``model``
            (an exported ONNX graph of the same logits, :class:`merkit.deploy.onnx.OnnxNetwork`).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows = []
    for video in videos:
        x, _, _ = clip_batch([video] * len(video.clips), range(len(video.clips)), crop_size, None)
        if network is not None:
            logits = np.asarray(network(x.numpy()), dtype=np.float64)
        else:
            logits = model(x.to(device)).float().cpu().numpy().astype(np.float64)
        if aggregate == "mean_logit":
            logits = logits.mean(0, keepdims=True)
        z = np.exp(logits - logits.max(1, keepdims=True))
        rows.append((z / z.sum(1, keepdims=True)).mean(0))
    model.train(was_training)
    return np.asarray(rows, dtype=np.float64).reshape(len(videos), -1)


def train_clips(
    model: nn.Module,
    videos: Sequence[MOLVideo],
    labels: np.ndarray,
    options: MultitaskClipsOptions,
    train: TrainConfig,
    *,
    seed: int,
    val_videos: Sequence[MOLVideo] | None = None,
    val_labels: np.ndarray | None = None,
    on_step: Callable[[int, nn.Module], None] | None = None,
    desc: str = "",
) -> TrainHistory:
    """Train a MOL (built with the heads the loss weights need) in place through the one loop.

    Args:
        model: a MOL with ``flow_head`` / ``landmark_head`` matching ``options.lambda_of`` / ``lambda_ldm``.
        videos: the training videos; the loop's items are all their clips.
        labels: ``(len(videos),)`` int64 class of each video.
        options: loss weights, crop, flip and aggregation.
        train: the loop's settings (``steps``, ``eval_every``, ``optimizer``, ``lr``, ``schedule`` ...).
        seed: seeds clip order, crops and flips.
        val_videos, val_labels: validation videos (training subjects) for ``schedule="early_stopping"``:
            video-level UF1 every ``train.eval_every`` steps.
        on_step: ``(step, model)`` observer after every optimiser step (learning curves; must not feed back).
        desc: progress bar label.

    Returns:
        The loop's :class:`~merkit.training.loop.TrainHistory` (``parts``: ``ce``, ``flow``, ``landmarks``
        per step); ``model`` holds the kept weights, eval mode, CPU.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(videos) != len(labels):
        raise ShapeError(f"train_clips: {len(videos)} videos but {len(labels)} labels; they must match.")
    counts = np.array([len(v.clips) for v in videos], dtype=np.int64)
    item_video = np.repeat(np.arange(len(videos)), counts)  # loop item -> video, clip within it
    item_clip = np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.zeros(0, np.int64)
    item_labels = labels[item_video]
    k = int(model.num_classes)
    draw = None
    if train.imbalance == "balanced_sampler":  # each class equally likely, each video equally within it
        draw = class_weights(labels, k)[item_labels] / counts[item_video]
        draw = draw / draw.sum()
    video_weight = None
    if train.imbalance == "weighted_loss":  # video frequencies, not the loop's clip frequencies
        video_weight = torch.tensor(class_weights(labels, k), dtype=torch.float32)

    def make_batch(rows: torch.Tensor, gen: torch.Generator) -> tuple:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))
        ids = rows.numpy()
        x, flows, marks = clip_batch([videos[v] for v in item_video[ids]], item_clip[ids].tolist(),
                                     options.crop_size, rng, options.hflip)
        pairs = None
        if options.lambda_of > 0 and options.flow_pairs:
            pairs = torch.from_numpy(random_pairs(rng, len(ids), flows.shape[1], options.flow_pairs))
        return (x, torch.from_numpy(item_labels[ids]), flows if options.lambda_of > 0 else None,
                marks if options.lambda_ldm > 0 else None, pairs)

    def loss_fn(net: nn.Module, batch: tuple, ctx: Any) -> tuple[torch.Tensor, dict]:
        x, y, flows, marks, pairs = batch
        weight = None if video_weight is None else video_weight.to(ctx.device)
        return mol_loss(net.forward_joint(x, flow_pairs=pairs), y, flows, marks, options.lambda_of,
                        options.lambda_ldm, weight, lambda_ce=options.lambda_ce)

    validate = None
    if val_videos is not None and val_labels is not None and len(val_labels):
        val_videos = list(val_videos)
        validate = validation_scorer(
            lambda net: predict_videos(net, val_videos, options.crop_size, options.aggregate), val_labels)
    return train_loop(model, item_labels, make_batch, loss_fn, train, seed=seed, validate=validate,
                      sample_weights=draw, on_step=on_step, desc=desc)


def load_pretrained(model: nn.Module, path: str) -> None:
    """Load a :func:`pretrain_mol` state dict, all but the classifier's last layer (``strict=False``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("head.fc2.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    log.info("MOL pretrained %s: %d missing, %d unexpected keys", path, len(missing), len(unexpected))


def pretrain_mol(
    table: pd.DataFrame, classes: Sequence[str], model_options: dict, options: MultitaskClipsOptions,
    train: TrainConfig, out_path: str, *, seed: int = 0, cache_dir: str = "", workers: int = 1,
) -> TrainHistory:
    """Pre-train the whole MOL (recognition, flow, landmarks) on a macro-expression video table.

    Args:
        table: sample table of any class-per-folder video dataset (``label`` in ``classes``).
        classes: class names of the pre-training task (the classifier's last layer is not reused).
        model_options: MOL constructor options, as in ``[model] options``.
        options: the method options, as for fine-tuning (the heads follow the loss weights).
        train: the loop settings (``[train]``; a fixed schedule: nothing is held out).
        out_path: where the state dict is written (atomically).

    Returns:
        The training history.
    """
    arch = arch_options(model_options, options)
    videos = prepare_videos(table, options.data_config(int(arch.get("num_frames", 8)), cache_dir), workers)
    torch.manual_seed(seed)
    model = create_model("mol", num_classes=len(classes), **arch)
    labels = encode_labels(table, np.arange(len(table)), tuple(classes))
    history = train_clips(model, videos.take(table["sample_key"].tolist()), labels, options, train, seed=seed,
                          desc="MOL pre-training")
    with atomic_path(out_path) as tmp:
        torch.save(model.state_dict(), tmp)
    return history
