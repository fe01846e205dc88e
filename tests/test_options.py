"""One options validator: every raw table reads a value the same way (merkit._options)."""

import dataclasses

import pytest
import yaml

from merkit._options import build, coerce, did_you_mean, parse_assignments
from merkit.errors import ConfigError

# PyYAML implements YAML 1.1, where a float needs a dot: `1e-3` is the string '1e-3'
YAML_LR = yaml.safe_load("lr: 1e-3")["lr"]


def test_yaml_reads_an_exponent_without_a_dot_as_a_string():
    assert YAML_LR == "1e-3"


def test_yaml_exponent_is_a_float_in_every_raw_table(tmp_path):
    from merkit.data.registry import load_dataset_spec  # noqa: F401  (fills the dataset registry)
    from merkit.experiments.config import config_from_dict, load_config
    from merkit.motion.spotting import SpotConfig
    from merkit.synth.config import get_preset
    from merkit.training.methods import create_method

    # an experiment file's section
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  lr: 1e-3\nmethod:\n  name: flow_pretrain_finetune\n  options:\n    pretrain_lr: 1e-3\n"
                    "model:\n  name: shufflenet_v2_me\n")
    cfg = load_config(path)
    assert cfg.train.lr == 0.001
    # [method] options
    assert create_method(cfg, progress=False).options.pretrain_lr == 0.001
    # --set (the same string as YAML reads it)
    assert config_from_dict({"train": {"lr": YAML_LR}}).train.lr == 0.001
    # SynthME overrides, through [data] synth_overrides and directly
    assert config_from_dict({"data": {"synth_overrides": {"amplitude_scale": "2e0"}}}).data.synth_config() \
        .amplitude_scale == 2.0
    assert get_preset("tiny").replace(**{"samm.camera.noise_sigma": YAML_LR}).sources["samm"].camera \
        .noise_sigma == 0.001
    # merkit spot --set
    spot = build(SpotConfig, parse_assignments(["threshold_p=1e-3"]), "--set", source="merkit spot")
    assert spot.threshold_p == 0.001


def test_a_dataset_spec_reads_the_exponent_as_a_float(tmp_path):
    from merkit.data.registry import _spec_options

    assert _spec_options("fourdme", {"root": str(tmp_path), "fps": "3e1"}, None)["fps"] == 30.0


@dataclasses.dataclass(frozen=True)
class _Options:
    epochs: int = 1
    lr: float = 0.1
    sizes: tuple = (1,)
    name: str | None = None
    strict: bool = True


@pytest.mark.parametrize("key, raw, expected", [
    ("epochs", 10.0, 10), ("lr", 3, 3.0), ("lr", "1e-3", 0.001), ("sizes", [2, 3], (2, 3)), ("sizes", 4, (4,)),
    ("sizes", "a, b", ("a", "b")), ("name", None, None), ("name", "x", "x"), ("strict", False, False),
])
def test_coercion_rules(key, raw, expected):
    assert getattr(build(_Options, {key: raw}, "opts"), key) == expected


@pytest.mark.parametrize("key, raw, message", [
    ("epochs", 2.5, "'opts.epochs' must be of type int; got float 2.5"),
    ("epochs", True, "'opts.epochs' must be of type int; got bool"),
    ("lr", "fast", "'opts.lr' must be of type float; got str 'fast'"),
    ("strict", "yes", "'opts.strict' must be of type bool; got str 'yes'"),
    ("name", 3, "'opts.name' must be of type str | None; got int 3"),
])
def test_wrong_types_name_the_key(key, raw, message):
    with pytest.raises(ConfigError, match=message):
        build(_Options, {key: raw}, "opts")


def test_unknown_key_lists_the_valid_ones_and_the_closest():
    with pytest.raises(ConfigError,
                       match=r"unknown key in f.toml: 'opts.epoch'; valid: \[.*\]. Did you mean 'epochs'\?"):
        build(_Options, {"epoch": 3}, "opts", source="f.toml")
    assert did_you_mean("zzz", ["epochs"]) == ""


def test_command_line_assignments():
    assert parse_assignments(["a=1", "b=yes", "c=[1, 2]", "d=text"]) == {"a": 1, "b": True, "c": [1, 2], "d": "text"}
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE; got 'novalue'"):
        parse_assignments(["novalue"])
    assert coerce("k", 1, float) == 1.0
