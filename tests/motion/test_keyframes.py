"""Key-frame selection and the motion-peak apex estimate."""

import re
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError, FrameReadError, ShapeError
from merkit.motion.keyframes import (
    APEX_MEASURES,
    MotionPeakApex,
    consecutive_pairs,
    estimate_apex_index,
    motion_curve,
    uniform_indices,
)
from merkit.motion.warp import smooth_random_flow, warp_backward


def test_uniform_indices():
    assert uniform_indices(3, 13, 6).tolist() == [3, 5, 7, 9, 11, 13]
    assert uniform_indices(0, 2, 5).tolist() == [0, 0, 1, 2, 2]  # stretched, not padded
    assert uniform_indices(4, 9, 1).tolist() == [4]
    assert uniform_indices(5, 5, 3).tolist() == [5, 5, 5]
    with pytest.raises(ConfigError, match=re.escape("k must be >= 1 frames; got 0")):
        uniform_indices(0, 5, 0)
    with pytest.raises(ConfigError, match=re.escape("stop (2) must be >= start (5)")):
        uniform_indices(5, 2, 3)


def test_consecutive_pairs():
    assert consecutive_pairs([0, 3, 7]) == [(0, 3), (3, 7)]
    assert consecutive_pairs(np.array([2])) == []


def make_clip(photo, n_frames=15, apex=9, drift=0.0, seed=0):
    """A clip whose local deformation rises to a peak at ``apex`` and falls back, plus a linear head drift."""
    bump = smooth_random_flow(*photo.shape, max_displacement=2.5, n_bumps=3, seed=seed)
    frames = []
    for t in range(n_frames):
        w = t / apex if t <= apex else max(0.0, 1 - (t - apex) / (n_frames - apex))
        d = w * bump + np.float32([drift * t, 0.5 * drift * t])
        frames.append(warp_backward(photo, d.astype(np.float32)))
    return frames


@pytest.mark.parametrize("measure", APEX_MEASURES)
def test_apex_is_the_motion_peak(measure, photo_gray):
    frames = make_clip(photo_gray, apex=9)
    curve = motion_curve(frames, measure=measure)
    assert curve.shape == (15,) and curve[0] == 0
    assert abs(estimate_apex_index(frames, measure=measure) - 9) <= 1


def test_strain_ignores_head_drift_that_misleads_magnitude(photo_gray):
    # the head keeps drifting after the apex: magnitude peaks at the end, strain at the expression
    frames = make_clip(photo_gray, apex=6, drift=0.35, seed=2)
    assert abs(estimate_apex_index(frames, measure="strain") - 6) <= 1
    assert estimate_apex_index(frames, measure="magnitude") >= 12


def test_policy_reads_paths_and_returns_a_frame_number(tmp_path, photo_gray):
    frames = make_clip(photo_gray, apex=5, n_frames=11)
    paths = []
    for i, f in enumerate(frames):
        p = tmp_path / f"img{100 + i}.jpg"
        cv2.imwrite(str(p), np.repeat(f[..., None], 3, axis=2))
        paths.append(str(p))
    ctx = SimpleNamespace(sample_key="x/s/c", onset=100, offset=110, frame_numbers=tuple(range(100, 111)),
                          frame_paths=tuple(paths), fps=200.0)
    apex = MotionPeakApex()(ctx)
    assert apex in ctx.frame_numbers and abs(apex - 105) <= 1


def test_single_frame_clip_and_errors(tmp_path, photo_gray):
    assert estimate_apex_index([photo_gray]) == 0
    with pytest.raises(FrameReadError, match=re.escape(str(tmp_path / "missing.jpg"))):
        motion_curve([tmp_path / "missing.jpg"])
    with pytest.raises(ShapeError, match="same size"):
        motion_curve([photo_gray, photo_gray[:64]])
    with pytest.raises(ConfigError, match="apex measure must be one of"):
        MotionPeakApex(measure="peak")
    with pytest.raises(ShapeError, match="empty clip"):
        motion_curve([])


def test_motion_peak_is_a_registered_apex_policy(tmp_path, photo_gray):
    from merkit.data.apex import ApexContext, get_apex_policy

    policy = get_apex_policy("motion_peak")
    assert isinstance(policy, MotionPeakApex)
    frames = make_clip(photo_gray, apex=3, n_frames=8)
    paths = []
    for i, f in enumerate(frames):
        paths.append(str(tmp_path / f"{i:03d}.png"))
        cv2.imwrite(paths[-1], f)
    ctx = ApexContext("samm/006/006_1_2", 10, 17, tuple(range(10, 18)), tuple(paths), 200.0)
    assert abs(policy(ctx) - 13) <= 1
