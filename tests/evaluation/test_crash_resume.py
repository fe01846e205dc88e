"""`merkit train` killed with SIGKILL at the worst moments resumes to byte-identical results."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from merkit.cache import FeatureCache


def _config(tmp_path, synth, cache, out):
    path = tmp_path / f"{out.name}.toml"
    path.write_text("\n".join([
        "[data]", 'source = "synth"', f'synth_root = "{synth}"', 'synth_preset = "tiny"',
        "[features]", f'cache_dir = "{cache}"',
        "[model]", 'name = "ststnet"',
        "[train]", "epochs = 3", "batch_size = 4", "progress = false",
        "[run]", f'out_dir = "{out}"', "seeds = [0, 1]", "bootstrap = 50",
    ]) + "\n")
    return path


def _train(config, crash_at=None, kill_after=None):
    env = {k: v for k, v in os.environ.items() if k != "MERKIT_CRASH_AT"}
    if crash_at:
        env["MERKIT_CRASH_AT"] = crash_at
    cmd = [sys.executable, "-m", "merkit", "train", "--config", str(config), "--no-progress"]
    if kill_after is None:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600).returncode
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from merkit.synth import generate

    root = tmp_path_factory.mktemp("crash") / "tiny"
    generate(root, "tiny", seed=0)
    return root


def test_sigkill_at_any_point_then_resume_gives_byte_identical_metrics(tmp_path, synth):
    reference = tmp_path / "reference"
    assert _train(_config(tmp_path, synth, tmp_path / "cache_ref", reference)) == 0

    crashed = tmp_path / "crashed"
    config = _config(tmp_path, synth, tmp_path / "cache", crashed)
    config.write_text(config.read_text())
    # the worst moments: temp file complete, rename not done (cache entries, fold predictions, metrics, bootstrap)
    for point in ("cache/motion:2", "cache/faces:5", "predictions/seed0:3", "predictions/seed1:1",
                  "metrics.json:1", "bootstrap.json:1"):
        assert _train(config, crash_at=point) == -signal.SIGKILL, point
    rng = random.Random(0)
    for _ in range(2):  # and at random moments
        _train(config, kill_after=rng.uniform(2.0, 8.0))
    assert _train(config) == 0

    for name in ("metrics.json", "bootstrap.json"):  # config.yaml differs: it names the two folders
        assert (crashed / name).read_bytes() == (reference / name).read_bytes(), name
    ref_preds = sorted(p.relative_to(reference) for p in (reference / "predictions").rglob("*.csv"))
    assert ref_preds == sorted(p.relative_to(crashed) for p in (crashed / "predictions").rglob("*.csv"))
    for rel in ref_preds:
        assert (crashed / rel).read_bytes() == (reference / rel).read_bytes(), rel
    # every cache entry is whole: it loads, and a leftover temporary file is never counted as an entry
    cache = FeatureCache(tmp_path / "cache")
    info = cache.info()
    assert sum(n for n, _ in info.namespaces.values()) > 0
    for _ns_dir, entries in cache._namespace_entries(None):
        for entry in entries:
            with np.load(entry, allow_pickle=False) as npz:
                assert npz.files, entry
