"""Frame-based feature kinds through the shared parallel map and cache memoisation."""

import numpy as np

from merkit.cache import FeatureCache
from merkit.experiments.config import DataConfig
from merkit.inputs.config import FeatureConfig
from merkit.experiments.sources import load_table
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
