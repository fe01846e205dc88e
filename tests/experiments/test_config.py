import re

import pytest

from merkit.errors import ConfigError
from merkit.experiments.config import ExperimentConfig, apply_overrides, config_from_dict, load_config


def test_defaults_are_honest():
    cfg = ExperimentConfig()
    assert cfg.protocol.select_on_test is False
    assert cfg.protocol.name == "megc2019_composite"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"train": {"lrr": 0.1}}, "unknown key in config: 'train.lrr'"),
        ({"train": {"lrr": 0.1}}, "Did you mean 'lr'?"),
        ({"trian": {}}, "unknown section in config: 'trian'"),
        ({"train": {"epochs": "ten"}}, "config key 'train.epochs' must be of type int; got str 'ten'"),
        ({"train": {"augment": "yes"}}, "config key 'train.augment' must be of type bool"),
        ({"train": {"epochs": 2.5}}, "config key 'train.epochs' must be of type int"),
        ({"train": {"schedule": "cosine"}}, "train.schedule must be one of"),
        ({"protocol": {"val_fraction": 1.5}}, "protocol.val_fraction must be in (0, 1)"),
        ({"run": {"seeds": []}}, "run.seeds must be a non-empty list"),
        ({"data": {"source": "npz"}}, "data.features_file is empty"),
        ({"model": []}, "section 'model' must be a table"),
    ],
)
def test_invalid_configs_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict(raw)


def test_int_is_accepted_for_float_and_lists_become_tuples():
    cfg = config_from_dict({"train": {"lr": 1}, "run": {"seeds": [0, 1, 2]}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.run.seeds == (0, 1, 2)


def test_overrides_are_parsed_and_validated():
    raw = apply_overrides({"train": {"lr": 0.1}}, ["train.lr=1e-4", "run.seeds=[3, 4]", "model.name=off_apexnet"])
    cfg = config_from_dict(raw)
    assert cfg.train.lr == pytest.approx(1e-4)
    assert cfg.run.seeds == (3, 4)
    assert cfg.model.name == "off_apexnet"
    with pytest.raises(ConfigError, match=re.escape("unknown key in config: 'train.epoch'")):
        config_from_dict(apply_overrides({}, ["train.epoch=3"]))
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(ConfigError, match="must be section.key"):
        apply_overrides({}, ["lr=3"])


def test_toml_and_yaml_files(tmp_path):
    toml = tmp_path / "a.toml"
    toml.write_text('[train]\nepochs = 3\n[model]\nname = "ststnet"\noptions = {drop_rate = 0.1}\n')
    yml = tmp_path / "a.yaml"
    yml.write_text("train:\n  epochs: 3\nmodel:\n  name: ststnet\n  options: {drop_rate: 0.1}\n")
    assert load_config(toml) == load_config(yml)
    assert load_config(toml, ["train.epochs=5"]).train.epochs == 5
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochs = \n")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=re.escape(f"unknown key in {toml}: 'train.epoch'")):
        load_config(toml, ["train.epoch=1"])


def test_dotted_overrides_reach_into_option_tables():
    raw = {"method": {"options": {"size": 256, "macro": {"epochs": 100, "lr": 0.01}}}}
    out = apply_overrides(raw, ["method.options.macro.epochs=2", "method.options.size=64", "method.name=x"])
    assert out["method"] == {"name": "x", "options": {"size": 64, "macro": {"epochs": 2, "lr": 0.01}}}
    assert raw["method"]["options"]["macro"]["epochs"] == 100  # the input is not changed
    with pytest.raises(ConfigError, match="'method.options.size' is not a table"):
        apply_overrides(raw, ["method.options.size.x=1"])
