"""``multitask_clips``: MOL trained on raw clips with recognition, optical-flow and landmark losses (seed 001).

Shao et al. (MOL; ``docs/models/mol.md``) inside the method contract:

* :meth:`MultitaskClipsMethod.prepare` aligns every video, places 68
  landmarks on every frame and computes the TV-L1 targets of every clip
  (:func:`merkit.inputs.clips.prepare_videos`, cached);
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

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from merkit.evaluation.runner import fold_seed
from merkit.inputs.clips import MOLDataConfig, MOLVideo
from merkit.models import create_model
from merkit.training.loop import fit_rows
from merkit.training.methods import register_method
from merkit.training.methods.base import Method, encode_labels
from merkit.training.methods.clip_training import load_pretrained, predict_videos, train_clips
from merkit.training.methods.fitted import build_torch_model, torch_state_arrays
from merkit.training.methods.multitask_options import MultitaskClipsOptions, arch_options

__all__ = ["MultitaskClipsOptions", "MultitaskClipsMethod", "ClipVideoClassifier", "arch_options"]

log = logging.getLogger(__name__)

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

    def input_settings(self) -> MOLDataConfig:
        return dataclasses.replace(self.data_config(), workers=self.features.workers)

    def fit(self, table: pd.DataFrame, task: Any) -> ClipVideoClassifier:
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
