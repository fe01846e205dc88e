"""Spotting: peak picking, scale merging, the face track and both score methods on SynthME long videos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError, FaceNotFoundError, ShapeError
from merkit.evaluation.spotting import Interval, evaluate_spotting
from merkit.motion.spotting import SpotConfig, SpottedInterval, find_peaks, peak_intervals, spot_frames
from merkit.motion.spotting.spot import combine_scales
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


def test_find_peaks_relative_and_noise_thresholds():
    rng = np.random.default_rng(0)
    curve = 1.0 + 0.05 * rng.standard_normal(300)
    curve[50], curve[150], curve[250] = 3.0, 9.0, 1.6
    peaks, level = find_peaks(curve, 0.5, 5, "relative")
    assert list(peaks) == [150] and level == pytest.approx(curve.mean() + 0.5 * (9.0 - curve.mean()))
    peaks, _ = find_peaks(curve, 5.0, 5, "noise")
    assert list(peaks) == [50, 150, 250]  # 1.6 is 12 noise levels up; the big peak does not hide it
    with pytest.raises(ConfigError, match="threshold must be one of"):
        find_peaks(curve, 0.5, 5, "otsu")


def test_peak_intervals_fixed_extent_and_type_by_duration():
    curve = np.zeros(200)
    curve[40:47] = [1, 2, 4, 8, 4, 2, 1]
    curve[120] = 5.0
    curve[:5] = np.nan
    micro = peak_intervals(curve, 6, 30.0, p=0.3, threshold="relative")
    assert [(i.onset, i.apex, i.offset, i.kind) for i in micro] == [(37, 43, 49, "micro"), (114, 120, 126, "micro")]
    macro = peak_intervals(curve, 18, 30.0, p=0.3, threshold="relative")
    assert [(i.apex, i.offset - i.onset + 1, i.kind) for i in macro] == [(43, 37, "macro"), (120, 37, "macro")]


def test_combine_scales_rise_and_fall_become_one_macro():
    def iv(on, apex, off, kind, s=10.0):
        return SpottedInterval(on, apex, off, 1.0, s, kind)

    micro = [iv(94, 100, 106, "micro"), iv(124, 130, 136, "micro"), iv(294, 300, 306, "micro")]
    macro = [iv(97, 115, 133, "macro"), iv(282, 300, 318, "macro"), iv(482, 500, 518, "macro")]
    got = [(i.apex, i.kind) for i in sorted(combine_scales(micro, macro), key=lambda i: i.apex)]
    # two micro apexes inside -> the macro; one inside -> the micro; none -> the macro alone
    assert got == [(115, "macro"), (300, "micro"), (500, "macro")]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=300, n_micro=2, n_macro=1, n_blinks=1, n_head_moves=1)
    m = generate_long_videos(tmp_path_factory.mktemp("spot") / "out", cfg, seed=5)
    folder = m.root / "rawpic" / "s15" / "15_0101disgustingteeth"
    frames = [cv2.imread(str(folder / f"img{n}.jpg"), cv2.IMREAD_GRAYSCALE) for n in range(1, 301)]
    return m, folder, frames


def _truth(m):
    return [Interval("v", e["onset"] - 1, e["offset"] - 1, e["kind"]) for e in m.intervals()]


def test_flow_roi_finds_the_expressions_not_the_nuisances(video):
    m, _, frames = video
    result = spot_frames(frames, 30.0, SpotConfig(method="flow_roi"))
    assert result.track.present.all() and result.track.detected.sum() >= 20  # re-detected every 0.5 s
    report = evaluate_spotting([Interval("v", i.onset, i.offset, i.kind) for i in result.intervals], _truth(m))
    assert report.per_kind["macro"].tp == 1 and report.overall.tp >= 2 and report.overall.f1 >= 0.5
    head = next(e for e in m.events if e["kind"] == "head")
    # the head moved several pixels and stayed: the two-sided score stays low there
    curve = result.curves["micro"]
    assert np.nanmax(curve[head["onset"] - 1:head["offset"]]) < 0.5 * np.nanmax(curve)


def test_face_track_follows_the_moving_head(video):
    from merkit.face import track_face

    m, _, frames = video
    truth = np.load(m.out_dir / "_groundtruth/s15/15_0101disgustingteeth/landmarks.npy")
    track = track_face(frames, 15)
    centre_error = np.linalg.norm(track.landmarks.mean(1) - truth.mean(1), axis=1)
    frame0_error = np.linalg.norm(track.landmarks[0].mean(0) - truth.mean(1), axis=1)
    assert frame0_error.max() > 4.0        # the head really moves: a frame-0 crop would drift off
    assert centre_error.max() < 3.0        # the re-detected track stays on it in every frame
    assert track.present.all() and track.no_face_stretches() == []
    assert np.isfinite(track.confidence).all() and (track.confidence > 0).all()  # dlib HOG scores


def test_max_fps_analyses_every_second_frame_and_maps_back(video):
    m, _, frames = video
    full = spot_frames(frames, 30.0, SpotConfig())
    ticks = []
    half = spot_frames(frames, 30.0, SpotConfig(max_fps=15), progress=lambda c, t, n: ticks.append((c, t, n)))
    assert len(ticks) == (150 - 6) + (150 - 18) and ticks[0] == ("micro", 6, 300)  # half the frames scored
    assert half.extra["step"] == 2 and half.n_frames == 300 and len(half.curves["micro"]) == 300
    assert half.ks == {"micro": 6, "macro": 18}  # k = 3 and 9 at 15 fps, in original frames
    report = evaluate_spotting([Interval("v", i.onset, i.offset, i.kind) for i in half.intervals], _truth(m))
    assert report.per_kind["macro"].tp == 1 and report.overall.tp >= 1
    assert full.extra == {} and len(full.intervals) >= 1


def test_lbp_diff_scores_the_macro_apex_above_rest(video):
    m, _, frames = video
    result = spot_frames(frames, 30.0, SpotConfig(method="lbp_diff", scales=("macro",)))
    macro = next(e for e in m.events if e["kind"] == "macro")
    curve = result.curves["macro"]
    assert np.nanmax(curve[macro["onset"] - 1:macro["offset"]]) > 3 * np.nanmedian(curve)


def test_no_face_stretch_is_reported_and_not_scored(video):
    _, _, frames = video
    blanked = [np.full_like(f, 128) if 100 <= i < 170 else f for i, f in enumerate(frames)]
    result = spot_frames(blanked, 30.0, SpotConfig(scales=("micro",)))
    ((first, last),) = result.track.no_face_stretches()
    assert 90 <= first <= 100 and 169 <= last <= 180   # detections every 15 frames bound it
    assert np.isnan(result.curves["micro"][first:last + 1]).all()
    assert not any(first <= i.apex <= last for i in result.intervals)
    table = result.per_frame()
    assert not table["face_present"][100:170].any() and table["face_confidence"][100:170].isna().all()


def test_spot_video_reads_through_a_bounded_window(video):
    from merkit.data.frames import ArrayFrames
    from merkit.motion.spotting import WindowFrames, spot_video

    _, folder, frames = video
    lazy = WindowFrames(ArrayFrames(np.stack(frames), color="gray"), 300, 1.0, window=14)
    for t in range(6, 294):
        for i in (t - 6, t, t + 6):
            assert lazy[i] is not None
        assert len(lazy.cache) <= 14
    assert np.array_equal(lazy[3], frames[3]) and np.array_equal(lazy[250], frames[250])  # going back re-reads
    config = SpotConfig(scales=("micro",))
    ticks = []
    direct = spot_frames(frames, 30.0, config, progress=lambda curve, t, n: ticks.append((curve, t, n)))
    assert ticks[0] == ("micro", 6, 300) and len(ticks) == 300 - 12  # one call per scored position
    streamed = spot_video(folder, config, fps=30)
    assert ([(i.onset, i.offset, i.kind) for i in streamed.intervals]
            == [(i.onset, i.offset, i.kind) for i in direct.intervals])
    half = spot_video(folder, config, fps=30, max_side=120)  # frames halved: still finds the face
    assert half.extra["scale"] == 0.5 and half.track.present.all()


def test_short_video_and_no_face_are_clear_errors(video):
    _, _, frames = video
    with pytest.raises(ShapeError, match=r"has 8 frames; spotting at 30 fps needs at least 13"):
        spot_frames(frames[:8], 30.0)
    noise = [np.random.default_rng(i).integers(0, 255, (120, 160), dtype=np.uint8) for i in range(40)]
    with pytest.raises(FaceNotFoundError, match="no face found in the whole video"):
        spot_frames(noise, 30.0, name="noise.mp4")


def test_spot_cli_writes_megc_csv_per_frame_csv_and_plot(video, tmp_path, capsys):
    from merkit.cli import main

    _, folder, _ = video
    out = tmp_path / "spot"
    assert main(["spot", str(folder), "--fps", "30", "--out", str(out), "--vid", "v1"]) == 0
    megc = (out / "v1_megc.csv").read_text().splitlines()
    assert megc[0] == "vid,pred_onset,pred_offset,type" and len(megc) >= 3
    assert all(line.startswith("v1,") and line.split(",")[3] in ("micro", "macro") for line in megc[1:])
    frames = (out / "v1_frames.csv").read_text().splitlines()
    assert frames[0].startswith("frame,name,face_present") and len(frames) == 301
    assert (out / "v1_score.png").read_bytes()[:4] == b"\x89PNG"
    video_file = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video_file), cv2.VideoWriter_fourcc(*"MJPG"), 30, (240, 180))
    for frame in video[2]:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    assert main(["spot", str(video_file), "--out", str(out)]) == 0  # the file's own 30 fps
    assert len((out / "clip_frames.csv").read_text().splitlines()) == 301
    assert "clip: 300 frames at 30 fps" in capsys.readouterr().out
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert main(["spot", str(bad), "--out", str(out)]) == 1
    assert "unsupported file type '.txt'" in capsys.readouterr().err
    assert main(["spot", str(folder), "--out", str(out)]) == 1  # a frame folder has no frame rate
    assert "pass fps=" in capsys.readouterr().err
