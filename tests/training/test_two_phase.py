"""Seed 002 two-phase training: balancing, flips, options, honest fit-predict."""

import re

import numpy as np
import pytest
import torch

from merkit.errors import ConfigError, UnknownNameError
from merkit.evaluation.protocols import Fold
from merkit.evaluation.runner import FoldTask, seed_everything
from merkit.training.config import TrainConfig
from merkit.training.seed002_inputs import RawInputs, encode_face, encode_flow, flip_raw
from merkit.training.two_phase import (
    TwoPhaseFitPredict,
    TwoPhaseOptions,
    balanced_epoch_order,
    expand_by_flipping,
)
from tests.training.conftest import CLASSES, labelled_table

SIZE = 32


def test_flipping_fills_minority_classes_once_each():
    y = np.array([0] * 10 + [1] * 4 + [2] * 7)
    flip = expand_by_flipping(y, np.random.default_rng(0))
    assert len(set(flip.tolist())) == len(flip)  # a sample is flipped at most once
    counts = np.bincount(np.concatenate([y, y[flip]]))
    assert counts.tolist() == [10, 8, 10]  # class 1 doubles (4 -> 8), class 2 tops up to 10


def test_epoch_draws_equal_counts_without_repeats():
    y = np.array([0] * 9 + [1] * 3 + [2] * 5)
    order = balanced_epoch_order(y, torch.Generator().manual_seed(0)).numpy()
    assert len(set(order.tolist())) == len(order)
    assert np.bincount(y[order]).tolist() == [3, 3, 3]


def test_flip_raw_mirrors_and_negates_u():
    faces = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    flows = np.random.default_rng(0).normal(size=(2, 3, 4, 2)).astype(np.float32)
    f_faces, f_flows = flip_raw(faces, flows)
    assert np.array_equal(f_faces, faces[:, :, ::-1])
    assert np.allclose(f_flows[..., 0], -flows[:, :, ::-1, 0]) and np.allclose(f_flows[..., 1], flows[:, :, ::-1, 1])


def test_flow_images_are_three_channels_in_unit_range():
    flows = np.zeros((2, 8, 8, 2), np.float32)
    flows[0, 2:4, 2:4, 0] = 1.5
    for kind in ("hsv", "uv_mag"):
        img = encode_flow(flows, kind)
        assert img.shape == (2, 3, 8, 8) and img.min() >= 0 and img.max() <= 1
    hsv = encode_flow(flows, "hsv")
    assert hsv[1].max() == 0 and hsv[0, :, 2, 2].max() == 1  # zero flow is black; the peak is bright
    with pytest.raises(UnknownNameError, match="flow_image"):
        encode_flow(flows, "rgb")


def test_options_split_method_and_constructor_keys():
    o = TwoPhaseOptions.from_model_config("shufflenet_v2_me_cbam", {"head": "svc", "cbam_position": "stage4"})
    assert o.head == "svc" and o.model_options == {"cbam_position": "stage4"}
    with pytest.raises(ConfigError, match="bad option"):
        TwoPhaseOptions.from_model_config("shufflenet_v2_me", {"heads": "svc"})
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean 'hinge'?")):
        TwoPhaseOptions.from_model_config("shufflenet_v2_me", {"head": "hinges"})
    with pytest.raises(ConfigError, match="set per phase"):
        TwoPhaseOptions.from_model_config("shufflenet_v2_me", {"in_chans": 3})


def _raw(table, seed=0):
    """Faces with a bright class quadrant and flows moving in a class direction, plus noise."""
    rng = np.random.default_rng(seed)
    n = len(table)
    faces = rng.integers(0, 120, size=(n, SIZE, SIZE)).astype(np.uint8)
    flows = rng.normal(0, 0.1, size=(n, SIZE, SIZE, 2)).astype(np.float32)
    h = SIZE // 2
    for i, label in enumerate(table["label"]):
        k = CLASSES.index(label)
        faces[i, h * (k // 2) : h * (k // 2) + h, h * (k % 2) : h * (k % 2) + h] += 120
        flows[i, ..., k % 2] += 1.0 if k < 2 else -1.0
    return RawInputs(table["sample_key"].to_numpy(object), faces, flows)


def _task(table, test_subject):
    subjects = table["subject_key"].to_numpy()
    test = np.flatnonzero(subjects == test_subject)
    train = np.flatnonzero(subjects != test_subject)
    rest = sorted(set(subjects[train]))
    val = np.flatnonzero(np.isin(subjects, rest[:1]))
    return FoldTask(Fold(test_subject, train, test), 0, np.setdiff1d(train, val), val, CLASSES)


@pytest.fixture
def one_torch_thread():
    """Restore torch's thread count after a fit-predict that sets ``train.threads=1``.

    One thread is what every process-pool worker of the engine uses; with torch's
    default (all cores) on a loaded 2-core CI machine, the tiny convolutions here
    spend most of their time with threads waiting for each other (48 s instead of 3 s).
    """
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("head", ["hinge", "svc", "softmax"])
def test_two_phase_predicts_without_reading_test_labels(head, one_torch_thread):
    table = labelled_table(3, 5)
    raw = _raw(table)
    # the full path (pre-training + transfer) once; the other heads only differ after it
    opts = TwoPhaseOptions(model="shufflenet_v2_me", size=SIZE, head=head, pretrain=head == "hinge", pretrain_epochs=1,
                           svc_C=(0.1, 1.0))
    train = TrainConfig(epochs=2, batch_size=16, schedule="early_stopping", patience=5, progress=False, device="cpu",
                        threads=1)
    fp = TwoPhaseFitPredict(opts, train, raw)
    task = _task(table, "casme2/sub01")
    seed_everything(1)
    a = fp(table, task)
    flipped = table.copy()
    labels = flipped["label"].to_numpy().copy()
    labels[task.test_idx] = [CLASSES[(CLASSES.index(v) + 1) % 3] for v in labels[task.test_idx]]
    flipped["label"] = labels
    seed_everything(1)
    b = fp(flipped, task)
    assert a.shape == (len(task.test_idx), 3)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(a, b)
    record = fp.histories[0][2]
    assert set(record) == ({"pretrain", "finetune"} if head == "hinge" else {"finetune"})
    assert 1 <= record["finetune"].best_epoch <= 2


def test_encode_face_scale():
    assert encode_face(np.full((1, 2, 2), 255, np.uint8)).tolist() == [[[[1.0, 1.0], [1.0, 1.0]]]]


def test_numeric_options_accept_yaml_exponent_strings_and_name_bad_values():
    # `--set model.options={pretrain_lr: 1e-3}` arrives as the string '1e-3' (YAML 1.1 needs a dot)
    o = TwoPhaseOptions.from_model_config("shufflenet_v2_me", {"pretrain_lr": "1e-3", "size": "64"})
    assert o.pretrain_lr == 0.001 and o.size == 64 and isinstance(o.size, int)
    with pytest.raises(ConfigError, match=re.escape("model.options.pretrain_lr must be a number; got 'fast'")):
        TwoPhaseOptions.from_model_config("shufflenet_v2_me", {"pretrain_lr": "fast"})
    with pytest.raises(ConfigError, match=re.escape("model.options.pretrain_epochs must be an integer; got 2.5")):
        TwoPhaseOptions(pretrain_epochs=2.5)
