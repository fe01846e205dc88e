"""multitask_clips (MOL): options, the joint loss, clip batches, training and early stopping per video.

Its inputs (clips, flow and landmark targets) are tested in tests/inputs/test_clips.py; prepare, honesty and the
state round trip of every method in tests/training/test_method_contract.py.
"""

import numpy as np
import pytest
import torch

from merkit.errors import ConfigError, ShapeError
from merkit.evaluation.protocols import Fold
from merkit.evaluation.runner import FoldTask
from merkit.experiments.config import config_from_dict
from merkit.inputs.clips import MIRROR_68
from merkit.training.methods import create_method
from merkit.training.methods.clip_training import clip_batch, mol_loss, predict_videos, train_clips
from merkit.training.methods.multitask_clips import MultitaskClipsOptions, arch_options
from merkit.training.settings import TrainConfig
from tests._helpers.folds import fold_task
from tests._helpers.methods import MOL_SMALL, mol_table, mol_video, mol_video_set, tiny_multitask_clips
from tests._helpers.tables import CLASSES


def test_arch_options_drop_heads_with_zero_weight_and_old_keys_say_where_they_went():
    arch = arch_options({"fusion": "add"}, MultitaskClipsOptions(lambda_of=0, lambda_ldm=0.5))
    assert arch == {"fusion": "add", "flow_head": False, "landmark_head": True, "img_size": 128}
    with pytest.raises(ConfigError, match="aggregate"):
        MultitaskClipsOptions(aggregate="max")
    # the optimiser and the step counts are the loop's: [train], which validates them
    cfg = config_from_dict({"model": {"name": "mol"}, "method": {"options": {"lambda_of": 0.0}},
                            "train": {"steps": 5, "eval_every": 2, "optimizer": "adam"}})
    method = create_method(cfg, progress=False)
    assert method.name == "multitask_clips" and method.options.lambda_of == 0.0 and method.train.steps == 5
    assert method.arch["flow_head"] is False and method.input_kind == "gray_clip"
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match=r"move them to the \[train\] section"):
        create_method(config_from_dict({"model": {"name": "mol", "options": {"steps": 5}}}))
    with pytest.raises(ConfigError, match=r"move them to the \[method\] section"):
        create_method(config_from_dict({"model": {"name": "mol", "options": {"lambda_of": 0.0}}}))
    with pytest.raises(ConfigError, match=r"\[train\] settings"):  # steps left in the method section
        create_method(config_from_dict({"model": {"name": "mol"}, "method": {"options": {"steps": 5}}}))
    with pytest.raises(ConfigError, match="set by multitask_clips from the loss weights"):
        create_method(config_from_dict({"model": {"name": "mol", "options": {"flow_head": True}}}))


def test_mol_loss_matches_hand_computation():
    b, t = 2, 3
    logits = torch.zeros(b, 3)
    labels = torch.tensor([0, 2])
    flow_pred = torch.ones(b, t - 1, 2, 4, 4)
    flow_true = torch.zeros(b, t - 1, 2, 4, 4)
    marks = torch.zeros(b, t, 68, 2)
    marks[..., 42:48, 0] = 10.0  # inter-ocular distance 10 px on every frame
    pred_marks = marks[:, 1:].clone()
    pred_marks[..., 0] += 1.0  # 1 px error in x on all points
    out = {"logits": logits, "flow": flow_pred, "landmarks": pred_marks}
    total, parts = mol_loss(out, labels, flow_true, marks, lambda_of=10.0, lambda_ldm=0.1)
    ce = np.log(3.0)
    flow = 1.0 / (t - 1)  # MSE 1, divided by T - 1 as the code does
    ldm = (b * (t - 1) * 68 * 1.0 / 10.0) / (b * 68)  # summed L1 / IOD, over frames and batch, / (B * 68)
    assert parts["ce"] == pytest.approx(ce) and parts["flow"] == pytest.approx(flow)
    assert parts["landmarks"] == pytest.approx(ldm)
    assert float(total) == pytest.approx(ce + 10 * flow + 0.1 * ldm, rel=1e-6)
    with pytest.raises(ShapeError, match="flow targets"):
        mol_loss(out, labels, flow_true[:, :1], marks, 1.0, 0.0)
    # the targets hold every frame, the predictions frames 1..T-1: the error says the shape it wants
    with pytest.raises(ShapeError, match=r"\(2, 3, 68, 2\) for predictions \(2, 2, 68, 2\); got \(2, 2, 68, 2\)"):
        mol_loss(out, labels, None, marks[:, 1:], 0.0, 0.1)


def test_lambda_ce_zero_trains_the_auxiliary_heads_alone():
    # the paper's "MOL w/o MER": no gradient reaches the classifier, the heads still get theirs
    torch.manual_seed(0)
    from merkit.models import create_model

    model = create_model("mol", num_classes=3, num_frames=2, img_size=64, flow_head=False, landmark_head=True)
    x = torch.randn(2, 2, 64, 64)
    marks = torch.rand(2, 2, 68, 2) * 60
    marks[..., 42:48, 0] += 20.0
    total, parts = mol_loss(model.forward_joint(x), torch.tensor([0, 1]), None, marks, 0.0, 0.1, lambda_ce=0.0)
    total.backward()
    assert parts["ce"] > 0 and float(total.detach()) == pytest.approx(0.1 * parts["landmarks"], rel=1e-6)
    assert all(p.grad is None or float(p.grad.abs().max()) == 0.0 for p in model.head.parameters())
    assert float(model.landmark_head.parameters().__next__().grad.abs().max()) > 0
    with pytest.raises(ConfigError, match="all 0: nothing would be trained"):
        MultitaskClipsOptions(lambda_ce=0.0, lambda_of=0.0, lambda_ldm=0.0)


def test_clip_batch_crops_and_flips_consistently():
    rng = np.random.default_rng(0)
    video = mol_video("v", 0, rng)
    x, flows, marks = clip_batch([video], [0], 64, None)
    assert x.shape == (1, 4, 64, 64) and flows.shape == (1, 3, 2, 64, 64) and marks.shape == (1, 4, 68, 2)
    assert torch.allclose(marks[0], torch.from_numpy(video.landmarks[video.clips[0]] - 4.0))
    flipped = None
    for seed in range(20):  # find a draw that flips (p = 0.5)
        xf, ff, mf = clip_batch([video], [0], 64, np.random.default_rng(seed), hflip=True)
        oy, ox = np.random.default_rng(seed).integers(0, 9, 2)
        plain = video.frames[video.clips[0], oy : oy + 64, ox : ox + 64] / 255.0 - 0.5
        if not np.allclose(xf[0].numpy(), plain):
            flipped = (xf, ff, mf, plain, ox)
            break
    assert flipped is not None
    xf, ff, mf, plain, ox = flipped
    assert np.allclose(xf[0].numpy(), plain[..., ::-1])
    assert (ff[0, :, 0] <= 0).all() and ff[0, :, 0].min() < 0  # rightward motion becomes leftward
    truth = video.landmarks[video.clips[0]][:, list(MIRROR_68)] - np.array([ox, 0], dtype=np.float32)
    assert np.allclose(mf[0, ..., 0].numpy(), 63 - truth[..., 0], atol=1e-4)


def test_the_saved_state_drops_the_training_only_heads():
    # the contract (tests/training/test_method_contract.py) restores it; here: what it leaves out
    table = mol_table()
    task = fold_task(table, table["subject_key"].iloc[0], val_subjects=0)
    method = tiny_multitask_clips(table, 2)
    fitted = method.fit(table, task)
    assert fitted.model.flow_head is None and fitted.model.landmark_head is None
    assert not any(k.startswith(("model.flow_head.", "model.landmark_head.")) for k in fitted.state_arrays())
    assert fitted.predict_proba([]).shape == (0, 3)


def test_early_stopping_checks_validation_videos_every_eval_every_steps():
    table = mol_table()
    subjects = table["subject_key"].to_numpy()
    test = np.flatnonzero(subjects == subjects[0])
    rest = np.flatnonzero(subjects != subjects[0])
    val, fit = rest[::3], np.setdiff1d(rest, rest[::3])  # validation videos of the training subject only
    task = FoldTask(Fold("f", rest, test), 0, fit, val, CLASSES)
    method = tiny_multitask_clips(table, 6, {"lambda_of": 0.0}, schedule="early_stopping", eval_every=2, patience=5,
                     imbalance="balanced_sampler")
    probs = method.fit_predict(table, task)
    history = method.histories[-1][2]
    assert len(history.val_score) == 3 and history.best_step in (2, 4, 6) and len(history.step_loss) == 6
    scrambled = table.copy()
    scrambled.loc[test, "label"] = np.roll(scrambled.loc[test, "label"].to_numpy(), 1)
    again = tiny_multitask_clips(table, 6, {"lambda_of": 0.0}, schedule="early_stopping", eval_every=2, patience=5,
                    imbalance="balanced_sampler")
    assert np.allclose(again.fit_predict(scrambled, task), probs)


def _fit(options, steps, batch, seed=0, num_frames=4, on_step=None):
    from merkit.models import create_model

    table = mol_table()
    videos = mol_video_set(table, t=num_frames).take(table["sample_key"])
    labels = np.array([CLASSES.index(lab) for lab in table["label"]])
    opts = MultitaskClipsOptions(**{**MOL_SMALL, **options})
    torch.manual_seed(seed)
    model = create_model("mol", num_classes=3, **arch_options({"num_frames": num_frames}, opts))
    train = TrainConfig(lr=1e-3, batch_size=batch, weight_decay=1e-3, progress=False, threads=1, steps=steps)
    return model, train_clips(model, videos, labels, opts, train, seed=seed, on_step=on_step), videos, labels, opts


def test_landmark_head_and_recognition_learn():
    model, history, videos, labels, opts = _fit({"lambda_of": 0.0}, steps=80, batch=8)
    assert len(history.step_loss) == 80
    first = np.mean([p["landmarks"] for p in history.parts[:4]])
    last = np.mean([p["landmarks"] for p in history.parts[-4:]])
    assert last < 0.5 * first
    probs = predict_videos(model, videos, opts.crop_size, opts.aggregate)
    assert (probs.argmax(1) == labels).mean() > 0.7  # training videos: the moving square is easy


def test_on_step_sees_every_step_and_training_resumes_in_train_mode():
    seen = []

    def observe(step, model):
        seen.append((step, model.training))
        model.eval()  # an observer that scores the model leaves it in eval mode

    model, *_ = _fit({"lambda_of": 0.0}, steps=3, batch=2, on_step=observe)
    assert seen == [(1, True), (2, True), (3, True)]  # dropout was on at every step despite the observer
    assert not model.training


def test_flow_head_learns():
    # one pair per clip (T = 2) keeps the 39.7 M-parameter flow head affordable on a CPU
    model, history, *_ = _fit({"lambda_ldm": 0.0}, steps=8, batch=2, num_frames=2)
    flow = [p["flow"] for p in history.parts]
    assert np.mean(flow[-3:]) < np.mean(flow[:3])
    assert all(np.isfinite(flow))


def test_pretrain_mol_trains_through_the_loop_and_fine_tuning_loads_all_but_the_last_layer(tmp_path, monkeypatch):
    from merkit.training.methods import clip_training

    table = mol_table()
    monkeypatch.setattr(clip_training, "prepare_videos", lambda *args, **kwargs: mol_video_set(table))
    options = MultitaskClipsOptions(**MOL_SMALL, lambda_of=0.0)
    train = TrainConfig(lr=1e-3, batch_size=4, progress=False, threads=1, steps=2)
    out = tmp_path / "mol_pretrained.pt"
    history = clip_training.pretrain_mol(table, CLASSES, {"num_frames": 4}, options, train, str(out), seed=0)
    assert len(history.step_loss) == 2 and out.exists()
    state = torch.load(out, weights_only=True)
    assert any(k.startswith("landmark_head.") for k in state)  # the whole MOL, auxiliary head included
    method = tiny_multitask_clips(table, 1, {"lambda_of": 0.0, "pretrained": str(out)}, lr=1e-12)
    fitted = method.fit(table, fold_task(table, table["subject_key"].iloc[0], val_subjects=0))
    # lr ~ 0: one step leaves the loaded weights; the classifier's last layer is freshly initialised
    loaded = fitted.model.state_dict()
    assert all(torch.allclose(loaded[k], state[k], atol=1e-6) for k in loaded if k.startswith("stem."))
    assert not torch.allclose(fitted.model.head.fc2.weight, state["head.fc2.weight"])


@pytest.mark.parametrize("path", sorted(__import__("pathlib").Path(__file__).parents[2].joinpath("configs", "mol")
                                        .glob("*.toml")), ids=lambda p: p.stem)
def test_ready_configs_load_and_build(path):
    from merkit.experiments.config import load_config
    from merkit.models.mol import MOL

    cfg = load_config(path)
    assert cfg.model.name == "mol" and not cfg.protocol.select_on_test
    method = create_method(cfg, progress=False)
    assert method.name == "multitask_clips" and cfg.train.steps > 0  # a fixed step count, as the code
    arch = dict(method.arch)
    heads = {"flow_head": arch.pop("flow_head"), "landmark_head": arch.pop("landmark_head")}
    assert heads == {"flow_head": method.options.lambda_of > 0, "landmark_head": method.options.lambda_ldm > 0}
    with torch.device("meta"):  # the auxiliary heads are fixed-size; their construction is tested elsewhere
        model = MOL(**arch)
    assert model.num_frames == arch.get("num_frames", 8) and model.img_size == method.options.crop_size


def test_flow_pairs_is_an_unbiased_cheaper_flow_loss():
    # with one random pair per clip, the flow loss averaged over every pair choice is the full loss
    from merkit.models import create_model
    from merkit.training.methods.clip_training import random_pairs

    torch.manual_seed(0)
    model = create_model("mol", num_frames=4, img_size=64, flow_head=True).eval()
    x, labels = torch.rand(2, 4, 64, 64), torch.tensor([0, 1])
    targets = torch.randn(2, 3, 2, 64, 64)
    with torch.no_grad():
        _, full = mol_loss(model.forward_joint(x), labels, targets, None, 1.0, 0.0)
        singles = [mol_loss(model.forward_joint(x, flow_pairs=torch.full((2, 1), p)), labels, targets, None, 1.0,
                            0.0)[1]["flow"] for p in range(3)]
    assert np.mean(singles) == pytest.approx(full["flow"], rel=1e-5)
    assert len(set(np.round(singles, 6))) == 3  # each choice is a different pair, not a copy
    pairs = random_pairs(np.random.default_rng(0), 500, 7, 2)
    assert pairs.shape == (500, 2) and (pairs[:, 0] < pairs[:, 1]).all() and set(pairs.ravel()) == set(range(7))
    with pytest.raises(ConfigError, match="flow_pairs must be >= 0"):
        MultitaskClipsOptions(flow_pairs=-1)
    with pytest.raises(ConfigError, match="has 7 pairs"):
        arch_options({}, MultitaskClipsOptions(flow_pairs=8))


def test_training_with_flow_pairs_runs_and_draws_other_pairs_than_the_full_loss():
    table = mol_table()
    task = fold_task(table, table["subject_key"].iloc[0], val_subjects=0)
    full = tiny_multitask_clips(table, 2, {"lambda_ldm": 0.0}).fit(table, task)
    one = tiny_multitask_clips(table, 2, {"lambda_ldm": 0.0, "flow_pairs": 1}).fit(table, task)
    again = tiny_multitask_clips(table, 2, {"lambda_ldm": 0.0, "flow_pairs": 1}).fit(table, task)
    weights = [dict(f.model.named_parameters())["head.fc2.weight"].detach() for f in (full, one, again)]
    assert torch.equal(weights[1], weights[2]) and not torch.equal(weights[0], weights[1])
