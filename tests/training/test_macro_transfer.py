"""macro_transfer (seed 003): unfreezing schedule, phases, transfer weights, fold honesty, prepare versus pretrain.

The state round trip of every method is in tests/training/test_method_contract.py.
"""

import dataclasses

import numpy as np
import pytest
import torch

from merkit.errors import ConfigError, UnknownNameError
from merkit.experiments.config import config_from_dict
from merkit.models import create_model
from merkit.training.methods import create_method
from merkit.training.methods.macro_transfer import (
    MacroTransferMethod,
    MacroTransferOptions,
    pretrain_macro,
    train_phase,
    unfreeze_plan,
)
from tests._helpers.folds import fold_task
from tests._helpers.methods import MACRO_FAST, macro_images, tiny_macro_transfer
from tests._helpers.tables import CLASSES, labelled_table


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
    history = train_phase(model, macro_images(labels), np.array([CLASSES.index(c) for c in labels]), MACRO_FAST,
                          MacroTransferOptions(), seed=0, freeze_plan=plan)
    assert history.frozen_groups == [8, 8]
    assert torch.equal(model.stem.conv.weight, stem_w) and torch.equal(model.stem.bn.running_mean, stem_mean)
    assert not torch.equal(model.head.fc.weight, head_w)
    assert all(p.requires_grad for p in model.parameters())  # released after training


def test_l2_penalty_shrinks_kernels():
    labels = list(CLASSES) * 4
    x, y = macro_images(labels), np.array([CLASSES.index(c) for c in labels])
    cfg = dataclasses.replace(MACRO_FAST, batch_size=12, lr=0.01, optimizer="sgd", weight_decay=0.0, augment=False)
    norms = []
    for l2 in (0.0, 0.05):
        torch.manual_seed(0)
        model = create_model("mobilevit_xxs_me")
        train_phase(model, x, y, cfg, MacroTransferOptions(l2=l2), seed=0)
        norms.append(float(sum(w.detach().pow(2).sum() for w in model.regularized_weights())))
    assert norms[1] < norms[0]


def test_pretrain_keeps_scope_weights_on_a_macro_subject_split():
    labels = list(CLASSES) * 6
    subjects = [f"synthme_macro/m{i % 4}" for i in range(len(labels))]
    options = MacroTransferOptions(macro={"epochs": 2, "batch_size": 8, "threads": 1, "device": "cpu",
                                          "progress": False})
    assert options.macro.optimizer == "sgd" and options.macro.schedule == "early_stopping"  # paper defaults kept
    state, history = pretrain_macro(macro_images(labels), labels, subjects, options, seed=0, model="mobilevit_xxs_me")
    assert set(state) == set(create_model("mobilevit_xxs_me").transfer_state_dict("mv2"))
    assert 1 <= history.best_epoch <= 2 and len(history.val_score) >= 1
    with pytest.raises(ConfigError, match="not macro3 classes"):
        pretrain_macro(macro_images(labels), ["fear"] * len(labels), subjects, options, seed=0,
                       model="mobilevit_xxs_me")


@pytest.mark.parametrize("head", ["softmax", "hinge", "svc"])
def test_fold_fit_predict_never_reads_test_labels(head):
    table = labelled_table(n_subjects=4, clips=6, seed=1)
    task = fold_task(table, table["subject_key"].iloc[0], val_subjects=1)
    blind = table.copy()
    blind.loc[task.test_idx, "label"] = "HIDDEN"  # any read of a test label would raise in encode_labels
    probs = tiny_macro_transfer(table, head=head)(blind, task)
    assert probs.shape == (len(task.test_idx), 3)
    assert np.allclose(probs.sum(1), 1.0)


def test_select_on_test_never_refits_the_svc_on_the_test_subject():
    table = labelled_table(n_subjects=4, clips=6, seed=1)
    task = fold_task(table, table["subject_key"].iloc[0], select_on_test=True, val_subjects=1)
    fitted = tiny_macro_transfer(table, head="svc").fit(table, task)
    assert fitted.svc is not None and len(fitted.state_arrays()["svc_y"]) == len(task.fit_idx)


def test_prepare_builds_inputs_only_and_pretrain_runs_phase_one(monkeypatch):
    from merkit.training.methods import base

    table = labelled_table(n_subjects=3, clips=3)
    method = tiny_macro_transfer(table)
    method.transfer_states.clear()
    images, trained = method.inputs, []
    monkeypatch.setattr(MacroTransferMethod, "_phase1", lambda self, seed: trained.append(seed) or {})
    monkeypatch.setattr(base, "prepare_inputs", lambda kind, t, settings, progress=False: images)
    assert method.prepare(table) is images  # what a restored bundle runs on a new clip
    assert trained == []
    method.pretrain(table, (0, 1))
    assert trained == [0, 1] and set(method.transfer_states) == {0, 1}


def test_grid_candidates_share_the_phase_one_weights():
    table = labelled_table(n_subjects=3, clips=3)
    method = tiny_macro_transfer(table)
    clone = method.with_train(lr=0.001, epochs=1)
    assert clone.transfer_states is method.transfer_states and clone.inputs is method.inputs
    assert clone.train.lr == 0.001 and clone.options == method.options


def test_options_are_validated_strictly_and_named():
    with pytest.raises(UnknownNameError):
        MacroTransferOptions(head="svm")
    with pytest.raises(ConfigError, match=r"method.options.macro \(phase 1\).*optimizer"):
        MacroTransferOptions(macro={"optimizer": "rmsprop"})
    cfg = config_from_dict({"model": {"name": "mobilevit_xxs_me"},
                            "method": {"options": {"macro": {"lrate": 0.1}}}})
    with pytest.raises(ConfigError, match=r"'method.options.macro.lrate'; valid: \[.*'lr'"):
        create_method(cfg)
    cfg = config_from_dict({"model": {"name": "mobilevit_xxs_me"},
                            "method": {"options": {"macro_data": {"synth_rot": "x"}}}})
    with pytest.raises(ConfigError, match="Did you mean 'synth_root'"):
        create_method(cfg)
    misplaced = config_from_dict({"model": {"name": "mobilevit_xxs_me", "options": {"head": "svc"}}})
    with pytest.raises(ConfigError, match=r"move them to the \[method\] section"):
        create_method(misplaced)
    method = create_method(config_from_dict({"model": {"name": "mobilevit_s_me"}}))
    assert method.name == "macro_transfer" and method.options.macro.lr == 0.01 and method.options.head == "svc"
