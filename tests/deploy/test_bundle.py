"""Model bundles: `merkit fit` / `train --save-model` write weights + card; `merkit.load_model` predicts a clip.

The `fitted_bundle` fixture is in tests/deploy/conftest.py.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import merkit
from merkit.errors import ConfigError, DatasetNotFoundError, FrameReadError, ShapeError
from merkit.experiments.config import config_from_dict
from merkit.experiments.run import run_experiment


def test_bundle_holds_a_card_and_safetensors_only(fitted_bundle):
    out, table, _ = fitted_bundle
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "weights.safetensors"]
    card = json.loads((out / "card.json").read_text())
    assert card["method"] == "supervised" and card["model"] == "ststnet"
    assert card["classes"] == ["negative", "positive", "surprise"] and card["label_set"] == "megc3"
    assert card["input_kind"] == "flow_uv_strain"
    assert card["preprocessing"]["flow_backend"] == "dis" and "onset" in card["preprocessing"]["frames_used"]
    assert card["training_data"]["samples"] == len(table)
    assert card["metrics"] is None  # `merkit fit` does not evaluate
    assert card["merkit_version"] == merkit.__version__
    from safetensors.numpy import load_file

    arrays = load_file(str(out / "weights.safetensors"))
    assert arrays and all(k.startswith("model.") for k in arrays)


def test_loaded_model_predicts_a_frame_folder_and_an_array_as_in_training(fitted_bundle):
    from merkit.data.frames import ImageFiles, list_image_files

    out, table, _ = fitted_bundle
    model = merkit.load_model(out)
    row = table.iloc[0]
    folder = Path(row["frame_paths"][0]).parent
    on_disk = [str(p) for p in list_image_files(folder)]  # the folder may hold frames outside the clip
    at = {name: on_disk.index(row["frame_paths"][int(row[f"{name}_index"])]) for name in ("onset", "apex", "offset")}
    p = model.predict(folder, **at)
    assert list(p.index) == ["negative", "positive", "surprise"]
    assert p.sum() == pytest.approx(1.0) and (p >= 0).all()
    # the same inputs as the training pipeline computes for that sample
    inputs = model.method.prepare(table.iloc[:1].reset_index(drop=True))
    expected = model.fitted.predict_proba(inputs.take([row["sample_key"]]))[0]
    np.testing.assert_allclose(p.to_numpy(), expected, atol=1e-6)
    frames = ImageFiles(list(row["frame_paths"]), color="rgb").read_all()
    q = model.predict(frames, onset=int(row["onset_index"]), apex=int(row["apex_index"]),
                      offset=int(row["offset_index"]))  # the clip's own frames: positions within them
    np.testing.assert_allclose(q.to_numpy(), p.to_numpy(), atol=1e-6)
    r = model.predict(folder)  # apex found by motion, offset = last frame
    assert r.sum() == pytest.approx(1.0)


def test_bad_clips_and_bundles_get_clear_errors(fitted_bundle, tmp_path):
    out, _, _ = fitted_bundle
    model = merkit.load_model(out)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        model.predict(tmp_path / "nowhere")
    (tmp_path / "one").mkdir()
    with pytest.raises(FrameReadError, match="no image files"):
        model.predict(tmp_path / "one")
    import cv2

    cv2.imwrite(str(tmp_path / "one" / "0001.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetNotFoundError, match="at least 2"):
        model.predict(tmp_path / "one")
    with pytest.raises(ShapeError, match=r"\(T, H, W, 3\)"):
        model.predict(np.zeros((4, 8, 8, 2), np.uint8))
    with pytest.raises(DatasetNotFoundError, match="card.json"):
        merkit.load_model(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "weights.safetensors").write_bytes((out / "weights.safetensors").read_bytes())
    card = json.loads((out / "card.json").read_text())
    (broken / "card.json").write_text(json.dumps({**card, "bundle_format": 99}))
    with pytest.raises(ConfigError, match="format 99"):
        merkit.load_model(broken)


def _npz_config(feature_file, out_dir, model="ststnet", **method):
    raw = {"data": {"source": "npz", "features_file": str(feature_file)}, "model": {"name": model},
           "train": {"epochs": 4, "lr": 0.01, "progress": False, "threads": 1},
           "run": {"out_dir": str(out_dir), "seeds": [0], "bootstrap": 0}}
    if method:
        raw["method"] = {"options": method}
    return config_from_dict(raw)


@pytest.mark.parametrize("model", ["ststnet", "biwoof_svm"])
def test_train_save_model_records_metrics_and_restores_exactly(tmp_path, feature_file, model):
    from merkit.inputs.feature_set import FeatureSet

    result = run_experiment(_npz_config(feature_file, tmp_path / "run", model), save_model=tmp_path / "bundle")
    card = json.loads((tmp_path / "bundle" / "card.json").read_text())
    assert card["metrics"]["summary"]["full"]["uf1"]["mean"] == result.metrics["summary"]["full"]["uf1"]["mean"]
    assert card["metrics"]["select_on_test"] is False
    loaded = merkit.load_model(tmp_path / "bundle")
    data = np.load(feature_file)
    kind = "biwoof" if model == "biwoof_svm" else "flow_uv_strain"
    x = FeatureSet(data["sample_key"], data[kind], kind).take(list(data["sample_key"][:6]))
    # refit from the card alone: the same model as one trained the same way now
    from merkit.deploy.bundle import fit_final_model
    from merkit.evaluation.protocols import create_protocol
    from merkit.experiments.run import build_method
    from merkit.experiments.sources import load_table

    cfg = _npz_config(feature_file, tmp_path / "run", model)
    table, feats = load_table(cfg.data)
    protocol = create_protocol(cfg.protocol.name, label_set=cfg.protocol.label_set)
    prepared = protocol.prepare(table)
    method = build_method(cfg, prepared, feats[kind])
    fitted = fit_final_model(method, prepared, protocol.classes, seed=0)
    np.testing.assert_allclose(loaded.fitted.predict_proba(x), fitted.predict_proba(x), atol=1e-6)


def test_shuffled_label_models_are_not_saved(tmp_path, feature_file):
    raw = {"data": {"source": "npz", "features_file": str(feature_file), "shuffle_labels": True},
           "model": {"name": "biwoof_svm"}, "run": {"out_dir": str(tmp_path / "r"), "bootstrap": 0}}
    with pytest.raises(ConfigError, match="shuffle"):
        run_experiment(config_from_dict(raw), save_model=tmp_path / "b")
    assert not (tmp_path / "b").exists()
