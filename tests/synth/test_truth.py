"""The replayed true motion between any two frames of a SynthME clip (merkit.synth.truth)."""

import json
import re
import shutil

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError, DatasetNotFoundError, ShapeError, UnknownNameError
from merkit.synth import warp_by_flow
from merkit.synth.clip import pair_field
from merkit.synth.truth import SynthTruth


@pytest.fixture(scope="module")
def truth(tiny):
    return SynthTruth(tiny.out_dir)


def _moving_clips(truth, n=4):
    """Clips whose onset is not the first frame, so pairs (i, j) away from the onset exist."""
    out = []
    for key in truth.keys():
        motion = truth.motion(*key.split("/"))
        if len(motion) >= 6 and motion.apex_index != motion.onset_index:
            out.append(motion)
        if len(out) == n:
            break
    assert len(out) == n
    return out


def _at(field, points):
    p = points.astype(np.float32)
    return cv2.remap(field, p[None, :, 0], p[None, :, 1], cv2.INTER_LINEAR)[0]


def test_apex_field_is_the_stored_ground_truth(truth, tiny):
    for key in truth.keys()[:5]:
        motion = truth.motion(*key.split("/"))
        stored = np.load(tiny.out_dir / "_groundtruth" / key / "flow_onset_apex.npy")
        np.testing.assert_array_equal(motion.onset_field(motion.apex_index), stored)
        assert np.abs(motion.onset_field(motion.onset_index)).max() == 0.0
        apex_png = cv2.imread(str(tiny.out_dir / "_groundtruth" / key / "apex_clean.png"), cv2.IMREAD_UNCHANGED)
        apex = motion.clean_frame(motion.apex_index)
        apex = apex if apex.ndim == 2 else cv2.cvtColor(np.clip(np.rint(apex), 0, 255).astype(np.uint8),
                                                        cv2.COLOR_RGB2BGR)
        assert np.abs(np.rint(apex).astype(np.int16) - apex_png.astype(np.int16)).max() <= 1


def test_pair_field_carries_frame_i_landmarks_onto_frame_j(truth):
    for motion in _moving_clips(truth):
        key = motion.key.split("/")
        marks = truth.landmarks(*key)
        n = len(motion)
        for i, j in ((motion.apex_index, 0), (n - 1, 1), (2, n - 2)):
            if i == motion.onset_index:
                continue
            field = motion.pair_field(i, j)
            moved = np.abs(marks[j] - marks[i]).max()
            err = np.abs(marks[i] + _at(field, marks[i]) - marks[j]).max()
            assert err < 0.15 and err < 0.1 * max(moved, 1.0), (motion.key, i, j, err, moved)
            # the inversion matters: the plain difference of the onset fields is measurably off
            naive = motion.onset_field(j) - motion.onset_field(i)
            naive_err = np.abs(marks[i] + _at(naive, marks[i]) - marks[j]).max()
            if moved > 2.0:
                assert err < 0.5 * naive_err, (motion.key, i, j, err, naive_err)


def test_warping_frame_i_by_the_pair_field_reproduces_frame_j(truth):
    for motion in _moving_clips(truth, n=3):
        i, j = motion.apex_index, len(motion) - 1
        if i == motion.onset_index or i == j:
            continue
        a, b = motion.clean_frame(i), motion.clean_frame(j)
        warped = warp_by_flow(a, motion.pair_field(i, j), motion.iterations)
        inner = (slice(4, -4), slice(4, -4))
        err = np.abs(warped - b)[inner].mean()
        unmoved = np.abs(a - b)[inner].mean()
        assert unmoved > 1.0
        assert err < 0.15 * unmoved, (motion.key, err, unmoved)


def test_errors_name_the_problem(truth, tiny, tmp_path):
    with pytest.raises(UnknownNameError, match=re.escape("unknown SynthME clip 'casme2/sub01/EP99'")):
        truth.motion("casme2", "sub01", "EP99")
    motion = truth.motion(*truth.keys()[0].split("/"))
    with pytest.raises(ConfigError, match="frame position 99 is out of range"):
        motion.onset_field(99)
    with pytest.raises(ShapeError, match="two \\(H, W, 2\\) fields of the same shape"):
        pair_field(np.zeros((4, 4, 2), np.float32), np.zeros((4, 5, 2), np.float32))
    with pytest.raises(DatasetNotFoundError, match="no SynthME manifest.json"):
        SynthTruth(tmp_path)
    manifest = json.loads((tiny.out_dir / "manifest.json").read_text())
    manifest["parameters"]["flow_iterationz"] = 3
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="its parameters cannot be replayed"):
        SynthTruth(tmp_path)
    manifest["generator_version"] = "0.1"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="generator '0.1'"):
        SynthTruth(tmp_path)


def test_replay_refuses_a_tree_whose_landmarks_differ(tiny, tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(tiny.out_dir / "_groundtruth", root / "_groundtruth")
    shutil.copy(tiny.out_dir / "manifest.json", root / "manifest.json")
    truth = SynthTruth(root)
    key = truth.keys()[0]
    path = root / "_groundtruth" / key / "landmarks.npy"
    np.save(path, np.load(path) + 0.5)
    with pytest.raises(ConfigError, match="replayed onset landmarks differ"):
        truth.motion(*key.split("/"))
