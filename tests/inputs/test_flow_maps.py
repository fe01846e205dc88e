"""The flow-map and frame input kinds: stacked uniform-frame flow maps, the parallel map, the cache, global motion."""

import numpy as np
import pytest

from merkit.cache import FeatureCache
from merkit.experiments.config import DataConfig
from merkit.experiments.sources import load_table
from merkit.inputs.config import FeatureConfig
from merkit.inputs.flow_maps import SampleFeatureProvider


def test_frame_kinds_are_the_same_in_one_or_two_processes_and_from_the_cache(tmp_path):
    table, _ = load_table(DataConfig(source="synth", synth_root=str(tmp_path / "tiny"), synth_preset="tiny"))
    table = table.iloc[:4].reset_index(drop=True)
    cfg = FeatureConfig(rgb_size=32, face_size=48, cache_dir=str(tmp_path / "cache"))
    one = SampleFeatureProvider(cfg, progress=False).many(table, ["rgb_apex", "lbptop"])
    assert one["rgb_apex"].values.shape == (4, 3, 32, 32) and one["lbptop"].values.shape[0] == 4
    info = FeatureCache(tmp_path / "cache").info()
    assert info.namespaces["features.rgb_apex"][0] == 4 and info.namespaces["features.lbptop"][0] == 4
    two = SampleFeatureProvider(FeatureConfig(rgb_size=32, face_size=48, cache_dir=str(tmp_path / "fresh"), workers=2),
                                progress=False).many(table, ["rgb_apex", "lbptop"])
    cached = SampleFeatureProvider(cfg, progress=False).many(table, ["rgb_apex", "lbptop"])
    for kind in ("rgb_apex", "lbptop"):
        np.testing.assert_array_equal(one[kind].values, two[kind].values)
        np.testing.assert_array_equal(one[kind].values, cached[kind].values)


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "tiny"
    table, _ = load_table(DataConfig(source="synth", synth_root=str(root), synth_preset="tiny"))
    return table.iloc[:2].reset_index(drop=True)


def test_uniform_kinds_stack_onset_to_frame_maps(tiny_table, tmp_path):
    cfg = FeatureConfig(face_size=64, size=32, cache_dir=str(tmp_path / "cache"), workers=1)
    kinds = ["flow_uv_strain", "flow_uv_strain_uniform2", "flow_uv_strain_uniform4"]
    out = SampleFeatureProvider(cfg, progress=False).many(tiny_table, kinds)
    apex, u2, u4 = (out[k].values for k in kinds)
    assert apex.shape == (2, 3, 32, 32) and u2.shape == (2, 6, 32, 32) and u4.shape == (2, 12, 32, 32)
    for values in (u2, u4):
        assert values.dtype == np.float32 and values.min() >= 0.0 and values.max() <= 1.0
    # uniform 2 picks onset, middle, offset; uniform 4 onset, quarters, middle, offset (same onset alignment):
    # onset->middle and onset->offset are the same maps in both
    np.testing.assert_allclose(u2[:, 0:3], u4[:, 3:6], atol=1e-6)
    np.testing.assert_allclose(u2[:, 3:6], u4[:, 9:12], atol=1e-6)
    assert not np.allclose(u4[:, 0:3], u4[:, 9:12])


def test_auto_global_motion_is_affine_for_biwoof_only():
    from merkit.errors import ConfigError
    from merkit.inputs.config import FeatureConfig
    from merkit.inputs.flow_maps import global_motion_for

    assert FeatureConfig().global_motion == "auto"
    assert global_motion_for("biwoof", "auto") == "affine"
    assert {global_motion_for(k, "auto") for k in ("flow_uv_strain", "flow_uv")} == {"none"}
    assert global_motion_for("flow_uv", "median") == "median" and global_motion_for("biwoof", "none") == "none"
    with pytest.raises(ConfigError,
                       match=r"features.global_motion must be one of \['affine', 'auto', 'median', 'none'\]"):
        FeatureConfig(global_motion="rigid")
