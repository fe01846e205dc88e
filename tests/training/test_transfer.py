"""Seed 003 training: unfreezing schedule, phases, transfer weights, fold fit-predict honesty."""

import numpy as np
import pytest
import torch

from merkit.errors import ConfigError, UnknownNameError
from merkit.evaluation.protocols import Fold
from merkit.evaluation.runner import FoldTask
from merkit.models import create_model
from merkit.training.features import FeatureSet
from merkit.training.transfer import (
    PhaseConfig,
    TransferConfig,
    fit_phase,
    load_transfer_weights,
    pretrain_macro,
    save_transfer_weights,
    unfreeze_plan,
)
from merkit.training.transfer_fold import TransferFitPredict
from tests.training.conftest import labelled_table

CLASSES = ("negative", "positive", "surprise")
FAST = PhaseConfig(epochs=2, batch_size=8, lr=0.005, threads=1, device="cpu")


def _images(labels, seed=0, size=32):
    """(N, 1, size, size) faces-like inputs whose class shows as a bright band, in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.6, size=(len(labels), 1, size, size)).astype(np.float32)
    for i, label in enumerate(labels):
        k = CLASSES.index(label)
        x[i, :, k * size // 3 : (k + 1) * size // 3] += 0.35
    return np.clip(x, 0, 1)


def test_progressive_unfreezing_goes_deepest_first():
    model = create_model("mobilevit_xxs_me")
    prefixes = model.transfer_prefixes("mv2")
    plan = unfreeze_plan(model, prefixes, "progressive", every=2, epochs=14)
    sizes = [len(p) for p in plan]
    # groups deepest first: stages.4 (1 MV2), stages.3 (1), stages.2 (1), stages.1 (3), stages.0 (1), stem (1)
    assert sizes == [8, 8, 7, 7, 6, 6, 5, 5, 2, 2, 1, 1, 0, 0]
    assert plan[0][0] is model.stages[4][0] and plan[10] == [model.stem]
    assert model.stages[2][1] not in plan[0]  # the MobileViT block of a stage is never frozen
    auto = unfreeze_plan(model, prefixes, "progressive", every=0, epochs=24)
    assert [len(p) for p in auto].index(0) == 12  # all unfrozen at half of the epochs
    assert all(len(p) == 8 for p in unfreeze_plan(model, prefixes, "frozen", 1, 3))
    assert all(not p for p in unfreeze_plan(model, prefixes, "none", 1, 3))
    with pytest.raises(UnknownNameError):
        unfreeze_plan(model, prefixes, "gradual", 1, 3)


def test_frozen_groups_keep_weights_and_batchnorm_statistics():
    torch.manual_seed(0)
    model = create_model("mobilevit_xxs_me")
    labels = list(CLASSES) * 6
    plan = unfreeze_plan(model, model.transfer_prefixes("mv2"), "frozen", 1, 2)
    stem_w = model.stem.conv.weight.detach().clone()
    stem_mean = model.stem.bn.running_mean.clone()
    head_w = model.head.fc.weight.detach().clone()
    history = fit_phase(model, _images(labels), np.array([CLASSES.index(c) for c in labels]), FAST, seed=0,
                        frozen_plan=plan)
    assert history.frozen_groups == [8, 8]
    assert torch.equal(model.stem.conv.weight, stem_w) and torch.equal(model.stem.bn.running_mean, stem_mean)
    assert not torch.equal(model.head.fc.weight, head_w)
    assert all(p.requires_grad for p in model.parameters())  # released after training


def test_l2_penalty_shrinks_kernels():
    labels = list(CLASSES) * 4
    x, y = _images(labels), np.array([CLASSES.index(c) for c in labels])
    norms = []
    for l2 in (0.0, 0.05):
        torch.manual_seed(0)
        model = create_model("mobilevit_xxs_me")
        fit_phase(model, x, y, PhaseConfig(epochs=2, batch_size=12, lr=0.01, optimizer="sgd", weight_decay=0,
                                           l2=l2, augment=False, threads=1, device="cpu"), seed=0)
        norms.append(float(sum(w.detach().pow(2).sum() for w in model.regularized_weights())))
    assert norms[1] < norms[0]


def test_pretrain_keeps_scope_weights_and_they_round_trip(tmp_path):
    labels = list(CLASSES) * 6
    subjects = [f"synthme_macro/m{i % 4}" for i in range(len(labels))]
    cfg = TransferConfig(model="mobilevit_xxs_me", macro=PhaseConfig(epochs=2, batch_size=8, lr=0.01,
                         optimizer="sgd", schedule="best_val", threads=1, device="cpu"))
    state, history = pretrain_macro(_images(labels), labels, subjects, CLASSES, cfg, seed=0)
    model = create_model("mobilevit_xxs_me")
    assert set(state) == set(model.transfer_state_dict("mv2"))
    assert 1 <= history.best_epoch <= 2 and len(history.val_score) >= 1
    path = save_transfer_weights(tmp_path / "w" / "transfer.pt", state)
    loaded = load_transfer_weights(path)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    with pytest.raises(ConfigError, match="not protocol classes"):
        pretrain_macro(_images(labels), ["fear"] * len(labels), subjects, CLASSES, cfg, seed=0)


def _task(table, test_subject):
    subjects = table["subject_key"].to_numpy()
    test = np.flatnonzero(subjects == test_subject)
    train = np.flatnonzero(subjects != test_subject)
    val = np.flatnonzero(subjects == sorted(set(subjects[train]))[0])
    fit = np.setdiff1d(train, val)
    return FoldTask(Fold(test_subject, train, test), seed=0, fit_idx=fit, val_idx=val, classes=CLASSES)


@pytest.mark.parametrize("head", ["softmax", "hinge", "svc"])
def test_fold_fit_predict_never_reads_test_labels(head):
    table = labelled_table(n_subjects=4, clips=6, seed=1)
    features = FeatureSet(table["sample_key"], _images(table["label"].tolist()), "gray_apex_masked")
    task = _task(table, table["subject_key"].iloc[0])
    blind = table.copy()
    blind.loc[task.test_idx, "label"] = "HIDDEN"  # any read of a test label would raise in encode_labels
    donor = create_model("mobilevit_xxs_me").transfer_state_dict("mv2")
    cfg = TransferConfig(model="mobilevit_xxs_me", head=head, micro=FAST, unfreeze_every=1)
    probs = TransferFitPredict(cfg, features, {0: donor})(blind, task)
    assert probs.shape == (len(task.test_idx), 3)
    assert np.allclose(probs.sum(1), 1.0)


def test_transfer_needs_phase_one_weights_and_valid_names():
    table = labelled_table(n_subjects=3, clips=3)
    features = FeatureSet(table["sample_key"], _images(table["label"].tolist()), "gray_apex_masked")
    with pytest.raises(ConfigError, match="no phase-1 weights"):
        TransferFitPredict(TransferConfig(model="mobilevit_xxs_me"), features, {})
    with pytest.raises(UnknownNameError):
        TransferConfig(head="svm")
    with pytest.raises(UnknownNameError):
        PhaseConfig(optimizer="rmsprop")
