"""Every ready experiment file in configs/ validates and names a model that builds."""

from pathlib import Path

import pytest

from merkit.experiments.config import load_config
from merkit.training.methods import create_method
from merkit.training.methods.descriptor_svm import DESCRIPTOR_BASELINES

CONFIG_DIR = Path(__file__).parents[1] / "configs"
CONFIGS = sorted(p for p in CONFIG_DIR.rglob("*") if p.suffix in (".toml", ".yaml", ".yml"))


def test_there_are_configs():
    assert len(CONFIGS) >= 20


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
def test_config_sits_in_its_model_family_folder(path):
    # configs/<family>/<experiment>.toml, and its run directory mirrors the file: runs/<family>/<experiment>
    rel = path.relative_to(CONFIG_DIR)
    assert len(rel.parts) == 2, f"{rel}: put it in a model-family folder, configs/<family>/{rel.name}"
    family, name = rel.parent.as_posix(), rel.stem
    assert not name.startswith(family + "_"), f"{rel}: the folder already says {family!r}"
    assert load_config(path).run.out_dir == f"runs/{family}/{name}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
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
