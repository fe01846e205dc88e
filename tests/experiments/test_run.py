"""run_experiment and `merkit train` end to end: npz features, dataset roots, shuffled labels, the public API."""

import json

import pytest

import merkit
from merkit.cli import main
from merkit.errors import ConfigError
from merkit.experiments.config import config_from_dict
from merkit.experiments.run import feature_kind, run_experiment


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


def test_public_api_runs_an_experiment_and_gives_tidy_frames(tmp_path, feature_file):
    result = merkit.run_experiment({"data": {"source": "npz", "features_file": str(feature_file)},
                                    "model": {"name": "biwoof_svm"},
                                    "run": {"out_dir": str(tmp_path / "api"), "seeds": [0, 1], "bootstrap": 0}})
    df = result.to_frame()
    n = result.metrics["n_predictions_per_seed"]["0"]
    assert len(df) == 2 * n and df.groupby("seed").size().tolist() == [n, n]
    assert {"sample_key", "true_label", "pred_label", "prob_negative", "fold", "seed"} <= set(df.columns)
    folds = result.metrics_frame("fold")
    assert set(folds["seed"]) == {0, 1} and {"fold", "uf1", "uar", "n"} <= set(folds.columns)
    assert folds.groupby("seed")["n"].sum().tolist() == [n, n]
    per_dataset = result.metrics_frame("dataset")
    assert set(per_dataset["dataset"]) == set(df["dataset"])
    assert len(result.metrics_frame("seed")) == 2
    with pytest.raises(ConfigError):
        result.metrics_frame("subject")
    assert merkit.create_model("ststnet", num_classes=5).num_classes == 5


def test_model_option_inputs_selects_the_feature_kind():
    cfg = config_from_dict({"model": {"name": "mier_cvt", "options": {"inputs": "flow_uv_strain_uniform2"}}})
    assert feature_kind(cfg.model.name, cfg.model.options) == "flow_uv_strain_uniform2"
    assert feature_kind("mier_cvt") == "flow_uv_strain"
    assert feature_kind("biwoof_svm", {"inputs": "x"}) == "biwoof"
