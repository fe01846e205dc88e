import json

import numpy as np
import pandas as pd
import pytest

from merkit.cli import main
from merkit.evaluation.bootstrap import bootstrap_ci, compare_runs
from merkit.evaluation.runner import InProcessExecutor
from merkit.experiments.config import config_from_dict
from merkit.experiments.executors import ProcessPoolFoldExecutor
from merkit.experiments.run import run_experiment


def _write_config(path, features, out_dir, **sections):
    lines = ["[data]", 'source = "npz"', f'features_file = "{features}"', "[run]", f'out_dir = "{out_dir}"',
             "seeds = [0, 1]", "bootstrap = 200", "[train]", "epochs = 8", "lr = 0.01", "progress = false",
             "threads = 1"]  # one torch thread: tiny batches gain nothing from more, and on a loaded
    # CI machine intra-op threads wait on each other (this test took 40-400 s with the default)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_merkit_train_end_to_end(tmp_path, feature_file, capsys):
    cfg = _write_config(tmp_path / "exp.toml", feature_file, tmp_path / "run")
    assert main(["train", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "| ststnet |" in out and "bootstrap CI" in out
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["select_on_test"] is False
    assert metrics["seeds"] == [0, 1]
    assert metrics["summary"]["full"]["uf1"]["mean"] > 0.6  # the features carry the class; chance is ~0.33
    assert (run / "report.md").exists() and (run / "bootstrap.json").exists()
    assert len(list((run / "predictions" / "seed0").glob("*.csv"))) == 12  # 3 sources x 4 subjects
    # unknown key on the command line names it
    assert main(["train", "--config", str(cfg), "--set", "train.epoch=3"]) == 1
    assert "unknown key" in capsys.readouterr().err
    # re-scoring the run reproduces the table
    assert main(["evaluate", str(run)]) == 0


def test_shuffled_labels_score_near_chance(tmp_path, feature_file):
    raw = {"data": {"source": "npz", "features_file": str(feature_file), "shuffle_labels": True},
           "model": {"name": "biwoof_svm"}, "method": {"options": {"C": [1.0]}},
           "run": {"out_dir": str(tmp_path / "shuffled"), "seeds": [0], "bootstrap": 0}}
    honest = run_experiment(config_from_dict(raw))
    raw["data"]["shuffle_labels"] = False
    raw["run"]["out_dir"] = str(tmp_path / "real")
    real = run_experiment(config_from_dict(raw))
    assert real.metrics["summary"]["full"]["uf1"]["mean"] > 0.7
    assert honest.metrics["summary"]["full"]["uf1"]["mean"] < 0.55


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
    assert isinstance(InProcessExecutor(), object)
    with pytest.raises(ValueError, match="workers and threads"):
        ProcessPoolFoldExecutor(0)


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


def test_composite_loso_from_dataset_roots_with_a_raw_layout_smic_root(tmp_path):
    """Issue 20: `roots.smic_hs` at a SMIC copy's raw `SMIC_all_raw/HS` folder, loader options as tables."""
    from merkit.synth import generate

    root = tmp_path / "tiny"
    generate(root, "tiny", seed=0)
    cfg = tmp_path / "raw.toml"
    cfg.write_text("\n".join([
        "[data]", 'source = "datasets"', f'composite_gt = "{root / "combined_3class_gt.csv"}"',
        "[data.roots]", f'casme2 = {{ root = "{root / "CASME2"}", apex_policy = "midpoint" }}',
        f'samm = "{root / "SAMM"}"', f'smic_hs = "{root / "SMIC" / "SMIC_all_raw" / "HS"}"',
        "[features]", f'cache_dir = "{tmp_path / "cache"}"',
        "[model]", 'name = "biwoof_svm"',
        "[run]", f'out_dir = "{tmp_path / "run"}"', "bootstrap = 0",
    ]) + "\n")
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["datasets"] == ["casme2", "samm", "smic_hs"]
    bad = cfg.read_text().replace('apex_policy = "midpoint"', 'apex_polcy = "midpoint"')
    cfg.write_text(bad)
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 1  # unknown loader option, named
