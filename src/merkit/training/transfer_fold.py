"""Phase 2 of seed 003 per fold, for the runner: fresh model, transferred weights, fine-tune, classify.

See :mod:`merkit.training.transfer` for the method. :class:`TransferFitPredict`
is the runner's fit-predict callable; :meth:`~TransferFitPredict.fit_fold`
and :meth:`~TransferFitPredict.predict` are separate so that one trained
network can be scored with several heads (``softmax`` and ``svc`` share the
softmax-trained network; the benchmark compares them this way).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from merkit.errors import ConfigError
from merkit.evaluation.runner import FoldTask, fold_seed
from merkit.training.features import FeatureSet
from merkit.training.methods.base import encode_labels
from merkit.training.transfer import PhaseConfig, TransferConfig, _scores, fit_phase, unfreeze_plan

__all__ = ["TransferFitPredict"]

log = logging.getLogger(__name__)


class TransferFitPredict:
    """Phase 2 per fold for the runner: fresh model, transferred weights, fine-tune, classify.

    Args:
        cfg: the method settings.
        features: ``gray_apex_masked`` inputs keyed by sample key.
        transfer_states: run seed -> phase-1 weights (empty when ``cfg.transfer`` is False).
        micro: phase 2 settings overriding ``cfg.micro`` (the grid search passes its candidates).
    """

    def __init__(self, cfg: TransferConfig, features: FeatureSet, transfer_states: dict[int, dict] | None = None,
                 micro: PhaseConfig | None = None) -> None:
        if cfg.transfer and not transfer_states:
            raise ConfigError("transfer is on but no phase-1 weights were given; run pretrain_macro first.")
        self.cfg = cfg
        self.features = features
        self.transfer_states = dict(transfer_states or {})
        self.micro = micro or cfg.micro

    def with_params(self, **changes) -> TransferFitPredict:
        """The same method with phase-2 fields replaced (``batch_size``, ``lr``, ``epochs``: grid candidates)."""
        return TransferFitPredict(self.cfg, self.features, self.transfer_states, dataclasses.replace(self.micro, **changes))

    with_train = with_params

    def fit_fold(self, table: pd.DataFrame, task: FoldTask) -> nn.Module:
        """Train phase 2 for ``task`` (training subjects only); returns the model in eval mode."""
        from merkit.models import create_model

        cfg, micro = self.cfg, self.micro
        seed = fold_seed(task.seed, task.fold.name)
        x = self.features.take(table["sample_key"].to_numpy())
        if micro.schedule == "fixed" and not task.select_on_test:
            train_idx, val_idx = np.sort(np.concatenate([task.fit_idx, task.val_idx])), task.val_idx[:0]
        else:
            train_idx, val_idx = task.fit_idx, task.val_idx
        torch.manual_seed(seed)
        model = create_model(cfg.model, num_classes=len(task.classes), **cfg.model_options)
        plan = None
        if cfg.transfer:
            state = self.transfer_states.get(task.seed) or next(iter(self.transfer_states.values()))
            model.load_transfer_state(state, cfg.scope)
            plan = unfreeze_plan(model, model.transfer_prefixes(cfg.scope), cfg.unfreeze, cfg.unfreeze_every,
                                 micro.epochs)
        y_val = encode_labels(table, val_idx, task.classes) if len(val_idx) else None
        history = fit_phase(model, x[train_idx], encode_labels(table, train_idx, task.classes), micro, seed=seed,
                            head="softmax" if cfg.head == "svc" else cfg.head, frozen_plan=plan,
                            x_val=x[val_idx] if len(val_idx) else None, y_val=y_val)
        log.info("seed %s fold %s: phase 2 %d epochs, kept %d, %.0f s", task.seed, task.fold.name,
                 len(history.train_loss), history.best_epoch, history.seconds)
        return model

    def predict(self, model: nn.Module, table: pd.DataFrame, task: FoldTask, head: str | None = None) -> np.ndarray:
        """Test-subject probabilities from a trained model with ``head`` (default ``cfg.head``).

        ``softmax``/``hinge`` use the network's scores; ``svc`` fits an SVC on the embeddings of
        ``task.fit_idx`` with ``C`` chosen on ``task.val_idx`` (training subjects), then refits.
        """
        from merkit.training.svm_heads import EmbeddingSVC, extract_embeddings, scores_to_proba

        head = head or self.cfg.head
        x = self.features.take(table["sample_key"].to_numpy())
        x_test = x[task.test_idx]
        if head != "svc":
            return scores_to_proba(_scores(model, x_test, torch.device("cpu")))
        emb_val = y_val = None
        if len(task.val_idx):
            emb_val = extract_embeddings(model, x[task.val_idx])
            y_val = encode_labels(table, task.val_idx, task.classes)
        seed = fold_seed(task.seed, task.fold.name)
        svc = EmbeddingSVC(C=self.cfg.svc_C, seed=seed).fit(
            extract_embeddings(model, x[task.fit_idx]), encode_labels(table, task.fit_idx, task.classes), emb_val, y_val)
        log.info("seed %s fold %s: SVC C=%g", task.seed, task.fold.name, svc.chosen_C)
        return svc.predict_proba(extract_embeddings(model, x_test), len(task.classes))

    def __call__(self, table: pd.DataFrame, task: FoldTask) -> np.ndarray:
        return self.predict(self.fit_fold(table, task), table, task)
