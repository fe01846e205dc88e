"""flow_pretrain_finetune (seed 002): flip balancing, options, the pre-training and fine-tuning phases, SVC honesty.

Its inputs (masked faces and flows) are tested in tests/inputs/test_masked_face_flow.py; prepare, honesty and the
state round trip of every method in tests/training/test_method_contract.py.
"""

import re

import numpy as np
import pytest
import torch

from merkit.errors import ConfigError, UnknownNameError
from merkit.experiments.config import config_from_dict
from merkit.inputs.masked_face_flow import MaskedFaceFlows, face_frame_indices
from merkit.training.methods import create_method
from merkit.training.methods.base import build_options
from merkit.training.methods.flow_pretrain import FlowPretrainOptions, expand_by_flipping
from tests._helpers.folds import fit_predict_ignoring_test_labels, fold_task
from tests._helpers.methods import FLOW_PRETRAIN_SIZE as SIZE
from tests._helpers.methods import tiny_flow_pretrain
from tests._helpers.tables import CLASSES, labelled_table


def test_flipping_fills_minority_classes_once_each():
    y = np.array([0] * 10 + [1] * 4 + [2] * 7)
    flip = expand_by_flipping(y, np.random.default_rng(0))
    assert len(set(flip.tolist())) == len(flip)  # a sample is flipped at most once
    counts = np.bincount(np.concatenate([y, y[flip]]))
    assert counts.tolist() == [10, 8, 10]  # class 1 doubles (4 -> 8), class 2 tops up to 10


def _cfg(model="shufflenet_v2_me", model_options=None, options=None):
    return config_from_dict({"model": {"name": model, "options": model_options or {}},
                             "method": {"options": options or {}}})


def test_options_live_in_the_method_section_and_constructor_options_in_the_model_section():
    method = create_method(_cfg("shufflenet_v2_me_cbam", {"cbam_position": "stage4"}, {"head": "svc"}), progress=False)
    assert method.name == "flow_pretrain_finetune" and method.input_kind == "flow_image_then_masked_face"
    assert method.options.head == "svc" and method.model_options == {"cbam_position": "stage4"}
    with pytest.raises(ConfigError, match="bad option"):  # a bad constructor option fails at once, not per fold
        create_method(_cfg(model_options={"heads": "svc"}))
    with pytest.raises(ConfigError, match=r"move them to the \[method\] section"):
        create_method(_cfg(model_options={"head": "svc"}))
    with pytest.raises(ConfigError, match="Did you mean 'head'"):
        create_method(_cfg(options={"heads": "svc"}))
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean 'hinge'?")):
        create_method(_cfg(options={"head": "hinges"}))
    with pytest.raises(ConfigError, match="set per phase"):
        create_method(_cfg(model_options={"in_chans": 3}))


def _task(table, test_subject, select_on_test=False):
    return fold_task(table, test_subject, select_on_test, val_subjects=1)


@pytest.fixture
def one_torch_thread():
    """Restore torch's thread count after a fit that sets ``train.threads=1``.

    One thread is what every process-pool worker of the engine uses; with torch's
    default (all cores) on a loaded 2-core CI machine, the tiny convolutions here
    spend most of their time with threads waiting for each other (48 s instead of 3 s).
    """
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("head", ["hinge", "svc", "softmax"])
def test_fit_predict_never_reads_test_labels(head, one_torch_thread):
    table = labelled_table(3, 5)
    # the full path (pre-training + transfer) once; the other heads only differ after it
    method = tiny_flow_pretrain(table, head, pretrain=head == "hinge")
    task = _task(table, "casme2/sub01")
    fit_predict_ignoring_test_labels(method, table, task)
    record = method.histories[0][2]
    assert set(record) == ({"pretrain", "finetune"} if head == "hinge" else {"finetune"})
    assert 1 <= record["finetune"].best_epoch <= 2
    if head == "hinge":
        assert record["pretrain"].best_epoch == 1 and record["pretrain"].frozen_groups == [0]


def test_svc_head_never_trains_on_the_test_subject_in_select_on_test_mode(one_torch_thread):
    table = labelled_table(3, 5)
    method = tiny_flow_pretrain(table, "svc", pretrain=False, epochs=1)
    expected = {}
    for select_on_test in (False, True):
        task = _task(table, "casme2/sub01", select_on_test)
        counts = np.bincount([CLASSES.index(v) for v in table["label"].to_numpy()[task.fit_idx]], minlength=3)
        expanded = sum(min(2 * n, counts.max()) for n in counts if n)  # training rows + their flipped copies
        rows = len(method.fit(table, task).svc.state()[0]["svc_y"])
        expected[select_on_test] = (rows, expanded, len(task.val_idx))
    rows, expanded, n_val = expected[True]
    assert rows == expanded  # the validation rows are the test subject: never in the SVC's fit
    rows, expanded, n_val = expected[False]
    assert rows == expanded + n_val  # honest: C chosen on validation subjects, then refitted with them


def test_numeric_options_accept_yaml_exponent_strings_and_name_bad_values():
    # `--set method.options={pretrain_lr: 1e-3}` arrives as the string '1e-3' (YAML 1.1 needs a dot)
    o = build_options(FlowPretrainOptions, {"pretrain_lr": "1e-3", "size": 64.0, "svc_C": 1}, "method.options")
    assert o.pretrain_lr == 0.001 and o.size == 64 and isinstance(o.size, int) and o.svc_C == (1,)
    with pytest.raises(ConfigError, match=re.escape("pretrain_lr' must be of type float; got str 'fast'")):
        build_options(FlowPretrainOptions, {"pretrain_lr": "fast"}, "method.options")
    with pytest.raises(ConfigError, match=re.escape("pretrain_epochs' must be of type int; got float 2.5")):
        build_options(FlowPretrainOptions, {"pretrain_epochs": 2.5}, "method.options")
    with pytest.raises(ConfigError, match="svc_C"):
        FlowPretrainOptions(svc_C=(0.0,))


@pytest.mark.parametrize("augment", [False, True])
def test_augment_moves_only_the_fine_tuning_faces(augment, monkeypatch, one_torch_thread):
    import merkit.training.methods.flow_pretrain as module

    seen = {}
    real_loop = module.train_loop

    def spying_loop(model, y, make_batch, loss_fn, cfg, **kwargs):
        rows = torch.arange(min(8, len(y)))
        seen[kwargs["desc"].split()[-1]] = [make_batch(rows, torch.Generator().manual_seed(k))[0] for k in (0, 1)]
        return real_loop(model, y, make_batch, loss_fn, cfg, **kwargs)

    monkeypatch.setattr(module, "train_loop", spying_loop)
    table = labelled_table(3, 5)
    method = tiny_flow_pretrain(table, "softmax", pretrain=True, epochs=1)
    method.options = FlowPretrainOptions(size=SIZE, head="softmax", pretrain_epochs=1, augment=augment)
    method.fit(table, _task(table, "casme2/sub01"))
    assert set(seen) == {"pre-train", "fine-tune"}
    pre, fine = seen["pre-train"], seen["fine-tune"]
    assert torch.equal(pre[0], pre[1])  # flow images are never moved
    assert torch.equal(fine[0], fine[1]) != augment  # faces move with the batch generator only when asked
    with pytest.raises(ConfigError, match="augment must be true or false"):
        FlowPretrainOptions(augment="yes")


def test_face_frames_read_the_onset_then_evenly_spaced_frames_ending_at_the_apex():
    assert face_frame_indices(10, 20) == [10, 20]
    idx = face_frame_indices(10, 20, 4)
    assert len(idx) == 5 and idx[0] == 10 and idx[-1] == 20 and idx == sorted(idx) and len(set(idx)) == 5
    assert face_frame_indices(3, 4, 3)[-1] == 4  # a clip shorter than T repeats frames
    with pytest.raises(ConfigError, match="face_frames"):
        FlowPretrainOptions(face_frames=0)


def test_face_frames_train_on_every_face_and_predict_the_mean_over_a_clip(one_torch_thread):
    table = labelled_table(3, 5)
    method = tiny_flow_pretrain(table, "svc", pretrain=False, epochs=1)
    single = method.inputs
    rng = np.random.default_rng(1)
    faces = np.stack([single.faces, np.clip(single.faces + rng.integers(0, 30, single.faces.shape), 0, 255)],
                     axis=1).astype(np.uint8)
    method.inputs = MaskedFaceFlows(single.keys, faces, single.flows)
    task = _task(table, "casme2/sub01")
    fitted = method.fit(table, task)
    counts = np.bincount([CLASSES.index(v) for v in table["label"].to_numpy()[task.fit_idx]], minlength=3)
    expanded = sum(min(2 * n, counts.max()) for n in counts if n)
    assert len(fitted.svc.state()[0]["svc_y"]) == 2 * (expanded + len(task.val_idx))  # two faces per clip
    x = method.inputs.take(table["sample_key"].to_numpy()[task.test_idx])
    assert x.shape[1:] == (2, 1, SIZE, SIZE)
    per_face = np.stack([fitted.predict_proba(x[:, t]) for t in range(2)], axis=1)
    np.testing.assert_allclose(fitted.predict_proba(x), per_face.mean(axis=1), atol=1e-12)
    restored = method.restore(fitted.state_arrays(), {**fitted.state_info(), "classes": list(task.classes)})
    np.testing.assert_allclose(restored.predict_proba(x), fitted.predict_proba(x), atol=1e-6)
