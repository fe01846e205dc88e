"""Fixtures of the deploy tests."""

import pytest

from merkit.cli import main


@pytest.fixture(scope="package")
def fitted_bundle(tmp_path_factory):
    """STSTNet fitted on every sample of SynthME tiny through `merkit fit`: ``(bundle folder, table, base folder)``.

    Fitted once for the folder (test_bundle.py and test_video.py).
    """
    from merkit.experiments.config import DataConfig
    from merkit.experiments.sources import load_table

    base = tmp_path_factory.mktemp("bundle")
    cfg = base / "fit.toml"
    cfg.write_text("\n".join([
        "[data]", 'source = "synth"', f'synth_root = "{base / "tiny"}"', 'synth_preset = "tiny"',
        "[features]", f'cache_dir = "{base / "cache"}"', 'flow = "dis"',
        "[model]", 'name = "ststnet"',
        "[train]", "epochs = 3", "batch_size = 4", "progress = false", "threads = 1",
    ]) + "\n")
    out = base / "model"
    assert main(["fit", str(cfg), "--out", str(out)]) == 0
    table, _ = load_table(DataConfig(source="synth", synth_root=str(base / "tiny"), synth_preset="tiny"))
    return out, table, base
