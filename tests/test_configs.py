"""Every ready experiment file in configs/ validates and names a model that builds."""

from pathlib import Path

import pytest

from merkit.experiments.config import load_config
from merkit.training.methods import create_method
from merkit.training.methods.descriptor_svm import DESCRIPTOR_BASELINES

CONFIGS = sorted(p for p in (Path(__file__).parents[1] / "configs").rglob("*") if p.suffix in (".toml", ".yaml", ".yml"))


def test_there_are_configs():
    assert len(CONFIGS) >= 20


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1] if p.parent.name != "configs" else p.parent)))
def test_config_validates(path):
    cfg = load_config(path)
    method = create_method(cfg, progress=False)  # validates [method] options and misplaced model options
    if cfg.model.name in DESCRIPTOR_BASELINES:
        assert method.input_kind in ("biwoof", "lbptop")
        return
    import torch

    from merkit.models import create_model
    from merkit.models._registry import INPUT_KINDS

    with torch.device("meta"):  # builds models without allocating or initialising weights
        model = create_model(cfg.model.name, **cfg.model.options)
    assert method.input_kind in INPUT_KINDS
    assert model.default_cfg["inputs"] == method.input_kind
