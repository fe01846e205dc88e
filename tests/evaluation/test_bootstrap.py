"""Bootstrap confidence intervals over subjects, and the table comparing runs."""

import numpy as np
import pandas as pd
import pytest

from merkit.evaluation.bootstrap import bootstrap_ci, compare_runs
from merkit.experiments.config import config_from_dict
from merkit.experiments.run import run_experiment


def _predictions(correct_fraction, n_subjects=10, per=10, seeds=(0,), rng=0):
    rng = np.random.default_rng(rng)
    classes = ["a", "b", "c"]
    rows = []
    for seed in seeds:
        for s in range(n_subjects):
            for i in range(per):
                t = classes[i % 3]
                p = t if rng.random() < correct_fraction else classes[(i + 1) % 3]
                rows.append({"subject_key": f"d/s{s}", "sample_key": f"d/s{s}/{i}", "seed": seed,
                             "true_label": t, "pred_label": p})
    return pd.DataFrame(rows), classes


def test_bootstrap_interval():
    perfect, classes = _predictions(1.0)
    ci = bootstrap_ci(perfect, classes, n_boot=200)
    assert ci["uf1"] == {"point": 1.0, "low": 1.0, "high": 1.0}
    noisy, classes = _predictions(0.6, seeds=(0, 1))
    ci = bootstrap_ci(noisy, classes, n_boot=500)
    for score in ("uf1", "uar"):
        assert ci[score]["low"] < ci[score]["point"] < ci[score]["high"]
    assert 0.4 < ci["uar"]["point"] < 0.8
    with pytest.raises(ValueError, match="bootstrap unit"):
        bootstrap_ci(noisy, classes, unit="fold")


def test_compare_runs_table(tmp_path, feature_file):
    raw = {"data": {"source": "npz", "features_file": str(feature_file)}, "model": {"name": "biwoof_svm"},
           "run": {"seeds": [0], "bootstrap": 100, "out_dir": str(tmp_path / "a")}}
    run_experiment(config_from_dict(raw))
    table = compare_runs({"svm": tmp_path / "a"})
    assert "| svm |" in table and "[" in table
