"""MiER-CvT's Table 5 inputs: stacked uniform-frame flow maps, their augmentation and config plumbing."""

import numpy as np
import pytest
import torch

from merkit.training.augment import flip_horizontal, input_channels
from merkit.experiments.config import DataConfig, config_from_dict
from merkit.inputs.config import FeatureConfig
from merkit.experiments.run import feature_kind
from merkit.experiments.sources import load_table
from merkit.inputs.flow_maps import SampleFeatureProvider


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


def test_flip_negates_every_stacked_u_channel():
    x = torch.rand(2, 12, 8, 8)
    u_channels, encoding = input_channels("flow_uv_strain_uniform4")
    assert u_channels == (0, 3, 6, 9) and encoding == "minmax"
    out = flip_horizontal(x, u_channels, encoding)
    for c in range(12):
        expected = 1.0 - x[:, c].flip(-1) if c in u_channels else x[:, c].flip(-1)
        assert torch.allclose(out[:, c], expected), c


def test_model_option_inputs_selects_the_feature_kind():
    cfg = config_from_dict({"model": {"name": "mier_cvt", "options": {"inputs": "flow_uv_strain_uniform2"}}})
    assert feature_kind(cfg.model.name, cfg.model.options) == "flow_uv_strain_uniform2"
    assert feature_kind("mier_cvt") == "flow_uv_strain"
    assert feature_kind("biwoof_svm", {"inputs": "x"}) == "biwoof"


def test_demo_runs_mier_cvt_at_224(tmp_path):
    from merkit.experiments.demo import demo_configs

    configs = demo_configs(tmp_path)
    cfg = config_from_dict(configs["MiER-CvT"])
    assert cfg.model.name == "mier_cvt" and cfg.features.size == 224
    # the same prepared flow as STSTNet (one flow computation per sample for the whole demo)
    assert cfg.features.face_size == config_from_dict(configs["STSTNet"]).features.face_size
    assert cfg.protocol.select_on_test is False
