"""Every ready experiment file in configs/ validates and names a model that builds."""

from pathlib import Path

import pytest
import yaml

from merkit.training.config import SVM_METHODS, load_config

CONFIGS = sorted(p for p in (Path(__file__).parents[1] / "configs").rglob("*") if p.suffix in (".toml", ".yaml", ".yml"))


def _sections(path: Path) -> set:
    if path.suffix == ".toml":
        import tomllib

        return set(tomllib.loads(path.read_text()))
    return set(yaml.safe_load(path.read_text()) or {})


def test_there_are_configs():
    assert len(CONFIGS) >= 20


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1] if p.parent.name != "configs" else p.parent)))
def test_config_validates(path):
    if "transfer" in _sections(path):  # `merkit transfer` files (seed 003) have their own loader
        from merkit.training.transfer_experiment import load_transfer_config

        load_transfer_config(path)
        return
    cfg = load_config(path)
    if cfg.model.name in SVM_METHODS:
        return
    import torch

    from merkit.models import create_model
    from merkit.models._registry import INPUT_KINDS
    from merkit.training.experiment import feature_kind, method_module

    with torch.device("meta"):  # builds models without allocating or initialising weights
        if method_module(feature_kind(cfg.model.name)) is not None:
            return  # a method with its own data and options (MOL, seed 002); its module validates model.options
        model = create_model(cfg.model.name, **cfg.model.options)
        kind = feature_kind(cfg.model.name, cfg.model.options)
    assert kind in INPUT_KINDS and model.default_cfg["inputs"] == kind
