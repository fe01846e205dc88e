"""multitask_clips (MOL): clip sampling, targets from the face/motion pipelines, joint loss, fit/predict per video."""

import cv2
import numpy as np
import pytest
import torch

from merkit.cache import FeatureCache
from merkit.data import Sample
from merkit.errors import ConfigError, ShapeError
from merkit.evaluation.protocols import Fold
from merkit.evaluation.runner import FoldTask
from merkit.experiments.config import config_from_dict
from merkit.inputs.config import FeatureConfig
from merkit.training.settings import TrainConfig
from merkit.training.methods import create_method, get_method
from merkit.training.methods.clip_training import clip_batch, mol_loss, predict_videos, train_clips
from merkit.training.methods.multitask_clips import MultitaskClipsOptions, arch_options
from merkit.inputs.clips import MIRROR_68, MOLDataConfig, MOLVideo, MOLVideoSet, clip_offsets, prepare_video
from tests.training.conftest import labelled_table  # noqa: E402

CLASSES = ("negative", "positive", "surprise")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """skimage's astronaut portrait (public domain), 512x512 RGB: a real face for dlib."""
    from skimage import data

    return data.astronaut()


def test_clip_offsets_follow_the_code():
    # 20 frames, T = 8: interval 2 -> clips at offsets 0 and 1
    clips = clip_offsets(20, 8)
    assert clips.tolist() == [list(range(0, 16, 2)), list(range(1, 17, 2))]
    assert clip_offsets(40, 8, max_clips=2).tolist() == [list(range(0, 40, 5)), list(range(4, 44, 5))[:8]]
    assert clip_offsets(5, 8).shape == (1, 8)  # short video: stretched, indices repeat
    assert clip_offsets(5, 8).max() == 4


def test_mirror_68_is_an_involution_that_swaps_eyes():
    m = np.array(MIRROR_68)
    assert sorted(m.tolist()) == list(range(68)) and (m[m] == np.arange(68)).all()
    assert m[36] == 45 and m[48] == 54 and m[30] == 30 and m[0] == 16


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


def _video(key, label_idx, rng, size=72, n_frames=8, t=4):
    """A video whose class is a bright square's row and motion direction, with exact flow targets."""
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


def _video_set(table, seed=0, t=4):
    rng = np.random.default_rng(seed)
    videos = [_video(k, CLASSES.index(lab), rng, t=t) for k, lab in zip(table["sample_key"], table["label"])]
    return MOLVideoSet(videos, MOLDataConfig(num_frames=t, align_size=72, crop_size=64))


def test_clip_batch_crops_and_flips_consistently():
    rng = np.random.default_rng(0)
    video = _video("v", 0, rng)
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


SMALL = {"align_size": 72, "crop_size": 64, "max_clips": 2}


def _table():
    table = labelled_table(n_subjects=2, clips=4)
    return table[table["label"].isin(CLASSES)].reset_index(drop=True)


def _method(table, steps, options=None, **train):
    """The registered method on the synthetic videos of ``table`` (4-frame clips)."""
    settings = {"lr": 1e-3, "batch_size": 4, "progress": False, "threads": 1, "weight_decay": 1e-3, "steps": steps,
                **train}
    options = MultitaskClipsOptions(**{**SMALL, **(options or {})})
    method = get_method("multitask_clips")("mol", {"num_frames": 4}, options, TrainConfig(**settings), FeatureConfig())
    method.inputs = _video_set(table)
    return method


def _loso_task(table, select_on_test=False):
    subjects = table["subject_key"].to_numpy()
    test = np.flatnonzero(subjects == subjects[0])
    rest = np.flatnonzero(subjects != subjects[0])
    return FoldTask(Fold("f", rest, test), 0, rest, np.array([], dtype=np.int64), CLASSES, select_on_test)


def test_fit_predict_one_row_per_video_and_never_reads_test_labels():
    table = _table()
    task = _loso_task(table)
    probs = _method(table, 15, {"lambda_of": 0.0}).fit_predict(table, task)
    assert probs.shape == (len(task.fold.test_idx), 3) and np.allclose(probs.sum(1), 1)
    # the test rows' labels are not used: scrambling them gives the same predictions
    scrambled = table.copy()
    test = task.fold.test_idx
    scrambled.loc[test, "label"] = np.roll(scrambled.loc[test, "label"].to_numpy(), 1)
    assert np.allclose(_method(table, 15, {"lambda_of": 0.0}).fit_predict(scrambled, task), probs)


def test_fitted_model_restores_from_its_arrays_and_info():
    table = _table()
    task = _loso_task(table)
    method = _method(table, 3, {"lambda_of": 0.0, "aggregate": "mean_logit"})
    fitted = method.fit(table, task)
    assert fitted.model.flow_head is None and fitted.model.landmark_head is None  # training-only heads dropped
    videos = method.inputs.take(table["sample_key"].to_numpy()[task.fold.test_idx])
    arrays = fitted.state_arrays()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in arrays.values())
    assert not any(k.startswith(("model.flow_head.", "model.landmark_head.")) for k in arrays)
    restored = method.restore(arrays, {**fitted.state_info(), "classes": list(task.classes)})
    np.testing.assert_allclose(restored.predict_proba(videos), fitted.predict_proba(videos), atol=1e-6)
    assert restored.classes == CLASSES and fitted.predict_proba([]).shape == (0, 3)


def test_early_stopping_checks_validation_videos_every_eval_every_steps():
    table = _table()
    subjects = table["subject_key"].to_numpy()
    test = np.flatnonzero(subjects == subjects[0])
    rest = np.flatnonzero(subjects != subjects[0])
    val, fit = rest[::3], np.setdiff1d(rest, rest[::3])  # validation videos of the training subject only
    task = FoldTask(Fold("f", rest, test), 0, fit, val, CLASSES)
    method = _method(table, 6, {"lambda_of": 0.0}, schedule="early_stopping", eval_every=2, patience=5,
                     imbalance="balanced_sampler")
    probs = method.fit_predict(table, task)
    history = method.histories[-1][2]
    assert len(history.val_score) == 3 and history.best_step in (2, 4, 6) and len(history.step_loss) == 6
    scrambled = table.copy()
    scrambled.loc[test, "label"] = np.roll(scrambled.loc[test, "label"].to_numpy(), 1)
    again = _method(table, 6, {"lambda_of": 0.0}, schedule="early_stopping", eval_every=2, patience=5,
                    imbalance="balanced_sampler")
    assert np.allclose(again.fit_predict(scrambled, task), probs)


def _fit(options, steps, batch, seed=0, num_frames=4, on_step=None):
    from merkit.models import create_model

    table = _table()
    videos = _video_set(table, t=num_frames).take(table["sample_key"])
    labels = np.array([CLASSES.index(lab) for lab in table["label"]])
    opts = MultitaskClipsOptions(**{**SMALL, **options})
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

    table = _table()
    monkeypatch.setattr(clip_training, "prepare_videos", lambda *args, **kwargs: _video_set(table))
    options = MultitaskClipsOptions(**SMALL, lambda_of=0.0)
    train = TrainConfig(lr=1e-3, batch_size=4, progress=False, threads=1, steps=2)
    out = tmp_path / "mol_pretrained.pt"
    history = clip_training.pretrain_mol(table, CLASSES, {"num_frames": 4}, options, train, str(out), seed=0)
    assert len(history.step_loss) == 2 and out.exists()
    state = torch.load(out, weights_only=True)
    assert any(k.startswith("landmark_head.") for k in state)  # the whole MOL, auxiliary head included
    method = _method(table, 1, {"lambda_of": 0.0, "pretrained": str(out)}, lr=1e-12)
    fitted = method.fit(table, _loso_task(table))
    # lr ~ 0: one step leaves the loaded weights; the classifier's last layer is freshly initialised
    loaded = fitted.model.state_dict()
    assert all(torch.allclose(loaded[k], state[k], atol=1e-6) for k in loaded if k.startswith("stem."))
    assert not torch.allclose(fitted.model.head.fc2.weight, state["head.fc2.weight"])


def test_prepare_video_uses_face_and_flow_pipelines(tmp_path, astronaut):
    # 8 frames of a real face photo translated right by 1 px per frame
    rgb = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    paths = []
    for i in range(8):
        m = np.float32([[1, 0, i], [0, 1, 0]])
        frame = cv2.warpAffine(rgb, m, (256, 256), borderMode=cv2.BORDER_REFLECT)
        paths.append(tmp_path / f"img{i}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    sample = Sample("casme2", "sub01", "EP01", [str(p) for p in paths], list(range(1, 9)), 1, 4, 8, 200.0,
                    emotion="happiness")
    cfg = MOLDataConfig(num_frames=4, align_size=64, crop_size=64, flow="dis")
    cache = FeatureCache(tmp_path / "cache")
    video = prepare_video(sample, cfg, cache)
    assert video.frames.shape == (8, 64, 64) and video.frames.dtype == np.uint8
    assert video.landmarks.shape == (8, 68, 2) and video.clips.tolist() == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert video.flows.shape == (2, 3, 2, 64, 64)
    scale = np.hypot(*video.matrix[:, 0])  # crop pixels per source pixel
    u = video.flows[:, :, 0, 16:48, 16:48].astype(np.float32)
    assert abs(float(np.median(u)) - 2 * scale) < 0.35  # 2 source px per clip step, in crop pixels
    assert np.median(np.diff(video.landmarks[:, 30, 0])) == pytest.approx(scale, abs=0.35)  # nose tip follows
    again = prepare_video(sample, cfg, cache)  # served from the cache
    assert np.array_equal(again.flows, video.flows) and np.array_equal(again.frames, video.frames)


def test_onset_apex_clips_are_the_onset_and_the_apex(tmp_path, astronaut):
    # 8 frames of a real face photo translated right by 1 px per frame; onset = frame 2, apex = frame 6
    rgb = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    paths = []
    for i in range(8):
        frame = cv2.warpAffine(rgb, np.float32([[1, 0, i], [0, 1, 0]]), (256, 256), borderMode=cv2.BORDER_REFLECT)
        paths.append(tmp_path / f"img{i}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    sample = Sample("casme2", "sub01", "EP01", [str(p) for p in paths], list(range(1, 9)), 3, 7, 8, 200.0,
                    emotion="happiness")
    cache = FeatureCache(tmp_path / "cache")
    pair = prepare_video(sample, MOLDataConfig(num_frames=2, align_size=64, crop_size=64, flow="dis",
                                               frames="onset_apex", max_clips=3), cache)
    assert len(pair.frames) == 5 and pair.clips.tolist() == [[0, 4]]  # frames 3..7; max_clips does not apply
    assert (pair.onset_index, pair.apex_index) == (0, 4)
    scale = np.hypot(*pair.matrix[:, 0])
    u = pair.flows[0, 0, 0, 16:48, 16:48].astype(np.float32)
    assert abs(float(np.median(u)) - 4 * scale) < 0.5  # onset -> apex: 4 source px
    three = prepare_video(sample, MOLDataConfig(num_frames=3, align_size=64, crop_size=64, flow="dis",
                                                frames="onset_apex"), cache)
    assert three.clips.tolist() == [[0, 2, 4]]
    with pytest.raises(ConfigError, match="onset_apex"):
        MOLDataConfig(frames="apex")


@pytest.mark.parametrize("path", sorted(__import__("pathlib").Path(__file__).parents[2].joinpath("configs", "mol")
                                        .glob("*.toml")), ids=lambda p: p.stem)
def test_ready_configs_load_and_build(path):
    from merkit.models.mol import MOL
    from merkit.experiments.config import load_config

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
    table = _table()
    task = _loso_task(table)
    full = _method(table, 2, {"lambda_ldm": 0.0}).fit(table, task)
    one = _method(table, 2, {"lambda_ldm": 0.0, "flow_pairs": 1}).fit(table, task)
    again = _method(table, 2, {"lambda_ldm": 0.0, "flow_pairs": 1}).fit(table, task)
    weights = [dict(f.model.named_parameters())["head.fc2.weight"].detach() for f in (full, one, again)]
    assert torch.equal(weights[1], weights[2]) and not torch.equal(weights[0], weights[1])
