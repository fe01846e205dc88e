"""ONNX export: every registered model matches PyTorch through onnxruntime; bundles predict with either backend."""

import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'merkit[onnx]')")

import merkit  # noqa: E402
from merkit.cli import main  # noqa: E402
from merkit.deploy.onnx import export_network  # noqa: E402
from merkit.errors import ConfigError  # noqa: E402
from merkit.models import create_model, list_models  # noqa: E402


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_exports_with_probabilities_within_1e_4(name, tmp_path):
    import torch

    torch.manual_seed(0)
    model = create_model(name)
    input_size = tuple(model.default_cfg["input_size"])
    exporter, worst = export_network(model, input_size, tmp_path / f"{name}.onnx")
    assert worst < 1e-4 and exporter in ("torchscript", "dynamo")
    assert (tmp_path / f"{name}.onnx").stat().st_size > 1000


def test_exported_bundle_predicts_a_real_clip_like_torch(tmp_path):
    from merkit.experiments.config import DataConfig
    from merkit.experiments.sources import load_table

    cfg = tmp_path / "fit.toml"
    cfg.write_text("\n".join([
        "[data]", 'source = "synth"', f'synth_root = "{tmp_path / "tiny"}"', 'synth_preset = "tiny"',
        "[features]", f'cache_dir = "{tmp_path / "cache"}"', 'flow = "dis"',
        "[model]", 'name = "ststnet"', "[train]", "epochs = 2", "batch_size = 4", "progress = false",
    ]) + "\n")
    bundle = tmp_path / "model"
    assert main(["fit", str(cfg), "--out", str(bundle)]) == 0
    with pytest.raises(ConfigError, match="merkit export"):
        merkit.load_model(bundle).predict_inputs(np.zeros((1, 3, 28, 28), np.float32), backend="onnx")
    assert main(["export", str(bundle), "--format", "onnx"]) == 0
    card = json.loads((bundle / "card.json").read_text())
    assert card["onnx"]["file"] == "model.onnx" and card["onnx"]["parity_max_abs_probability"] < 1e-4
    model = merkit.load_model(bundle)
    table, _ = load_table(DataConfig(source="synth", synth_root=str(tmp_path / "tiny"), synth_preset="tiny"))
    for _, row in table.iloc[:3].iterrows():
        frames = np.stack([__import__("cv2").imread(p)[..., ::-1] for p in row["frame_paths"]])
        at = {"onset": int(row["onset_index"]), "apex": int(row["apex_index"]), "offset": int(row["offset_index"])}
        torch_p = model.predict(frames, **at)
        onnx_p = model.predict(frames, backend="onnx", **at)
        np.testing.assert_allclose(onnx_p.to_numpy(), torch_p.to_numpy(), atol=1e-4)
    with pytest.raises(ConfigError, match="backend"):
        model.predict_inputs(np.zeros((1, 3, 28, 28), np.float32), backend="tensorrt")
    with pytest.raises(ConfigError, match="--int8"):
        model.predict_inputs(np.zeros((1, 3, 28, 28), np.float32), backend="onnx-int8")
    assert main(["export", str(bundle), "--int8"]) == 0
    cost = json.loads((bundle / "card.json").read_text())["onnx"]["int8"]
    assert (bundle / cost["file"]).is_file() and 0 <= cost["max_abs_probability"] < 0.2
    model = merkit.load_model(bundle)
    x = np.random.default_rng(0).uniform(0, 1, (4, 3, 28, 28)).astype(np.float32)
    p8 = model.predict_inputs(x, backend="onnx-int8")
    np.testing.assert_allclose(p8.sum(1), 1.0, atol=1e-9)
    assert np.abs(p8 - model.predict_inputs(x, backend="onnx")).max() <= cost["max_abs_probability"] + 0.05


def test_a_bundle_without_a_network_is_refused(tmp_path, feature_file):
    from merkit.experiments.config import config_from_dict
    from merkit.experiments.run import fit_experiment

    cfg = config_from_dict({"data": {"source": "npz", "features_file": str(feature_file)},
                            "model": {"name": "biwoof_svm"}})
    fit_experiment(cfg, tmp_path / "svm")
    assert main(["export", str(tmp_path / "svm")]) == 1
