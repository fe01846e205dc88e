import json

import numpy as np
import pandas as pd
import pytest

from merkit.errors import ConfigError, ShapeError
from merkit.evaluation import create_protocol, rescore_run, run_protocol
from merkit.evaluation.rundir import RunDirectory
from tests._helpers.evaluation import NearestCentroid, with_feature


class Killed(Exception):
    pass


class DiesAfter(NearestCentroid):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def __call__(self, table, task):
        if self.calls >= self.n:
            raise Killed()
        return super().__call__(table, task)


def test_resumed_run_gives_exactly_the_metrics_of_an_uninterrupted_run(table, tmp_path):
    data = with_feature(table)
    protocol = create_protocol("megc2019_composite")
    full = run_protocol(data, protocol, NearestCentroid(), tmp_path / "full", seeds=(0, 1), method_name="centroid")

    with pytest.raises(Killed):
        run_protocol(data, protocol, DiesAfter(7), tmp_path / "resumed", seeds=(0, 1), method_name="centroid")
    saved = list((tmp_path / "resumed" / "predictions").glob("seed*/*.csv"))
    assert len(saved) == 7
    assert not list((tmp_path / "resumed").rglob("*.tmp*")), "a killed run left a temporary file"
    second = NearestCentroid()
    resumed = run_protocol(data, protocol, second, tmp_path / "resumed", seeds=(0, 1), method_name="centroid")
    assert second.calls == 2 * 12 - 7
    assert resumed == full
    a = RunDirectory(tmp_path / "full").read_predictions()
    b = RunDirectory(tmp_path / "resumed").read_predictions()
    pd.testing.assert_frame_equal(a, b)


def test_run_directory_contents_and_seed_determinism(table, tmp_path):
    data = with_feature(table)
    protocol = create_protocol("megc2019_composite")
    m1 = run_protocol(data, protocol, NearestCentroid(), tmp_path / "a", seeds=(0, 1, 2), config={"model": "centroid"})
    m2 = run_protocol(data, protocol, NearestCentroid(), tmp_path / "b", seeds=(0, 1, 2), config={"model": "centroid"})
    assert m1 == m2
    run = tmp_path / "a"
    for name in ("config.yaml", "environment.json", "metrics.json", "report.md", "confusion_full.png",
                 "confusion_casme2.png", "confusion_samm.png", "confusion_smic_hs.png"):
        assert (run / name).is_file(), name
    preds = RunDirectory(run).read_predictions()
    assert {"sample_key", "fold", "seed", "true_label", "pred_label", "prob_negative", "prob_positive",
            "prob_surprise"} <= set(preds.columns)
    assert np.allclose(preds[["prob_negative", "prob_positive", "prob_surprise"]].sum(axis=1), 1.0)
    assert m1["summary"]["full"]["uf1"]["n_seeds"] == 3
    assert m1["per_seed"]["0"] != m1["per_seed"]["1"]  # seeds matter
    assert m1["summary"]["full"]["uf1"]["mean"] > 0.6  # the feature is learnable
    report = (run / "report.md").read_text()
    assert "| Method | Full UF1 | Full UAR | CASME II UF1 | CASME II UAR | SAMM UF1" in report
    assert "SELECT-ON-TEST" not in report
    env = json.loads((run / "environment.json").read_text())
    assert env["packages"]["numpy"] and env["device"] == "cpu"
    # rescoring from files reproduces the metrics
    assert rescore_run(run) == m1


def test_select_on_test_is_stamped_on_every_output(table, tmp_path):
    data = with_feature(table)
    seen = []

    def spy(tab, task):
        seen.append(np.array_equal(task.val_idx, task.test_idx))
        return NearestCentroid()(tab, task)

    metrics = run_protocol(data, create_protocol("megc2019_composite"), spy, tmp_path / "r", select_on_test=True)
    assert all(seen)
    assert metrics["select_on_test"] is True and "SELECT-ON-TEST" in metrics["WARNING"]
    assert "SELECT-ON-TEST" in (tmp_path / "r" / "report.md").read_text()
    assert "select_on_test: true" in (tmp_path / "r" / "config.yaml").read_text()
    assert RunDirectory(tmp_path / "r").read_predictions()["select_on_test"].all()


def test_honest_mode_never_validates_on_the_test_subject(table, tmp_path):
    data = with_feature(table)
    keys = create_protocol("megc2019_composite").prepare(data)["subject_key"].to_numpy()

    def spy(tab, task):
        assert task.fold.name not in set(keys[task.val_idx])
        assert task.fold.name not in set(keys[task.fit_idx])
        assert not set(keys[task.val_idx]) & set(keys[task.fit_idx])
        return NearestCentroid()(tab, task)

    run_protocol(data, create_protocol("megc2019_composite"), spy, tmp_path / "r")


def test_bad_fit_predict_output_and_changed_config_are_refused(table, tmp_path):
    data = with_feature(table)
    protocol = create_protocol("megc2019_composite")
    with pytest.raises(ShapeError, match=r"returned probabilities of shape \(\d+, 2\); expected \(\d+, 3\)"):
        run_protocol(data, protocol, lambda t, task: np.ones((len(task.test_idx), 2)), tmp_path / "bad")
    run_protocol(data, protocol, NearestCentroid(), tmp_path / "r", config={"lr": 1})
    with pytest.raises(ConfigError, match=r"keys \['lr'\] differ"):
        run_protocol(data, protocol, NearestCentroid(), tmp_path / "r", config={"lr": 2})


def test_shuffled_label_check_draws_a_fresh_permutation_per_seed(table, tmp_path):
    data = with_feature(table)
    protocol = create_protocol("megc2019_composite")
    seeds = (0, 1, 2)
    real = run_protocol(data, protocol, NearestCentroid(), tmp_path / "real", seeds=seeds)
    shuffled = run_protocol(data, protocol, NearestCentroid(), tmp_path / "shuffled", seeds=seeds,
                            label_shuffle_seed=5)
    truth = RunDirectory(tmp_path / "real").read_predictions().set_index(["seed", "sample_key"])["true_label"]
    perm = RunDirectory(tmp_path / "shuffled").read_predictions().set_index(["seed", "sample_key"])["true_label"]
    per_seed = {s: perm.xs(s).sort_index() for s in seeds}
    # every seed keeps the class counts but has its own labelling
    for s in seeds:
        assert per_seed[s].value_counts().to_dict() == truth.xs(s).value_counts().to_dict()
        assert (per_seed[s] != truth.xs(s).sort_index()).any()
    assert not per_seed[0].equals(per_seed[1]) and not per_seed[1].equals(per_seed[2])
    # the feature carries the real class, so only the real labels score well above chance
    assert real["summary"]["full"]["uf1"]["mean"] > 0.7
    assert shuffled["summary"]["full"]["uf1"]["mean"] < 0.55
    assert RunDirectory(tmp_path / "shuffled").read_config()["label_shuffle_seed"] == 5
