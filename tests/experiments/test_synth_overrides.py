"""[data] synth_overrides: SynthME knobs from experiment configs, and no silent reuse of another tree."""

import json

import pandas as pd
import pytest

from merkit.errors import ConfigError
from merkit.experiments.config import DataConfig, config_from_dict
from merkit.experiments.sources import load_table
from merkit.synth import generate


def test_overrides_parse_and_validate():
    cfg = config_from_dict({"data": {"synth_preset": "tiny",
                                     "synth_overrides": {"amplitude_scale": 2.0, "appearance_contrast": 0.05}}})
    assert cfg.data.synth_config().amplitude_scale == 2.0
    with pytest.raises(ConfigError, match="data.synth_overrides: unknown SynthME parameter 'amplitude_scal'.*"
                                          "Did you mean 'amplitude_scale'"):
        DataConfig(synth_preset="tiny", synth_overrides={"amplitude_scal": 2.0})
    with pytest.raises(ConfigError, match="appearance_contrast must be"):
        DataConfig(synth_preset="tiny", synth_overrides={"appearance_contrast": 3})
    with pytest.raises(ConfigError, match="must be of type dict"):
        config_from_dict({"data": {"synth_overrides": 2.0}})


def test_generates_with_overrides_and_refuses_another_tree(tmp_path):
    root = tmp_path / "tiny"
    wanted = DataConfig(synth_root=str(root), synth_preset="tiny", synth_overrides={"amplitude_scale": 2.0})
    table, _ = load_table(wanted)
    assert len(table) > 0
    assert json.loads((root / "manifest.json").read_text())["parameters"]["amplitude_scale"] == 2.0
    load_table(wanted)  # the same settings reuse the tree
    for other, detail in ((DataConfig(synth_root=str(root), synth_preset="tiny"), "amplitude_scale: 2.0 on disk"),
                          (DataConfig(synth_root=str(root), synth_preset="tiny", synth_seed=1,
                                      synth_overrides={"amplitude_scale": 2.0}), "seed: 0 on disk, 1 wanted"),
                          (DataConfig(synth_root=str(root), synth_preset="small",
                                      synth_overrides={"amplitude_scale": 2.0}), "name: 'tiny' on disk")):
        with pytest.raises(ConfigError, match="generated with other settings") as err:
            load_table(other)
        assert detail in str(err.value) and "point data.synth_root to another folder" in str(err.value)


def test_default_tree_is_still_reused(tmp_path, monkeypatch):
    from merkit.experiments import sources

    root = tmp_path / "t"
    generate(root, "tiny", seed=0)
    manifest = root / "manifest.json"
    written = manifest.stat().st_mtime_ns
    sentinel = root / "CASME2" / "left_by_the_test.txt"  # a regenerated tree would not hold it
    sentinel.write_text("x")
    monkeypatch.setattr(sources, "generate", lambda *a, **k: pytest.fail("the tree was generated again"))
    table, _ = load_table(DataConfig(synth_root=str(root), synth_preset="tiny"))
    assert manifest.stat().st_mtime_ns == written and sentinel.read_text() == "x"
    assert len(table) == len(pd.read_csv(root / "combined_3class_gt.csv", header=None))  # one row per GT line
    assert all(str(p).startswith(str(root)) for paths in table["frame_paths"] for p in paths)
