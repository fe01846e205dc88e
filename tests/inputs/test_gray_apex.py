"""The gray_apex_masked input: aligned grayscale face with the eyes masked, cached, same code for macro and micro."""

import numpy as np
import pytest

from merkit.cache import FeatureCache
from merkit.data.macro import load_macro
from merkit.errors import ConfigError, FaceNotFoundError
from merkit.inputs.gray_apex import GrayApexConfig, GrayApexProvider, gray_masked_face
from merkit.synth.macro import MacroConfig, generate_macro


@pytest.fixture(scope="module")
def macro_table(tmp_path_factory):
    root = tmp_path_factory.mktemp("macro")
    generate_macro(root, MacroConfig(n_subjects=1, takes_per_class=1, frames_per_take=1), seed=0)
    return load_macro("image_folder", root, dataset="synthme_macro")


def test_face_is_aligned_gray_with_zeroed_eyes(macro_table, tmp_path):
    cfg = GrayApexConfig(size=64)
    cache = FeatureCache(tmp_path / "cache")
    x = gray_masked_face(macro_table["path"].iloc[0], cfg, cache)
    assert x.shape == (1, 64, 64) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    zero_rows = np.flatnonzero((x[0] == 0).sum(1) > 6)  # the two masked eyes share rows near the top third
    assert len(zero_rows) and zero_rows.mean() < 64 / 2
    assert np.array_equal(gray_masked_face(macro_table["path"].iloc[0], cfg, cache), x)  # cache hit


def test_provider_keys_macro_images_and_skips_faceless_ones(macro_table, tmp_path):
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((120, 160), 128, np.uint8))
    table = macro_table.copy()
    table.loc[len(table)] = {**table.iloc[0].to_dict(), "image_key": "x/blank", "path": str(blank)}
    provider = GrayApexProvider(GrayApexConfig(size=32, cache_dir=str(tmp_path / "c")))
    features, kept = provider.for_images(table)
    assert len(kept) == len(macro_table) and "x/blank" not in set(kept["image_key"])
    assert features.take(kept["image_key"]).shape == (len(kept), 1, 32, 32)
    with pytest.raises(FaceNotFoundError, match="blank.png"):
        provider.for_images(table, skip_missing_faces=False)


def test_bad_settings():
    with pytest.raises(ConfigError, match="size"):
        GrayApexConfig(size=8)


def test_two_processes_and_the_cache_give_the_same_crops(tmp_path):
    root = tmp_path / "m"
    generate_macro(root, MacroConfig(n_subjects=1, takes_per_class=3, frames_per_take=1), seed=3)
    table = load_macro("image_folder", root, dataset="synthme_macro")  # 9 images: two chunks of parallel_map
    one, kept = GrayApexProvider(GrayApexConfig(size=32, cache_dir=str(tmp_path / "a"))).for_images(table)
    two, kept2 = GrayApexProvider(GrayApexConfig(size=32, cache_dir=str(tmp_path / "b"), workers=2)).for_images(table)
    cached, _ = GrayApexProvider(GrayApexConfig(size=32, cache_dir=str(tmp_path / "b"))).for_images(table)
    assert list(kept["image_key"]) == list(kept2["image_key"]) and len(kept) > 8
    x = one.take(kept["image_key"])
    assert np.array_equal(x, two.take(kept["image_key"])) and np.array_equal(x, cached.take(kept["image_key"]))
