"""FaceTracker: the streaming face track equals track_face on the same frames, with a bounded delay."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError, FaceNotFoundError
from merkit.face.track import FaceTracker, track_face
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=150, n_micro=1, n_macro=0, n_blinks=1, n_head_moves=2,
                          head_move_px=(5.0, 8.0))
    m = generate_long_videos(tmp_path_factory.mktemp("track_stream") / "out", cfg, seed=4)
    folder = m.root / "rawpic" / "s15" / "15_0101disgustingteeth"
    return [cv2.imread(str(folder / f"img{n}.jpg"), cv2.IMREAD_GRAYSCALE) for n in range(1, 151)]


def _stream(frames, detect_every, **kwargs):
    """Run a FaceTracker; returns the finalised frames and, per frame, the push that returned it."""
    tracker = FaceTracker(detect_every, **kwargs)
    out, returned_at, pending = [], [], []
    for i, frame in enumerate(frames):
        done = tracker.push(frame)
        pending.append(tracker.n_pending)
        out += done
        returned_at += [i] * len(done)
    done = tracker.close()
    out += done
    returned_at += [len(frames)] * len(done)
    return out, returned_at, pending


def _assert_same(items, track):
    assert [t.index for t in items] == list(range(len(track.present)))
    present = np.array([t.present for t in items])
    assert np.array_equal(present, track.present)
    assert np.array_equal([t.detected for t in items], track.detected)
    assert np.array_equal([t.checked for t in items], track.checked)
    landmarks = np.stack([t.landmarks for t in items])
    assert landmarks.dtype == np.float32
    assert np.array_equal(landmarks[present], track.landmarks[present])      # bit for bit
    confidence = np.array([t.confidence for t in items], np.float32)
    assert np.array_equal(confidence[present], track.confidence[present])
    assert np.isnan(confidence[~present]).all() and np.isnan(track.confidence[~present]).all()


@pytest.mark.parametrize("detect_every", [15, 7])
def test_tracker_equals_track_face_and_is_delayed_at_most_detect_every(frames, detect_every):
    items, returned_at, pending = _stream(frames, detect_every)
    _assert_same(items, track_face(frames, detect_every))
    delays = np.array(returned_at) - np.array([t.index for t in items])
    assert delays.max() <= detect_every - 1 and max(pending) <= detect_every - 1
    assert all(t.frame is frames[t.index] for t in items)     # each frame comes back with its landmarks


def test_no_face_stretch_is_the_same_and_landmarks_are_held(frames):
    blanked = [np.full_like(f, 128) if 40 <= i < 95 else f for i, f in enumerate(frames)]
    items, _, _ = _stream(blanked, 15)
    track = track_face(blanked, 15)
    _assert_same(items, track)
    assert not track.present[40:95].any() and track.present[:30].all() and track.present[105:].all()
    # where the next check failed too, the stream holds the last detection (frame 30's)
    assert np.array_equal(items[50].landmarks, items[30].landmarks)


def test_near_last_search_matches_between_forms_and_the_full_search(frames):
    big = [cv2.resize(f, (480, 360), interpolation=cv2.INTER_LINEAR) for f in frames[:60]]  # face ~200 px
    items, _, _ = _stream(big, 15, detect_mode="near_last")
    near = track_face(big, 15, detect_mode="near_last")
    _assert_same(items, near)
    full = track_face(big, 15)
    assert near.present.all() and full.present.all()
    # the region is downscaled to a ~110 px face, the landmarks still placed at full resolution
    assert np.abs(near.landmarks - full.landmarks).mean() < 2.0


def test_near_last_falls_back_to_the_whole_frame_when_the_face_jumps(frames):
    def canvas(f, x):
        out = np.zeros((180, 720), np.uint8)
        out[:, x:x + 240] = f
        return out

    moved = [canvas(f, 0 if i < 45 else 480) for i, f in enumerate(frames[:90])]
    track = track_face(moved, 15, detect_mode="near_last")
    assert track.present[:30].all() and track.present[45:].all()
    shift = track.landmarks[60].mean(0) - track.landmarks[15].mean(0)
    assert 470 < shift[0] < 490 and abs(shift[1]) < 10


def test_errors_and_closing(frames):
    with pytest.raises(ConfigError, match="detect_every must be >= 1"):
        FaceTracker(0)
    with pytest.raises(ConfigError, match="detect_mode must be one of"):
        FaceTracker(5, detect_mode="everywhere")
    noise = [np.random.default_rng(i).integers(0, 255, (120, 160), dtype=np.uint8) for i in range(12)]
    tracker = FaceTracker(5, name="noise-stream")
    for frame in noise:
        tracker.push(frame)
    with pytest.raises(FaceNotFoundError, match="no face found in the whole video 'noise-stream'"):
        tracker.close()
    tracker = FaceTracker(5)
    tracker.push(frames[0])
    assert len(tracker.close()) == 0 and tracker.close() == []
    with pytest.raises(ConfigError, match="is closed"):
        tracker.push(frames[1])
