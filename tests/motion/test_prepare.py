"""prepare_features end to end on a small clip set made from a real photo (real dlib faces, real flow)."""

import cv2
import numpy as np
import pytest
from skimage import data

from merkit.cache import FeatureCache
from merkit.data.sample import Sample, samples_to_table
from merkit.errors import ConfigError
from merkit.motion.prepare import PrepareConfig, feature_key, load_features, prepare_features
from merkit.motion.warp import smooth_random_flow, warp_backward


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three 9-frame clips of the astronaut photo with a local deformation peaking at frame 4,
    plus one faceless clip."""
    root = tmp_path_factory.mktemp("clips")
    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[:320, 80:400]
    samples = []
    for c in range(3):
        bump = smooth_random_flow(*photo.shape[:2], max_displacement=2.0, n_bumps=2, seed=c)
        folder = root / f"sub{c:02d}" / "EP01"
        folder.mkdir(parents=True)
        paths = []
        for t in range(9):
            w = 1 - abs(t - 4) / 4
            frame = warp_backward(photo, (w * bump).astype(np.float32))
            paths.append(folder / f"img{t + 1}.jpg")
            cv2.imwrite(str(paths[-1]), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        samples.append(Sample("casme2", f"sub{c:02d}", "EP01", tuple(map(str, paths)), tuple(range(1, 10)),
                              1, 5, 9, 200.0, "happiness"))
    blank = root / "sub09" / "EP09"
    blank.mkdir(parents=True)
    blank_paths = []
    for t in range(3):
        blank_paths.append(str(blank / f"img{t + 1}.jpg"))
        cv2.imwrite(blank_paths[-1], np.full((120, 120, 3), 90, np.uint8))
    samples.append(Sample("casme2", "sub09", "EP09", tuple(blank_paths), (1, 2, 3), 1, 2, 3, 200.0, "others"))
    return samples


def test_prepare_onset_apex_caches_and_reports_failures(clips, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    config = PrepareConfig(size=96, flow="farneback")
    report = prepare_features(samples_to_table(clips), config, cache=cache, workers=2)
    assert report.done == [s.key for s in clips[:3]] and report.cached == []
    assert list(report.failed) == ["casme2/sub09/EP09"]
    assert "FaceNotFoundError" in report.failed["casme2/sub09/EP09"]
    feats = load_features(clips[0], config, cache)
    assert feats.shape == (96, 96, 3) and feats.dtype == np.float32
    # the deformation is real motion: the aligned flow is clearly non-zero, strain is >= 0
    assert np.abs(feats[..., :2]).max() > 0.3 and feats[..., 2].min() >= 0
    again = prepare_features(clips, config, cache=cache, workers=1)
    assert again.cached == [s.key for s in clips[:3]] and again.done == [] and len(again.failed) == 1
    assert again.keys == report.keys
    assert "3 samples" not in again.summary() and "4 samples: 0 done, 3 cached, 1 failed" in again.summary()


def test_prepare_consecutive_frames_and_key_depends_on_settings(clips, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    config = PrepareConfig(size=64, frames="consecutive", k=4, flow="dis", channels=("u", "v"), normalize="minmax")
    report = prepare_features(clips[:1], config, cache=cache, workers=1)
    assert report.done == [clips[0].key]
    feats = load_features(clips[0], config, cache)
    assert feats.shape == (3, 64, 64, 2)
    assert feats.min() >= 0 and feats.max() <= 1
    other = PrepareConfig(size=64, frames="consecutive", k=5, flow="dis", channels=("u", "v"), normalize="minmax")
    assert feature_key(clips[0], other, cache) != feature_key(clips[0], config, cache)
    assert load_features(clips[0], other, cache) is None
    assert cache.info().namespaces.keys() == {"faces", "motion"}


def test_prepare_config_errors():
    with pytest.raises(ConfigError, match="channels must be names from"):
        PrepareConfig(channels=("u", "os"))
    with pytest.raises(ConfigError, match="prepare frames must be one of"):
        PrepareConfig(frames="apex")
    with pytest.raises(ConfigError, match="k must be >= 2"):
        PrepareConfig(frames="uniform", k=1)
    with pytest.raises(ConfigError, match="unknown parameter"):
        PrepareConfig(flow="dis", flow_params={"levels": 3})
    assert PrepareConfig(flow="tvl1_fast", flow_params={"epsilon": 0.1}).flow_params == (("epsilon", 0.1),)
    assert PrepareConfig().flow == "dis"  # the default since issue 19 (docs/motion.md)
