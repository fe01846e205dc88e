"""SynthME long-video presets: the ``realistic`` nuisances, measured on the files written.

Videos are 10 s at 30 fps on the ``small`` camera (240x180), so the whole file runs in seconds.
"""

from __future__ import annotations

import csv
import hashlib
import json

import av
import cv2
import numpy as np
import pytest

from merkit.data.longvideo import load_long_videos
from merkit.errors import ConfigError, UnknownNameError
from merkit.synth import LONG_PRESETS, LongVideoConfig, get_long_preset, list_long_presets
from merkit.synth.config import get_preset
from merkit.synth.generate import _encode
from merkit.synth.long_config import with_overrides
from merkit.synth.longvideo import generate_long_videos

REAL = get_long_preset("realistic")
SHAPE = dict(n_subjects=1, n_frames=300, n_micro=3, n_macro=1, n_blinks=2, n_head_moves=1)
VIDEO = "s15/15_0101disgustingteeth"


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _pose(out, video=VIDEO):
    rows = _rows(out / "_groundtruth" / video / "head_pose.csv")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def _frames(root, video=VIDEO, pattern="img{}.jpg", n=300, flags=cv2.IMREAD_GRAYSCALE):
    folder = root / "rawpic" / video
    return np.stack([cv2.imread(str(folder / pattern.format(k)), flags) for k in range(1, n + 1)]).astype(np.float64)


def _hashes(out):
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return generate_long_videos(tmp_path_factory.mktemp("real") / "out", with_overrides(REAL, **SHAPE), seed=5)


@pytest.fixture(scope="module")
def uncoded(tmp_path_factory):
    """The same video filmed without the H.264 stream: the same render, straight to JPEG."""
    cfg = with_overrides(REAL, **SHAPE, video_codec=None)
    return generate_long_videos(tmp_path_factory.mktemp("uncoded") / "out", cfg, seed=5)


def test_registry_and_preset_parameters():
    assert list_long_presets() == ["clean", "realistic"] == sorted(LONG_PRESETS)
    assert get_long_preset("clean") == LongVideoConfig()
    with pytest.raises(UnknownNameError, match="realistic"):
        get_long_preset("realistc")
    # The documented ranges of the preset (docs/synthme.md, "Long-video presets").
    assert REAL.micro_peak_px == (0.3, 1.5) and REAL.video_codec == "h264"
    assert round(REAL.micro_duration_s[0] * 30) == 8 and round(REAL.micro_duration_s[1] * 30) == 15
    assert REAL.head_sway_px > 0 and REAL.n_head_moves > 0 and REAL.blink_near_micro > 0
    assert REAL.noise_sigma > get_preset("small").sources["casme2"].camera.noise_sigma
    cfg = with_overrides(REAL, micro_peak_px=[0.5, 1], video_codec=None)
    assert cfg.micro_peak_px == (0.5, 1) and cfg.flicker == REAL.flicker
    for bad, match in [({"video_codec": "vp9"}, "video_codec"), ({"flicker": 0.7}, "flicker"),
                       ({"blink_near_micro": 1.5}, "blink_near_micro"), ({"micro_peak_px": (2, 1)}, "micro_peak_px"),
                       ({"video_preset": "quick"}, "libx264 preset")]:
        with pytest.raises((ConfigError, UnknownNameError), match=match):
            with_overrides(REAL, **bad)


def test_micro_expressions_small_and_short_and_blinks_next_to_them(real):
    events = list(real.events)
    micro = [e for e in events if e["kind"] == "micro"]
    assert all(0.3 <= e["peak_px"] <= 1.5 for e in micro)
    assert all(8 <= e["offset"] - e["onset"] + 1 <= 15 for e in micro)
    # The micro-expression really moves the face's landmarks by about its peak, and no more.
    lms = np.load(real.out_dir / "_groundtruth" / VIDEO / "landmarks.npy")
    pose = _pose(real.out_dir)
    for e in micro:
        moved = _unposed(lms, pose, e["apex"]) - _unposed(lms, pose, e["onset"])
        assert 0.15 * e["peak_px"] < np.linalg.norm(moved, axis=1).max() <= e["peak_px"] + 1e-3
    # round(0.5 * 2) blinks sit 0.1-0.5 s before or after a micro-expression, never inside it.
    blinks = [e for e in events if e["kind"] == "blink"]
    gaps = [min(max(m["onset"] - b["offset"], b["onset"] - m["offset"]) for m in micro) for b in blinks]
    assert all(g >= 1 for g in gaps)
    near = [g for g in gaps if g <= round(REAL.blink_micro_gap_s[1] * 30)]
    assert len(near) == 1 and round(REAL.blink_micro_gap_s[0] * 30) <= near[0]
    # A blink closes the lids: the eye region changes at its apex far more than sensor noise does.
    frames = _frames(real.root)
    for b in blinks:
        eyes = lms[b["onset"] - 1, 36:48]
        (x0, y0), (x1, y1) = eyes.min(0).astype(int) - 3, eyes.max(0).astype(int) + 4
        change = np.abs(frames[b["apex"] - 1, y0:y1, x0:x1] - frames[b["onset"] - 1, y0:y1, x0:x1]).mean()
        still = np.abs(frames[b["onset"] - 1, y0:y1, x0:x1] - frames[b["onset"] - 2, y0:y1, x0:x1]).mean()
        assert change > 2 * still


def _unposed(lms, pose, frame):
    """Landmarks of ``frame`` (1-based) mapped back to frame 1's head pose."""
    t = frame - 1
    a = np.deg2rad(pose["roll_deg"][t])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.array([pose["centre_x_px"][t], pose["centre_y_px"][t]])
    p = lms[t] - c - [pose["shift_x_px"][t], pose["shift_y_px"][t]]
    return p @ rot + c  # rot.T applied to row vectors


def test_head_drift_and_roll_match_parameters_landmarks_and_pixels(real):
    pose = _pose(real.out_dir)
    minutes = 299 / 30 / 60
    drift = np.stack([pose["drift_x_px"], pose["drift_y_px"]], 1)
    speed = np.linalg.norm(np.diff(drift, axis=0), axis=1).sum() / minutes
    assert REAL.head_drift_px_per_min[0] * 0.99 <= speed <= REAL.head_drift_px_per_min[1] * 1.01
    assert np.linalg.norm(drift[-1]) / minutes >= 0.98 * speed  # nearly straight over 10 s
    rate = abs(pose["drift_roll_deg"][-1]) / minutes
    assert REAL.head_roll_deg_per_min[0] * 0.98 <= rate <= REAL.head_roll_deg_per_min[1] * 1.01
    # The pose is the one the landmarks follow: away from the expressions the landmarks are frame 1's, posed.
    lms = np.load(real.out_dir / "_groundtruth" / VIDEO / "landmarks.npy")
    busy = {f for e in real.events if e["kind"] != "head" for f in range(e["onset"], e["offset"] + 1)}
    quiet = [f for f in range(1, 301) if f not in busy]
    errors = [np.abs(_unposed(lms, pose, f) - lms[0]).max() for f in quiet]
    assert max(errors) < 1e-3
    # And the pixels: the face in the last frame is shifted from the first by the pose's shift.
    frames = _frames(real.root)
    x0, y0 = lms[0].min(0).astype(int)
    x1, y1 = lms[0].max(0).astype(int)
    crop = (slice(y0, y1), slice(x0, x1))
    window = cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_64F)
    (dx, dy), _ = cv2.phaseCorrelate(frames[0][crop], frames[-1][crop], window)
    expected = np.array([pose["shift_x_px"][-1], pose["shift_y_px"][-1]])
    assert np.linalg.norm(expected) > 1.0
    assert np.linalg.norm(np.array([dx, dy]) - expected) < 0.6


def test_flicker_shows_at_the_mains_beat(real, uncoded, tmp_path):
    clean = generate_long_videos(tmp_path, with_overrides(get_long_preset("clean"), **SHAPE), seed=5)

    def spectrum(root):
        frames = _frames(root, flags=cv2.IMREAD_COLOR)
        level = frames[:, 5:40, 5:40].mean(axis=(1, 2, 3))  # the static wall, top left
        rel = level / cv2.blur(level[:, None], (1, 15), borderType=cv2.BORDER_REFLECT)[:, 0] - 1
        return np.fft.rfftfreq(len(rel), 1 / 30), np.abs(np.fft.rfft(rel)) * 2 / len(rel), rel

    alias = abs(REAL.flicker_hz - 30 * round(REAL.flicker_hz / 30))
    freq, amp, rel = spectrum(real.root)
    peak = freq[np.argmax(amp[1:]) + 1]
    assert peak == pytest.approx(alias, abs=0.2)
    assert 0.5 * REAL.flicker < amp[np.argmin(np.abs(freq - alias))] < 1.5 * REAL.flicker
    _, clean_amp, clean_rel = spectrum(clean.root)
    assert clean_amp[np.argmin(np.abs(freq - alias))] < 0.2 * REAL.flicker
    assert rel.std() > 3 * clean_rel.std()
    # The measured brightness follows the gain the ground truth lists.
    gain = np.array([float(r["gain"]) for r in _rows(real.out_dir / "_groundtruth" / VIDEO / "illumination.csv")])
    assert np.corrcoef(rel, gain / cv2.blur(gain[:, None], (1, 15), borderType=cv2.BORDER_REFLECT)[:, 0])[0, 1] > 0.9


def test_frames_are_decoded_from_a_lossy_h264_stream(real, uncoded):
    mp4 = real.root / "rawvideo" / f"{VIDEO}.mp4"
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.frames == 300
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    kbps = mp4.stat().st_size * 8 / 10 / 1000
    assert kbps == pytest.approx(REAL.video_bits_per_pixel * 240 * 180 * 30 / 1000, rel=0.35)
    # Each frame file is the layout's JPEG of the decoded frame, byte for byte.
    camera = get_preset(real.config.camera_preset).sources["casme2"].camera
    for k in (1, 150, 300):
        assert (real.root / "rawpic" / VIDEO / f"img{k}.jpg").read_bytes() == _encode(decoded[k - 1], camera)
    # Against the same render without the stream the frames lose detail: PSNR in the documented band.
    a, b = _frames(real.root, flags=cv2.IMREAD_COLOR), _frames(uncoded.root, flags=cv2.IMREAD_COLOR)
    psnr = 10 * np.log10(255**2 / ((a - b) ** 2).mean(axis=(1, 2, 3)))
    assert 30 < psnr.min() and np.median(psnr) < 42


def test_sensor_noise_is_higher_than_the_clean_camera(tmp_path):
    quiet = dict(n_subjects=1, n_frames=40, n_micro=0, n_macro=0, n_blinks=0, n_head_moves=0, video_codec=None,
                 flicker=0.0, flicker_random=0.0)
    sigmas = {}
    for name, noise in (("realistic", {}), ("camera", {"noise_sigma": None, "shot_noise": None})):
        m = generate_long_videos(tmp_path / name, with_overrides(REAL, **quiet, **noise), seed=2)
        frames = _frames(m.root, n=40)
        sigmas[name] = np.diff(frames[:, 5:40, 5:40], axis=0).std() / np.sqrt(2)
    assert sigmas["realistic"] > 1.3 * sigmas["camera"]


def test_loaders_read_the_output(real, tmp_path):
    (video,) = load_long_videos("casme_sq", real.root)
    truth = sorted((e["onset"], e["offset"]) for e in real.intervals())
    assert video.n_frames == 300 and sorted((i.onset, i.offset) for i in video.intervals) == truth
    (from_mp4,) = load_long_videos("casme_sq", real.root, variant="rawvideo")
    assert from_mp4.video_file.endswith(".mp4") and from_mp4.n_frames == 300
    cfg = with_overrides(REAL, layout="samm_lv", fps=30, **{**SHAPE, "n_frames": 240})
    samm = generate_long_videos(tmp_path, cfg, seed=1)
    (video,) = load_long_videos("samm_lv", samm.root, fps=30)
    assert video.n_frames == 240 and len(video.intervals) == 4
    assert cv2.imread(video.frame_paths[0], cv2.IMREAD_UNCHANGED).ndim == 2
    assert (samm.out_dir / "_groundtruth" / "006" / "006_1" / "video.mp4").is_file()


def test_cli_preset_and_overrides_give_the_same_files(real, tmp_path, capsys):
    from merkit.cli import main

    sets = [a for k, v in SHAPE.items() for a in ("--set", f"{k}={v}")]
    assert main(["synth", "--long-videos", "casme_sq", "--long-preset", "realistic", "--seed", "5",
                 "--out", str(tmp_path), *sets]) == 0
    assert "(realistic) seed 5: 1 videos of 300 frames" in capsys.readouterr().out
    # libx264's average-bit-rate control does not always repeat its bytes (long_nuisance docstring): the
    # media files must exist under the same names, everything else must be byte-identical
    media = (".mp4", ".jpg")
    ours, theirs = _hashes(tmp_path), _hashes(real.out_dir)
    assert sorted(ours) == sorted(theirs)
    assert {k: v for k, v in ours.items() if not k.endswith(media)} == \
        {k: v for k, v in theirs.items() if not k.endswith(media)}
    manifest = json.loads((tmp_path / "long_manifest.json").read_text())
    assert manifest["config"]["video_codec"] == "h264"
    assert main(["synth", "--long-preset", "realistic", "--out", str(tmp_path / "x")]) == 1
    assert "add --long-videos" in capsys.readouterr().err
