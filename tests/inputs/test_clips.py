"""The clips input of multitask_clips (MOL): clip offsets, landmark mirroring, prepared videos and their targets."""

import cv2
import numpy as np
import pytest

from merkit.cache import FeatureCache
from merkit.data import Sample
from merkit.errors import ConfigError
from merkit.inputs.clips import MIRROR_68, MOLDataConfig, clip_offsets, prepare_video


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
