"""``multitask_clips``: MOL trained on raw clips with recognition, optical-flow and landmark losses (seed 001).

Shao et al. (MOL; ``docs/models/mol.md``) inside the method contract:

* :meth:`MultitaskClipsMethod.prepare` aligns every video, places 68
  landmarks on every frame and computes the TV-L1 targets of every clip
  (:func:`merkit.training.mol_data.prepare_videos`, cached);
* :meth:`MultitaskClipsMethod.fit` builds MOL with the heads whose loss
  weight is > 0 (:func:`arch_options`), optionally loads pre-trained weights
  (``pretrained``), and trains through :func:`merkit.training.loop.train_loop`
  with the joint loss (:mod:`merkit.training.methods.clip_training`). The
  loop settings are ``[train]``'s: ``steps`` (the public code's 1000;
  0 = ``epochs`` passes over the training clips), ``optimizer`` (``adamw``
  as the code, ``adam`` as the paper), ``lr``, ``weight_decay``,
  ``batch_size``, ``imbalance``. With ``schedule = "early_stopping"`` the
  video-level UF1 on ``task.val_idx`` (training subjects) is checked every
  ``eval_every`` steps and the best weights are kept (the loop's rule:
  best ``(UF1, -loss)``, stop after ``patience`` checks without improvement);
  the test subject is never looked at;
* the fitted model (:class:`ClipVideoClassifier`) predicts one row per video
  (clip probabilities aggregated). The auxiliary heads are training-only: they
  are dropped after training, so the model's arrays (and a bundle) hold the
  recognition path alone and :meth:`MultitaskClipsMethod.restore` rebuilds it
  without them; its predictions are unchanged, since ``forward`` never runs the heads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from merkit.errors import ConfigError
from merkit.evaluation.runner import fold_seed
from merkit.training.loop import fit_rows
from merkit.training.methods import register_method
from merkit.training.methods.base import Method, encode_labels
from merkit.training.methods.clip_training import load_pretrained, predict_videos, train_clips
from merkit.training.methods.fitted import build_torch_model, torch_state_arrays
from merkit.training.mol_data import MOLDataConfig, MOLVideo, MOLVideoSet, prepare_videos

__all__ = ["MultitaskClipsOptions", "MultitaskClipsMethod", "ClipVideoClassifier", "arch_options"]

log = logging.getLogger(__name__)

#: Settings of the pre-port ``model.options`` that now live in ``[train]``.
_TRAIN_KEYS = ("steps", "eval_every", "optimizer")
#: Constructor options the method sets from the loss weights.
_HEAD_KEYS = ("flow_head", "landmark_head")


@dataclass(frozen=True)
class MultitaskClipsOptions:
    """``[method] options`` of ``multitask_clips``.

    Attributes:
        lambda_of: weight of the flow loss (10; 0 drops the flow head).
        lambda_ldm: weight of the landmark loss (0.1 README, 0.5 code default; 0 drops the head).
        lambda_ce: weight of the recognition loss (1; 0 trains the auxiliary heads alone, the paper's
            "MOL w/o MER" rows of Tables XIV and XV).
        hflip: random horizontal flips (paper yes, code no).
        flow_pairs: frame pairs of each clip whose flow is predicted and supervised per training step:
            0 (default, paper and code) all T - 1; ``k`` a fresh random ``k`` of them per clip and step,
            the flow loss still divided by T - 1, so it is an unbiased estimate of the full loss at
            ``k / (T - 1)`` of the flow head's cost (``docs/models/mol.md``; the CPU configs use 1).
        aggregate: clip -> video: ``"mean_prob"`` or ``"mean_logit"``.
        pretrained: path of a state dict from :func:`~merkit.training.methods.clip_training.pretrain_mol`
            ("" none).
        max_clips, flow, frames, align_size, crop_size: see :class:`~merkit.training.mol_data.MOLDataConfig`.
    """

    lambda_of: float = 10.0
    lambda_ldm: float = 0.1
    lambda_ce: float = 1.0
    hflip: bool = False
    flow_pairs: int = 0
    aggregate: str = "mean_prob"
    pretrained: str = ""
    max_clips: int = 0
    flow: str = "tvl1"
    frames: str = "video"
    align_size: int = 144
    crop_size: int = 128

    def __post_init__(self) -> None:
        if self.lambda_of < 0 or self.lambda_ldm < 0 or self.lambda_ce < 0:
            raise ConfigError(f"method.options lambda_of, lambda_ldm and lambda_ce must be >= 0; got "
                              f"{self.lambda_of}, {self.lambda_ldm}, {self.lambda_ce}.")
        if self.lambda_ce == 0 and self.lambda_of == 0 and self.lambda_ldm == 0:
            raise ConfigError("method.options lambda_ce, lambda_of and lambda_ldm are all 0: nothing would be "
                              "trained.")
        if self.flow_pairs < 0:
            raise ConfigError(f"method.options.flow_pairs must be >= 0 (0: every pair of the clip); got "
                              f"{self.flow_pairs!r}.")
        if self.aggregate not in ("mean_prob", "mean_logit"):
            raise ConfigError(f"method.options.aggregate must be 'mean_prob' or 'mean_logit'; got {self.aggregate!r}.")
        self.data_config(8)  # validates max_clips, frames, align_size and crop_size

    def data_config(self, num_frames: int, cache_dir: str = "") -> MOLDataConfig:
        """The clip preparation of these options for ``num_frames``-frame clips."""
        return MOLDataConfig(num_frames=num_frames, align_size=self.align_size, crop_size=self.crop_size,
                             flow=self.flow, max_clips=self.max_clips, frames=self.frames, cache_dir=cache_dir)


def arch_options(model_options: dict, options: MultitaskClipsOptions) -> dict:
    """MOL constructor options for training: ``[model] options`` plus the heads the loss weights need.

    ``img_size`` defaults to ``options.crop_size``.

    Raises:
        ConfigError: ``[model] options`` holds a setting that moved to ``[train]``, or a head switch
            (the heads follow ``lambda_of`` / ``lambda_ldm``).
    """
    moved = [k for k in _TRAIN_KEYS if k in model_options]
    if moved:
        raise ConfigError(f"model.options {moved!r} are loop settings of multitask_clips now: move them to the "
                          f"[train] section ({', '.join(f'{k} = {model_options[k]!r}' for k in moved)}).")
    heads = [k for k in _HEAD_KEYS if k in model_options]
    if heads:
        raise ConfigError(f"model.options {heads!r} are set by multitask_clips from the loss weights "
                          f"(flow_head: lambda_of > 0, landmark_head: lambda_ldm > 0); remove them.")
    arch = dict(model_options)
    pairs = int(arch.get("num_frames", 8)) - 1
    if options.flow_pairs > pairs:
        raise ConfigError(f"method.options.flow_pairs = {options.flow_pairs} but a clip of "
                          f"{pairs + 1} frames has {pairs} pairs; use 0 (all) or at most {pairs}.")
    arch["flow_head"] = options.lambda_of > 0
    arch["landmark_head"] = options.lambda_ldm > 0
    arch.setdefault("img_size", options.crop_size)
    return arch


class ClipVideoClassifier:
    """A trained MOL recognition path that predicts one probability row per prepared video.

    Args:
        model: the network without auxiliary heads (eval mode, CPU).
        classes: class names in output order.
        crop_size: centre crop side.
        aggregate: clip -> video aggregation (``"mean_prob"`` or ``"mean_logit"``).
    """

    def __init__(self, model: nn.Module, classes: Sequence[str], crop_size: int, aggregate: str) -> None:
        self.model = model.eval()
        self.classes = tuple(classes)
        self.crop_size = int(crop_size)
        self.aggregate = aggregate

    def predict_proba(self, inputs: Sequence[MOLVideo],
                      network: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """``(M, K)`` probabilities of ``M`` prepared videos (``network``: an exported graph of the logits)."""
        videos = list(inputs)
        if not videos:
            return np.zeros((0, len(self.classes)))
        return predict_videos(self.model, videos, self.crop_size, self.aggregate, network)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return torch_state_arrays(self.model)

    def state_info(self) -> dict:
        return {"auxiliary_heads": "dropped after training"}


@register_method("multitask_clips")
class MultitaskClipsMethod(Method):
    """MOL's multi-task training on raw clips (module docstring)."""

    options_class = MultitaskClipsOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arch = arch_options(self.model_options, self.options)  # validates [model] options early

    @property
    def input_kind(self) -> str:
        return "gray_clip"

    def data_config(self) -> MOLDataConfig:
        """The clip preparation of this method's options, model and ``[features]``."""
        return self.options.data_config(int(self.arch.get("num_frames", 8)), self.features.cache_dir)

    def prepare(self, table: pd.DataFrame, seeds: Sequence[int] = (0,)) -> MOLVideoSet:
        self.inputs = prepare_videos(table, self.data_config(), workers=self.features.workers,
                                     progress=self.progress)
        return self.inputs

    def fit(self, table: pd.DataFrame, task: Any) -> ClipVideoClassifier:
        from merkit.models import create_model

        seed = fold_seed(task.seed, task.fold.name)
        keys = table["sample_key"].to_numpy()
        train_idx, val_idx = fit_rows(task, self.train.schedule)
        torch.manual_seed(seed)  # initialisation and dropout
        model = create_model(self.model, num_classes=len(task.classes), **self.arch)
        if self.options.pretrained:
            load_pretrained(model, self.options.pretrained)
        has_val = val_idx is not None and len(val_idx) > 0
        history = train_clips(
            model, self.inputs.take(keys[train_idx]), encode_labels(table, train_idx, task.classes), self.options,
            self.train, seed=seed,
            val_videos=self.inputs.take(keys[val_idx]) if has_val else None,
            val_labels=encode_labels(table, val_idx, task.classes) if has_val else None,
            desc=f"seed {task.seed} {task.fold.name}",
        )
        log.info("seed %s fold %s: %d steps, kept %d, %.1f s", task.seed, task.fold.name, len(history.step_loss),
                 history.best_step, history.seconds)
        self.histories.append((task.seed, task.fold.name, history))
        # the heads are training-only: prediction never runs them, and a bundle need not carry 43 M parameters
        model.flow_head = None
        model.landmark_head = None
        return ClipVideoClassifier(model, task.classes, self.options.crop_size, self.options.aggregate)

    def inference_options(self) -> dict:
        """Constructor options of the fitted (head-less) network."""
        return {**self.arch, "flow_head": False, "landmark_head": False}

    def restore(self, arrays: dict[str, np.ndarray], info: dict) -> ClipVideoClassifier:
        classes = tuple(info["classes"])
        model = build_torch_model(self.model, self.inference_options(), len(classes), arrays)
        return ClipVideoClassifier(model, classes, self.options.crop_size, self.options.aggregate)
