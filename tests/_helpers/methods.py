"""A tiny instance of every registered method, with a small table and one fold (the method contract).

Each builder returns ``(method, table, task)``: the method with its inputs injected (``method.inputs``,
as :meth:`Method.prepare` would set them), so no frame is read. They are small enough for CPU tests:
one-stage or small networks, 32-pixel inputs, one to three epochs or steps.
:data:`TINY_METHODS` names them per registered method and variant; ``tests/training/test_method_contract.py``
runs every one, and fails for a registered method without one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tests._helpers.folds import fold_task
from tests._helpers.tables import CLASSES, labelled_table, learnable_features

# -- supervised / descriptor_svm -------------------------------------------------------------------


def tiny_supervised(table):
    """STSTNet on :func:`learnable_features`, 3 epochs with early stopping on the validation subjects."""
    from merkit.inputs.config import FeatureConfig
    from merkit.inputs.feature_set import FeatureSet
    from merkit.training.methods import get_method
    from merkit.training.methods.base import NoOptions
    from merkit.training.settings import TrainConfig

    train = TrainConfig(epochs=3, schedule="early_stopping", progress=False)
    method = get_method("supervised")("ststnet", {}, NoOptions(), train, FeatureConfig(), progress=False)
    method.inputs = FeatureSet(table["sample_key"], learnable_features(table), "flow_uv_strain")
    return method


def tiny_descriptor_svm(table):
    """Bi-WOOF + SVM on a subsample of :func:`learnable_features` flattened."""
    from merkit.inputs.config import FeatureConfig
    from merkit.inputs.feature_set import FeatureSet
    from merkit.training.methods import get_method
    from merkit.training.methods.descriptor_svm import DescriptorSVMOptions
    from merkit.training.settings import TrainConfig

    method = get_method("descriptor_svm")("biwoof_svm", {}, DescriptorSVMOptions(), TrainConfig(progress=False),
                                          FeatureConfig(), progress=False)
    x = learnable_features(table)
    method.inputs = FeatureSet(table["sample_key"], x.reshape(len(table), -1)[:, ::7], "biwoof")
    return method


# -- flow_pretrain_finetune ------------------------------------------------------------------------

FLOW_PRETRAIN_SIZE = 32


def masked_face_flows(table, seed=0, size=FLOW_PRETRAIN_SIZE):
    """Faces with a bright class quadrant and flows moving in a class direction, plus noise."""
    from merkit.inputs.masked_face_flow import MaskedFaceFlows

    rng = np.random.default_rng(seed)
    n = len(table)
    faces = rng.integers(0, 120, size=(n, size, size)).astype(np.uint8)
    flows = rng.normal(0, 0.1, size=(n, size, size, 2)).astype(np.float32)
    h = size // 2
    for i, label in enumerate(table["label"]):
        k = CLASSES.index(label)
        faces[i, h * (k // 2) : h * (k // 2) + h, h * (k % 2) : h * (k % 2) + h] += 120
        flows[i, ..., k % 2] += 1.0 if k < 2 else -1.0
    return MaskedFaceFlows(table["sample_key"].to_numpy(object), faces, flows)


def tiny_flow_pretrain(table, head, pretrain, epochs=2):
    """ShuffleNet-ME at 32 px, one pre-training epoch (if any), ``epochs`` fine-tuning epochs, one thread."""
    from merkit.inputs.config import FeatureConfig
    from merkit.training.methods import get_method
    from merkit.training.methods.flow_pretrain import FlowPretrainOptions
    from merkit.training.settings import TrainConfig

    options = FlowPretrainOptions(size=FLOW_PRETRAIN_SIZE, head=head, pretrain=pretrain, pretrain_epochs=1,
                                  svc_C=(0.1, 1.0))
    train = TrainConfig(epochs=epochs, batch_size=16, schedule="early_stopping", patience=5, progress=False,
                        device="cpu", threads=1, optimizer="adam", weight_decay=0.0, lr_schedule="plateau")
    method = get_method("flow_pretrain_finetune")("shufflenet_v2_me", {}, options, train, FeatureConfig(),
                                                  progress=False)
    method.inputs = masked_face_flows(table)
    return method


# -- macro_transfer --------------------------------------------------------------------------------


def _macro_fast():
    from merkit.training.settings import TrainConfig

    return TrainConfig(epochs=2, batch_size=8, lr=0.005, optimizer="adam", imbalance="balanced_sampler",
                       max_rotation=0.0, threads=1, device="cpu", progress=False)


#: two epochs of batch 8 on the CPU with one thread: the fine-tuning settings of the tiny macro_transfer
MACRO_FAST = _macro_fast()


def macro_images(labels, seed=0, size=32):
    """(N, 1, size, size) faces-like inputs whose class shows as a bright band, in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.6, size=(len(labels), 1, size, size)).astype(np.float32)
    for i, label in enumerate(labels):
        k = CLASSES.index(label)
        x[i, :, k * size // 3 : (k + 1) * size // 3] += 0.35
    return np.clip(x, 0, 1)


def tiny_macro_transfer(table, train=MACRO_FAST, **options):
    """MobileViT-XXS-ME on :func:`macro_images`, unfreezing every epoch, with an untrained donor as the
    phase-1 (macro pre-training) weights of seed 0: no macro set is generated."""
    from merkit.inputs.config import FeatureConfig
    from merkit.inputs.feature_set import FeatureSet
    from merkit.models import create_model
    from merkit.training.methods.macro_transfer import MacroTransferMethod, MacroTransferOptions

    method = MacroTransferMethod("mobilevit_xxs_me", {}, MacroTransferOptions(unfreeze_every=1, **options), train,
                                 FeatureConfig(), progress=False)
    method.inputs = FeatureSet(table["sample_key"], macro_images(table["label"].tolist()), "gray_apex_masked")
    method.transfer_states = {0: create_model("mobilevit_xxs_me").transfer_state_dict("mv2")}  # a donor
    return method


# -- multitask_clips (MOL) -------------------------------------------------------------------------

#: small aligned faces and crops, at most two clips per video
MOL_SMALL = {"align_size": 72, "crop_size": 64, "max_clips": 2}


def mol_video(key, label_idx, rng, size=72, n_frames=8, t=4):
    """A video whose class is a bright square's row and motion direction, with exact flow targets."""
    from merkit.inputs.clips import MOLVideo, clip_offsets

    frames = rng.integers(60, 90, size=(n_frames, size, size)).astype(np.uint8)
    dx = (1, 0, -1)[label_idx]
    y0 = 8 + 20 * label_idx
    for f in range(n_frames):
        x0 = 20 + dx * f
        frames[f, y0 : y0 + 14, x0 : x0 + 14] = 220
    clips = clip_offsets(n_frames, t)
    flows = np.zeros((len(clips), t - 1, 2, size, size), dtype=np.float16)
    flows[:, :, 0, y0 : y0 + 14, 20:34] = dx * (n_frames // t)
    marks = np.tile(rng.uniform(20, 50, size=(1, 68, 2)), (n_frames, 1, 1)).astype(np.float32)
    marks[:, 42:48, 0] += 15.0
    return MOLVideo(key, frames, marks, clips, flows, np.eye(2, 3), 0, n_frames // 2)


def mol_video_set(table, seed=0, t=4):
    """One :func:`mol_video` per row of ``table`` (T-frame clips)."""
    from merkit.inputs.clips import MOLDataConfig, MOLVideoSet

    rng = np.random.default_rng(seed)
    videos = [mol_video(k, CLASSES.index(lab), rng, t=t) for k, lab in zip(table["sample_key"], table["label"])]
    return MOLVideoSet(videos, MOLDataConfig(num_frames=t, align_size=72, crop_size=64))


def mol_table():
    """Two subjects per source, four clips each, three classes only."""
    table = labelled_table(n_subjects=2, clips=4)
    return table[table["label"].isin(CLASSES)].reset_index(drop=True)


def tiny_multitask_clips(table, steps, options=None, **train):
    """MOL on :func:`mol_video_set` (4-frame clips), ``steps`` optimiser steps of batch 4, one thread."""
    from merkit.inputs.config import FeatureConfig
    from merkit.training.methods import get_method
    from merkit.training.methods.multitask_clips import MultitaskClipsOptions
    from merkit.training.settings import TrainConfig

    settings = {"lr": 1e-3, "batch_size": 4, "progress": False, "threads": 1, "weight_decay": 1e-3, "steps": steps,
                **train}
    options = MultitaskClipsOptions(**{**MOL_SMALL, **(options or {})})
    method = get_method("multitask_clips")("mol", {"num_frames": 4}, options, TrainConfig(**settings),
                                           FeatureConfig(), progress=False)
    method.inputs = mol_video_set(table)
    return method


# -- the registry of tiny cases --------------------------------------------------------------------


def _case(build: Callable, table: Callable, val_subjects: int):
    def make():
        t = table()
        return build(t), t, fold_task(t, t["subject_key"].iloc[0], val_subjects=val_subjects)

    return make


#: registered method name -> variant -> () -> (method, table, task)
TINY_METHODS: dict[str, dict[str, Callable]] = {
    "supervised": {"ststnet_early_stopping": _case(tiny_supervised, lambda: labelled_table(4, 6), 2)},
    "descriptor_svm": {"biwoof": _case(tiny_descriptor_svm, lambda: labelled_table(4, 6), 2)},
    "flow_pretrain_finetune": {
        head: _case(lambda t, head=head: tiny_flow_pretrain(t, head, pretrain=False, epochs=1),
                    lambda: labelled_table(3, 5), 1)
        for head in ("hinge", "svc")},
    "macro_transfer": {
        head: _case(lambda t, head=head: tiny_macro_transfer(t, head=head), lambda: labelled_table(4, 6, seed=1), 1)
        for head in ("softmax", "svc")},
    "multitask_clips": {
        "mean_logit": _case(lambda t: tiny_multitask_clips(t, 3, {"lambda_of": 0.0, "aggregate": "mean_logit"}),
                            mol_table, 0)},
}
