"""Fold executors: the process pool gives the in-process predictions, for any executor and worker count."""

import numpy as np
import pandas as pd
import pytest

from merkit.experiments.config import config_from_dict
from merkit.experiments.executors import ProcessPoolFoldExecutor
from merkit.experiments.run import run_experiment


def test_process_pool_gives_the_same_predictions(tmp_path, feature_file):
    raw = {"data": {"source": "npz", "features_file": str(feature_file)},
           "model": {"name": "biwoof_svm"}, "run": {"seeds": [0], "bootstrap": 0}}
    paths = {}
    for executor in ("inprocess", "process"):
        raw["run"] = {**raw["run"], "executor": executor, "out_dir": str(tmp_path / executor)}
        run_experiment(config_from_dict(raw))
        files = sorted((tmp_path / executor / "predictions" / "seed0").glob("*.csv"))
        paths[executor] = pd.concat([pd.read_csv(f) for f in files])
    pd.testing.assert_frame_equal(paths["inprocess"], paths["process"])
    with pytest.raises(ValueError, match="workers and threads"):
        ProcessPoolFoldExecutor(0)


def test_torch_predictions_do_not_depend_on_the_executor_or_worker_count(tmp_path, feature_file):
    frames = {}
    for executor, workers in (("inprocess", 1), ("process", 1), ("process", 2)):
        out = tmp_path / f"{executor}{workers}"
        raw = {"data": {"source": "npz", "features_file": str(feature_file)}, "model": {"name": "ststnet"},
               "train": {"epochs": 3, "batch_size": 16, "progress": False},
               "run": {"seeds": [0], "bootstrap": 0, "executor": executor, "workers": workers, "out_dir": str(out)}}
        run_experiment(config_from_dict(raw))
        files = sorted((out / "predictions" / "seed0").glob("*.csv"))
        frames[(executor, workers)] = pd.concat([pd.read_csv(f) for f in files]).reset_index(drop=True)
    first = frames[("inprocess", 1)]
    for key, frame in frames.items():
        pd.testing.assert_frame_equal(frame, first, check_exact=True, obj=str(key))
    assert np.isfinite(first.filter(like="prob_").to_numpy()).all()
