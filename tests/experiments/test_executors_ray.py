"""Ray executor: the same predictions as the process pool, a killed worker is retried, a killed driver resumes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'merkit[ray]')")

from merkit.evaluation.protocols import create_protocol  # noqa: E402
from merkit.evaluation.runner import run_protocol  # noqa: E402
from merkit.experiments.config import config_from_dict  # noqa: E402
from merkit.experiments.executors import RayFoldExecutor  # noqa: E402
from merkit.experiments.run import build_method, run_experiment  # noqa: E402
from merkit.experiments.sources import load_table  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    """One local Ray cluster with 2 worker CPUs for the module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _raw(feature_file, out, executor):
    return {"data": {"source": "npz", "features_file": str(feature_file)}, "model": {"name": "ststnet"},
            "train": {"epochs": 3, "batch_size": 16, "progress": False},
            "run": {"seeds": [0, 1], "bootstrap": 0, "executor": executor, "workers": 2, "out_dir": str(out)}}


def test_ray_gives_byte_identical_metrics_to_the_process_pool(tmp_path, feature_file):
    for executor in ("process", "ray"):
        run_experiment(config_from_dict(_raw(feature_file, tmp_path / executor, executor)))
    assert (tmp_path / "ray" / "metrics.json").read_bytes() == (tmp_path / "process" / "metrics.json").read_bytes()
    for path in sorted((tmp_path / "process" / "predictions").rglob("*.csv")):
        assert (tmp_path / "ray" / path.relative_to(tmp_path / "process")).read_bytes() == path.read_bytes()


class _KillWorkerOnce:
    """A fit-predict that kills its own worker process the first time it sees fold ``victim``."""

    def __init__(self, method, marker: Path, victim: str) -> None:
        self.method, self.marker, self.victim = method, marker, victim

    def __call__(self, table, task):
        if task.fold.name == self.victim and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return self.method(table, task)


def test_a_worker_killed_mid_task_is_retried_and_the_run_finishes(tmp_path, feature_file):
    cfg = config_from_dict(_raw(feature_file, tmp_path / "killed", "ray"))
    table, features = load_table(cfg.data)
    protocol = create_protocol(cfg.protocol.name, label_set=cfg.protocol.label_set)
    prepared = protocol.prepare(table)
    method = build_method(cfg, prepared, features["flow_uv_strain"])
    victim = protocol.folds(prepared)[1].name
    marker = tmp_path / "killed_once"
    killed = run_protocol(prepared, protocol, _KillWorkerOnce(method, marker, victim), tmp_path / "killed",
                          seeds=(0,), executor=RayFoldExecutor(workers=2))
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker died, not this process
    plain = run_protocol(prepared, protocol, method, tmp_path / "plain", seeds=(0,))
    assert killed["summary"] == plain["summary"]


def test_a_run_whose_driver_dies_resumes_to_the_same_metrics(tmp_path, feature_file):
    import yaml

    reference = tmp_path / "reference"
    run_experiment(config_from_dict(_raw(feature_file, reference, "process")))
    raw = _raw(feature_file, tmp_path / "resumed", "ray")
    config = tmp_path / "ray.yaml"
    config.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "merkit", "train", "--config", str(config), "--no-progress"]
    env = {**os.environ, "RAY_ADDRESS": ""}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.time() + 120
    predictions = tmp_path / "resumed" / "predictions"
    while time.time() < deadline and len(list(predictions.rglob("*.csv"))) < 3:  # some folds done, not all
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local cluster it started
    driver.wait(timeout=60)
    done_before = len(list(predictions.rglob("*.csv")))
    assert 0 < done_before < 24
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    assert (tmp_path / "resumed" / "metrics.json").read_bytes() == (reference / "metrics.json").read_bytes()
    pd.testing.assert_frame_equal(
        pd.concat(pd.read_csv(p) for p in sorted(predictions.rglob("*.csv"))),
        pd.concat(pd.read_csv(p) for p in sorted((reference / "predictions").rglob("*.csv"))))
    assert np.isfinite(pd.read_csv(next(predictions.rglob("*.csv"))).filter(like="prob_").to_numpy()).all()
