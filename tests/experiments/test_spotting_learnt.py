"""``[protocol] name = "megc_spotting"`` with ``method = "learnt"``: LOSO run directory, CLI parity, option errors."""

from __future__ import annotations

import csv
import json

import pytest

from merkit.errors import ConfigError
from merkit.experiments.spotting import learnt_options, run_spotting_experiment, spotting_config
from merkit.motion.spotting.learnt import load_spotter
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos

# two subjects: a LOSO fold trains on one, so its thresholds are chosen on that subject's own curves
OPTIONS = {"method": "learnt", "regressor": "ridge", "seeds": [0, 1], "threshold_choice": "train"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    cfg = LongVideoConfig(layout="samm_lv", fps=30, n_subjects=2, n_frames=240, n_micro=1, n_macro=1, n_blinks=1,
                          n_head_moves=1)
    return generate_long_videos(tmp_path_factory.mktemp("learnt_run") / "out", cfg, seed=5)


@pytest.fixture(scope="module")
def run_dir(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("learnt_run_dir")
    run_spotting_experiment(spotting_config("samm_lv", str(dataset.root), str(out), OPTIONS, {"fps": 30}))
    return out


def test_learnt_run_writes_loso_files(run_dir):
    for name in ("config.yaml", "metrics.json", "predictions.csv", "metrics.csv", "per_video.csv", "per_fold.csv",
                 "per_seed.csv", "run.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == "learnt" and metrics["select_on_test"] is False
    assert set(metrics["per_seed"]) == {"0", "1"} and len(metrics["per_fold"]) == 2
    seeds = metrics["per_seed"].values()
    # pooled counts are the seeds' sums
    for key in ("tp", "fp", "fn"):
        assert metrics["overall"][key] == sum(s["overall"][key] for s in seeds)
    truth = metrics["overall"]["tp"] + metrics["overall"]["fn"]
    assert truth == 2 * 4  # two seeds x (two videos x one micro + one macro)
    with open(run_dir / "per_fold.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["seed"] for r in rows} == {"0", "1", "all"}
    with open(run_dir / "predictions.csv") as fh:
        preds = list(csv.DictReader(fh))
    assert preds and all(p["fold"] == f"samm_lv/{p['subject']}" for p in preds)  # fold holding it out
    models = sorted(p.name for p in (run_dir / "models").iterdir())
    assert len(models) == 4  # two folds x two seeds
    assert load_spotter(run_dir / "models" / models[0]).config.regressor == "ridge"


def test_cli_spot_set_method_learnt_runs_the_same(dataset, run_dir, tmp_path):
    from merkit.cli import main

    out = tmp_path / "cli"
    assert main(["spot", str(dataset.root), "--dataset", "samm_lv", "--fps", "30", "--out", str(out),
                 "--set", "method=learnt", "--set", "regressor=ridge", "--set", "seeds=[0, 1]",
                 "--set", "threshold_choice=train", "--no-progress"]) == 0
    for name in ("metrics.csv", "per_video.csv", "per_fold.csv", "per_seed.csv", "predictions.csv"):
        assert (out / name).read_text() == (run_dir / name).read_text(), name


def test_learnt_option_errors():
    with pytest.raises(ConfigError, match="threshold_p"):
        learnt_options({"method": "learnt", "threshold_p": 3})
    with pytest.raises(ConfigError, match="regresor"):
        learnt_options({"method": "learnt", "regresor": "ridge"})
    with pytest.raises(ConfigError, match="regressor"):
        learnt_options({"method": "learnt", "regressor": "forest"})
    spot, learnt = learnt_options({"method": "learnt", "crop_size": 96, "smooth_s": 0.2})
    assert spot.crop_size == 96 and learnt.smooth_s == 0.2
