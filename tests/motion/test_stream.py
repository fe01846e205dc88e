"""StreamingSpotter: the batch curves, the latency bound, bounded memory and online versus whole-file intervals."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError, FaceNotFoundError, ShapeError
from merkit.evaluation.spotting import Interval, evaluate_spotting
from merkit.face import eye_mask, track_face
from merkit.motion.spotting import SpotConfig, StreamingSpotter, peak_intervals, spot_frames, spot_stream
from merkit.motion.spotting.framescore import _eye_mask, _roi_boxes
from merkit.motion.spotting.intervals import noise_level
from merkit.motion.spotting.scores import roi_boxes
from merkit.motion.spotting.stream import _Peaks, _Window
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


def _read(folder, n):
    return [cv2.imread(str(folder / f"img{i}.jpg"), cv2.IMREAD_GRAYSCALE) for i in range(1, n + 1)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=180, n_micro=2, n_macro=1, n_blinks=1, n_head_moves=1)
    m = generate_long_videos(tmp_path_factory.mktemp("stream_clip") / "out", cfg, seed=5)
    return _read(m.root / "rawpic" / "s15" / "15_0101disgustingteeth", 180)


def _run(frames, config, fps=30.0):
    """Push every frame; returns (intervals, push index that returned each, scores by scale, spotter)."""
    scores: dict[str, dict[int, float]] = {}
    spotter = StreamingSpotter(config, fps, on_score=lambda s, t, v: scores.setdefault(s, {}).__setitem__(t, v))
    got, at = [], []
    for i, frame in enumerate(frames):
        out = spotter.push(frame)
        assert [iv.onset for iv in out] == sorted(iv.onset for iv in out)
        got += out
        at += [i] * len(out)
    out = spotter.close()
    return got + out, at + [len(frames)] * len(out), scores, spotter


def _assert_latency(got, at, spotter):
    """The contract: every interval returned by a push() comes at the latest with frame offset + latency_frames."""
    for interval, index in zip(got, at):
        if index < spotter.n_frames:
            assert index <= interval.offset + spotter.latency_frames, (interval, index)


@pytest.mark.parametrize("config", [SpotConfig(), SpotConfig(method="lbp_diff", extent="height")],
                         ids=["flow_roi", "lbp_diff-height"])
def test_stream_scores_equal_the_batch_curves_and_latency_holds(clip, config):
    got, at, scores, spotter = _run(clip, config)
    batch = spot_frames(clip, 30.0, config)
    for scale, curve in batch.curves.items():
        streamed = np.array([scores[scale][t] for t in range(len(clip))])
        assert np.array_equal(np.isnan(streamed), np.isnan(curve))
        np.testing.assert_allclose(streamed, curve, rtol=1e-6, atol=1e-9, equal_nan=True)
    assert got, "the clip's expressions give intervals"
    _assert_latency(got, at, spotter)
    # the bound of the module docstring: (d - 1) + max over scales (delta + c) + 2 R, in frames at 30 fps
    k = {s: config.k(s, 30.0) for s in config.scales}
    d = int(round(config.detect_every_s * 30.0))
    reach = {s: (2 * k[s] if config.extent == "height" else k[s]) for s in k}
    delta = {s: (k[s] if config.method == "flow_roi" else 2 * k[s]) for s in k}
    expected = (d - 1) + max(delta[s] + reach[s] for s in k) + 2 * max(reach.values())
    assert spotter.latency_frames == expected
    assert spotter.max_interval_frames == 2 * max(reach.values()) + 1
    assert all(i.offset - i.onset + 1 <= spotter.max_interval_frames for i in got)
    assert spotter.n_frames == len(clip)


def test_max_fps_stride_maps_back_like_spot_frames(clip):
    config = SpotConfig(max_fps=15.0)
    got, at, _, spotter = _run(clip, config)
    batch = spot_frames(clip, 30.0, config)
    _assert_latency(got, at, spotter)
    assert spotter.latency_frames % 2 == 0
    shared = {(i.onset, i.apex, i.offset) for i in got} & {(i.onset, i.apex, i.offset) for i in batch.intervals}
    assert shared and all(i.apex % 2 == 0 for i in got)


def test_memory_held_does_not_grow_with_the_stream(clip):
    # forward then backward: an endless face video without jumps
    loop = clip[:90] + clip[89::-1]
    config = SpotConfig(noise_window_s=2.0)
    spotter = StreamingSpotter(config, 30.0)
    sizes, oldest = [], []
    tracemalloc.start()
    try:
        for i in range(3 * len(loop)):
            spotter.push(loop[i % len(loop)])
            merger = spotter._merger
            sizes.append(spotter.n_buffered - merger.n_buffered)
            oldest.append(min((iv.offset for lst in merger.known.values() for iv in lst), default=i))
            if i == len(loop) - 1:
                first = tracemalloc.get_traced_memory()[0]
        last = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    n = len(loop)
    # frames, crops and scores held: after 3x the frames exactly as after 1x (same phase of the loop)
    assert sizes[2 * n:] == sizes[:n] or sizes[2 * n:] == sizes[n:2 * n]
    # the merger only keeps intervals of the last few horizons
    horizon = spotter._merger.horizon
    assert all(i - o <= 4 * horizon + spotter.latency_frames for i, o in enumerate(oldest))
    assert last - first < 2_000_000                       # and the heap held is flat (bytes; a frame is 43 kB)
    assert spotter.close() is not None


def test_errors(clip):
    with pytest.raises(ConfigError, match="fps must be a positive"):
        StreamingSpotter(SpotConfig(), 0.0)
    spotter = StreamingSpotter(SpotConfig(), 30.0, name="cam")
    spotter.push(clip[0])
    with pytest.raises(ShapeError, match="cam frame 1: shape"):
        spotter.push(clip[1][:, :100])
    with pytest.raises(ShapeError, match="expected a uint8"):
        spotter.push(clip[1].astype(np.float32))
    spotter.close()
    with pytest.raises(ConfigError, match="is closed"):
        spotter.push(clip[1])
    noise = (np.random.default_rng(i).integers(0, 255, (120, 160), dtype=np.uint8) for i in range(40))
    with pytest.raises(FaceNotFoundError, match="no face"):
        list(spot_stream(noise, SpotConfig(), 30.0, name="noise"))


# -- online versus whole-file on SynthME long videos -------------------------------------------------------

# Tolerance (docs/spotting.md, Streaming): the curves are the same, so the two differ only where the online
# noise level (the scores up to a + c, not the whole curve), the warm-up (no peak in the first warmup_s) or the
# greedy peak chains decide otherwise. Pooled over the videos, at least MATCHED of the streaming intervals and
# of the whole-file intervals whose apex lies after the warm-up are matched by IoU >= 0.5, and the MEGC F1
# against ground truth is within F1_GAP of the whole-file spotter's.
MATCHED, F1_GAP = 0.75, 0.15


@pytest.fixture(scope="module")
def long_videos(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=2, n_frames=600, n_micro=3, n_macro=2, n_blinks=2, n_head_moves=2)
    m = generate_long_videos(tmp_path_factory.mktemp("stream_long") / "out", cfg, seed=11)
    out = []
    for vid in sorted({e["video"] for e in m.intervals()}):
        frames = _read(next((m.root / "rawpic").glob(f"*/{vid}")), 600)
        truth = [Interval(vid, e["onset"] - 1, e["offset"] - 1, e["kind"]) for e in m.intervals() if e["video"] == vid]
        out.append((vid, frames, truth))
    return out


def _iou(a, b):
    inter = min(a.offset, b.offset) - max(a.onset, b.onset) + 1
    return max(0, inter) / (max(a.offset, b.offset) - min(a.onset, b.onset) + 1)


@pytest.mark.slow
def test_online_matches_whole_file_within_the_tolerance(long_videos):
    config = SpotConfig()
    warmup = config.warmup_s * 30.0 + config.k("micro", 30.0)   # the first score is at t = k
    truth, batch_all, stream_all, matched_stream, matched_whole, n_whole = [], [], [], 0, 0, 0
    for vid, frames, video_truth in long_videos:
        got, at, _, spotter = _run(frames, config)
        _assert_latency(got, at, spotter)
        whole = spot_frames(frames, 30.0, config).intervals
        matched_stream += sum(any(_iou(g, w) >= 0.5 for w in whole) for g in got)
        after = [w for w in whole if w.apex >= warmup]
        matched_whole += sum(any(_iou(g, w) >= 0.5 for g in got) for w in after)
        n_whole += len(after)
        truth += video_truth
        batch_all += [Interval(vid, i.onset, i.offset, i.kind) for i in whole]
        stream_all += [Interval(vid, i.onset, i.offset, i.kind) for i in got]
    assert stream_all and matched_stream >= MATCHED * len(stream_all) and matched_whole >= MATCHED * n_whole
    f1_whole = evaluate_spotting(batch_all, truth).overall.f1
    f1_stream = evaluate_spotting(stream_all, truth).overall.f1
    assert f1_whole > 0.5 and abs(f1_stream - f1_whole) <= F1_GAP


def test_windowed_eye_mask_and_roi_boxes_equal_the_whole_crop_forms(clip):
    track = track_face(clip[:30], 15)
    for t in (0, 7, 29):
        for scale in (1.0, 0.6):
            lm = track.landmarks[t] * scale
            assert np.array_equal(_eye_mask(lm, 240), eye_mask(lm, (240, 240), margin=0.4))
            assert _roi_boxes(lm, 240) == list(roi_boxes(lm, (240, 240)).values())


def test_online_window_is_noise_level_and_online_peaks_are_peak_intervals():
    rng = np.random.default_rng(3)
    curve = 1.0 + 0.1 * rng.standard_normal(400)
    curve[:6] = curve[-6:] = np.nan
    for apex, height in ((60, 2.0), (64, 2.5), (200, 1.8), (330, 3.0)):
        curve[apex - 3:apex + 4] += height * np.hanning(9)[1:-1]
    window = _Window(500)
    for v in curve:
        window.push(v)
    count, median, sigma, _, _ = window.stats()
    assert count == 388 and (median, sigma) == noise_level(curve)     # exact, the same rule
    whole = peak_intervals(curve, 6, 30.0, p=5.0, threshold="noise")
    # judged online with the scores seen so far (after a 2 s warm-up): the whole curve's peaks and extents
    peaks = _Peaks(6, 30.0, SpotConfig(), 500, 60)
    got = [i for t, v in enumerate(curve) for i in peaks.push(t, v)] + peaks.close()
    assert [(i.onset, i.apex, i.offset, i.kind) for i in got] == [(i.onset, i.apex, i.offset, i.kind) for i in whole]
    assert len(got) == 3 and not any(abs(i.apex - 60) < 3 for i in got)   # 60 lies within k of the higher one
    # without a warm-up, the first scores alone set the noise level: a spurious early peak
    eager = _Peaks(6, 30.0, SpotConfig(), 500, 0)
    early = [i for t, v in enumerate(curve) for i in eager.push(t, v)] + eager.close()
    assert len(early) > len(got) and early[0].apex < 30


def test_triplet_crops_stream_the_whole_file_curves_and_rgb_frames_are_the_grey_ones(clip):
    config = SpotConfig(crops="triplet", scales=("micro",))
    got, at, scores, spotter = _run(clip, config)
    curve = spot_frames(clip, 30.0, config).curves["micro"]
    streamed = np.array([scores["micro"][t] for t in range(len(clip))])
    np.testing.assert_allclose(streamed, curve, rtol=1e-6, atol=1e-9, equal_nan=True)
    _assert_latency(got, at, spotter)
    rgb = [cv2.cvtColor(f, cv2.COLOR_GRAY2RGB) for f in clip]
    assert list(spot_stream(rgb, config, 30.0)) == got
