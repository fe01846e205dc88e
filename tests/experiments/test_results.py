"""One result type per task: RecognitionResult and SpottingResult, each readable as tidy frames."""

import numpy as np
import pytest

from merkit.errors import ConfigError
from merkit.experiments.config import config_from_dict
from merkit.experiments.result import ExperimentResult, RecognitionResult, SpottingResult
from merkit.experiments.run import run_experiment
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


def _feature_file(path, subjects=4, per_subject=6):
    """A feature file in the documented .npz format (merkit.experiments.sources.load_feature_file)."""
    rng = np.random.default_rng(0)
    n = subjects * per_subject
    labels = np.array(["negative", "positive", "surprise"] * (n // 3))
    classes = ["negative", "positive", "surprise"]
    x = (rng.normal(size=(n, 3, 28, 28)).astype(np.float32)
         + np.arange(3)[[classes.index(v) for v in labels]][:, None, None, None])
    np.savez(path, sample_key=np.array([f"casme2/s{i // per_subject}/c{i}" for i in range(n)]),
             subject_key=np.array([f"casme2/s{i // per_subject}" for i in range(n)]),
             dataset=np.array(["casme2"] * n), label=labels, flow_uv_strain=x)
    return path


@pytest.fixture(scope="module")
def recognition(tmp_path_factory):
    root = tmp_path_factory.mktemp("recognition")
    return run_experiment(config_from_dict({
        "data": {"source": "npz", "features_file": str(_feature_file(root / "f.npz"))},
        "protocol": {"name": "loso", "options": {"dataset": "casme2"}},
        "train": {"epochs": 2, "progress": False, "threads": 1},
        "run": {"out_dir": str(root / "run"), "seeds": [0, 1], "bootstrap": 50},
    }))


@pytest.fixture(scope="module")
def spotting(tmp_path_factory):
    root = tmp_path_factory.mktemp("spotting")
    cfg = LongVideoConfig(n_subjects=1, n_frames=240, n_micro=2, n_macro=1, n_blinks=1, n_head_moves=0)
    videos = generate_long_videos(root / "casme_sq", cfg, seed=5).root
    return run_experiment(config_from_dict({
        "data": {"source": "datasets", "roots": {"casme_sq": str(videos)}},
        "protocol": {"name": "megc_spotting", "options": {"method": "flow_roi"}},
        "run": {"out_dir": str(root / "run")},
    }))


def test_recognition_result_frames(recognition):
    assert type(recognition) is RecognitionResult and isinstance(recognition, ExperimentResult)
    frame = recognition.to_frame()
    assert len(frame) == 2 * 24 and set(frame["seed"]) == {0, 1}
    assert {"sample_key", "true_label", "pred_label", "prob_negative"} <= set(frame.columns)
    per_fold = recognition.metrics_frame("fold")
    assert len(per_fold) == 2 * 4 and {"seed", "fold", "uf1", "uar"} <= set(per_fold.columns)
    per_seed = recognition.metrics_frame("seed")
    assert list(per_seed["seed"]) == [0, 1] and "fold" not in per_seed
    with pytest.raises(ConfigError, match="must be 'fold', 'dataset' or 'seed'"):
        recognition.metrics_frame("video")
    lines = recognition.summary_lines("ststnet")
    assert any("ststnet" in line and "UF1" in line for line in lines) and any("bootstrap CI" in line for line in lines)


def test_spotting_result_frames(spotting):
    assert type(spotting) is SpottingResult and isinstance(spotting, ExperimentResult)
    predictions = spotting.to_frame()
    assert list(predictions.columns[:4]) == ["vid", "pred_onset", "pred_offset", "type"]
    assert len(predictions) == spotting.metrics["overall"]["tp"] + spotting.metrics["overall"]["fp"]
    by_type = spotting.metrics_frame("type")
    assert set(by_type["type"]) <= {"micro", "macro"} and {"tp", "fp", "fn", "f1"} <= set(by_type.columns)
    assert by_type["tp"].sum() == spotting.metrics["overall"]["tp"]
    assert list(spotting.metrics_frame("overall").columns) == ["tp", "fp", "fn", "precision", "recall", "f1"]
    assert set(spotting.metrics_frame("dataset")["dataset"]) == {"casme_sq"}
    with pytest.raises(ConfigError, match="must be 'type', 'dataset' or 'overall'"):
        spotting.metrics_frame("fold")
    assert spotting.summary_lines()[0].startswith("overall  TP")


def test_a_spotting_run_refuses_a_model_bundle(spotting):
    cfg = config_from_dict({"data": {"source": "datasets", "roots": {"casme_sq": "x"}},
                            "protocol": {"name": "megc_spotting"}})
    with pytest.raises(ConfigError, match="learns no model"):
        run_experiment(cfg, save_model="bundle")
