"""The learnt spotter: features, targets, threshold choice, exact save/restore, and better than chance on SynthME."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError, ShapeError
from merkit.evaluation.spotting import Interval, evaluate_spotting
from merkit.face.track import FaceTrack, track_face
from merkit.motion.flow import create_flow
from merkit.motion.spotting import SpotConfig, flow_roi_curve
from merkit.motion.spotting.learnt import (
    LabelledVideo,
    LearntSpotConfig,
    choose_threshold,
    fit_spotter,
    head_targets,
    load_spotter,
    megc_counts,
)
from merkit.motion.spotting.learnt_features import (
    REGIONS,
    STATS,
    VideoFeatures,
    extract_features,
    frame_features,
    normalise,
    roi_flow_stats,
)
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos

FPS = 15.0


def test_head_targets_are_the_iou_of_the_centred_window():
    target = head_targets(40, [(10, 14)], 2)
    assert target.argmax() == 12 and target[12] == 1.0            # [10, 14] itself
    assert target[11] == pytest.approx(4 / 6)                       # [9, 13] vs [10, 14]: 4 shared of 6
    assert target[7] == 0 and target[17] == 0                       # [5, 9] and [15, 19] do not overlap
    assert target[8] == pytest.approx(1 / 9)                        # [6, 10]: one shared frame of nine
    wide = head_targets(40, [(10, 14)], 4)                          # a 9-frame window on a 5-frame interval
    assert wide.max() == pytest.approx(5 / 9)


def test_megc_counts_agree_with_the_evaluation_metric():
    rng = np.random.default_rng(3)
    for _ in range(30):
        truth = sorted((int(a), int(a) + int(rng.integers(3, 15))) for a in rng.choice(200, 4, replace=False))
        preds = [(int(a), int(a) + int(rng.integers(3, 15)), float(rng.random())) for a in rng.integers(0, 200, 6)]
        report = evaluate_spotting([Interval("v", a, b, "micro", score=s) for a, b, s in preds],
                                   [Interval("v", a, b, "micro") for a, b in truth])
        assert megc_counts(preds, truth) == (report.overall.tp, report.overall.fp, report.overall.fn)


def test_choose_threshold_takes_the_best_f1_and_the_middle_of_a_plateau():
    curve = np.zeros(100)
    curve[20], curve[60], curve[80] = 0.9, 0.5, 0.3          # two expressions, then a weaker false peak
    truth = [(18, 22), (58, 62)]
    thr, f1 = choose_threshold([curve], [truth], [2], [0.1, 0.2, 0.35, 0.4, 0.45, 0.6], "absolute")
    assert f1 == 1.0 and thr == 0.4                          # 0.35..0.45 keep both and drop 0.3: the middle
    blocked_thr, blocked_f1 = choose_threshold([curve], [truth], [2], [0.2, 0.4], "absolute", blocked=[[(55, 65)]])
    assert blocked_f1 == pytest.approx(2 / 3)                # the blocked expression can no longer be found


def _toy_video(rng: np.random.Generator, n: int, events: list[tuple[int, int, str]], name: str) -> VideoFeatures:
    """Features whose first column rises inside each event (a known signal) plus noise columns."""
    values = rng.normal(0, 1, (n, 6))
    for on, off, kind in events:
        bump = np.hanning(off - on + 3)[1:-1] * (8 if kind == "macro" else 4)
        values[on:off + 1, 0 if kind == "micro" else 1] += bump
    names = [f"micro/c{j}/min_side" for j in range(6)]
    track = FaceTrack(np.zeros((n, 68, 2), np.float32), np.ones(n, bool), np.ones(n, bool), np.ones(n, bool),
                      np.ones(n, np.float32))
    return VideoFeatures(name, 30.0, 1, n, values.astype(np.float32), names, {"micro": 6}, np.ones(n, bool), track)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    out = []
    for s in range(3):
        starts = rng.choice(np.arange(20, 560, 40), 8, replace=False)
        events = [(int(a), int(a) + 9, "micro") for a in starts[:5]] + [(int(a), int(a) + 29, "macro")
                                                                          for a in starts[5:]]
        events = [(a, b, k) for a, b, k in events if b < 600]
        out.append(LabelledVideo(_toy_video(rng, 640, events, f"v{s}"), tuple(events), f"s{s}"))
    return out


@pytest.mark.parametrize("regressor", ["ridge", "mlp"])
def test_fit_save_restore_is_exact(toy, tmp_path, regressor):
    config = LearntSpotConfig(regressor=regressor, hidden_units=8, max_iter=20, seeds=(1,))
    model = fit_spotter(toy[:2], config, seed=1, spot={"crop_size": 128})
    assert set(model.heads) == {"micro", "macro"}
    assert model.heads["micro"].half_s == pytest.approx(10 / 30 / 2)    # half the median interval length
    path = model.save(tmp_path / regressor)
    assert sorted(p.name for p in path.iterdir()) == ["spotter.json", "spotter.npz"]
    with np.load(path / "spotter.npz", allow_pickle=False) as z:        # plain arrays only
        assert all(z[k].dtype != object for k in z.files)
    restored = load_spotter(path)
    assert restored.spot_options == {"crop_size": 128} and restored.config == config
    test = toy[2].features
    for kind, curve in model.curves(test).items():
        assert np.array_equal(curve, restored.curves(test)[kind])
    assert model.spot(test) == restored.spot(test)


def test_mlp_seeds_differ_ridge_does_not(toy):
    curves = {}
    for regressor in ("ridge", "mlp"):
        config = LearntSpotConfig(regressor=regressor, hidden_units=8, max_iter=20, threshold_choice="train")
        a, b = (fit_spotter(toy[:2], config, seed=s).curves(toy[2].features)["micro"] for s in (0, 1))
        curves[regressor] = np.array_equal(a, b)
    assert curves == {"ridge": True, "mlp": False}


def test_learnt_spotter_finds_the_toy_signal(toy):
    model = fit_spotter(toy[:2], LearntSpotConfig(regressor="ridge"), seed=0)
    held = toy[2]
    found = model.spot(held.features)
    report = evaluate_spotting([Interval("v", i.onset, i.offset, i.kind, score=i.strength) for i in found],
                               [Interval("v", a, b, k) for a, b, k in held.intervals])
    assert report.overall.f1 > 0.8


def test_fit_and_load_errors_name_the_problem(toy, tmp_path):
    with pytest.raises(ConfigError, match="at least two training subjects"):
        fit_spotter(toy[:1], LearntSpotConfig())
    with pytest.raises(ConfigError, match="regressor must be one of"):
        LearntSpotConfig(regressor="forest")
    bare = [LabelledVideo(toy[0].features, (), "a"), LabelledVideo(toy[1].features, (), "b")]
    with pytest.raises(ConfigError, match="no annotated micro- or macro-expression"):
        fit_spotter(bare, LearntSpotConfig())
    with pytest.raises(ConfigError, match="holds no learnt spotter"):
        load_spotter(tmp_path)
    model = fit_spotter(toy[:2], LearntSpotConfig(regressor="ridge"))
    other = VideoFeatures("w", 30.0, 1, 10, np.zeros((10, 2), np.float32), ["a", "b"], {"micro": 6},
                          np.ones(10, bool), toy[0].features.track)
    with pytest.raises(ShapeError, match="not the ones this spotter was fitted on"):
        model.spot(other)


def test_normalise_divides_by_the_robust_noise_level():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(5, 2, 4000), rng.uniform(-1, 1, 4000)], 1)
    x[:40, 0] = 100                                           # a few huge frames do not move the scale
    out = normalise(x, ["a/main_mag", "a/cosine"])
    assert abs(np.median(out[:, 0])) < 0.05 and 0.9 < np.median(np.abs(out[:, 0])) / 0.6745 < 1.1
    assert np.array_equal(out[:, 1], x[:, 1])                  # cosines stay as they are


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=120, fps=FPS, n_micro=1, n_macro=1, n_blinks=1, n_head_moves=0)
    m = generate_long_videos(tmp_path_factory.mktemp("learnt") / "out", cfg, seed=2)
    folder = m.root / "rawpic" / "s15" / "15_0101disgustingteeth"
    return [cv2.imread(str(folder / f"img{n}.jpg"), cv2.IMREAD_GRAYSCALE) for n in range(1, 121)]


def test_features_hold_the_flow_roi_curve(clip):
    track = track_face(clip, 8)
    flow = create_flow("dis", preset="fast")
    stats = roi_flow_stats(clip, track, 3, flow, head_motion="affine")
    assert stats.shape == (120, 2, len(REGIONS), len(STATS))
    assert np.isnan(stats[:3]).all() and np.isfinite(stats[3:-3]).all()
    values, names = frame_features({"micro": stats})
    curve = flow_roi_curve(clip, track, 3, flow, head_motion="affine")
    assert np.allclose(values[:, names.index("micro/flow_roi")], curve, equal_nan=True, atol=1e-5)
    features = extract_features(clip, FPS, SpotConfig(scales=("micro",)))
    assert features.names == names and features.values.shape == values.shape and features.valid.sum() == 114
    with pytest.raises(ShapeError, match="features need at least"):
        extract_features(clip[:15], FPS, SpotConfig())  # macro k = 9 needs 19
