"""`merkit predict VIDEO --model BUNDLE`: spot, then classify each interval with the bundle's own pipeline."""

import numpy as np
import pandas as pd
import pytest

from merkit.cli import main
from merkit.deploy.bundle import load_model
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=240, n_micro=2, n_macro=1, n_blinks=1, n_head_moves=0)
    m = generate_long_videos(tmp_path_factory.mktemp("predict") / "out", cfg, seed=5)
    return m.root / "rawpic" / "s15" / "15_0101disgustingteeth"


def test_predict_video_gives_one_classified_row_per_spotted_interval(fitted_bundle, long_video):
    from merkit.data.frames import open_frames
    from merkit.deploy.video import predict_video
    from merkit.motion.spotting import SpotConfig

    model = load_model(fitted_bundle[0])
    table, result = predict_video(model, long_video, fps=30.0)
    assert len(table) == len(result.intervals) >= 2
    assert table[["onset", "apex", "offset"]].to_numpy().tolist() == [
        [i.onset + 1, i.apex + 1, i.offset + 1] for i in result.intervals]
    ok = table[table["status"] == "ok"]
    assert len(ok) == len(table)
    probs = ok[[f"prob_{c}" for c in model.classes]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)
    assert (ok["class"] == [model.classes[k] for k in probs.argmax(1)]).all()
    # each row is exactly what predict() gives that interval's frames, aligned on its own onset
    first = result.intervals[0]
    frames = open_frames(long_video, fps=30.0, color="rgb")
    clip = np.stack([frames[i] for i in range(first.onset, first.offset + 1)])
    direct = model.predict(clip, onset=0, apex=first.apex - first.onset, offset=first.offset - first.onset, fps=30.0)
    np.testing.assert_allclose(probs[0], direct.to_numpy(), atol=1e-9)
    same = model.predict_video(long_video, fps=30.0, spot_config=SpotConfig())
    pd.testing.assert_frame_equal(same, table)  # the method is the function's table, deterministic


def test_merkit_predict_writes_a_table_and_a_plot(fitted_bundle, long_video, tmp_path, capsys):
    out = tmp_path / "pred"
    assert main(["predict", str(long_video), "--model", str(fitted_bundle[0]), "--out", str(out), "--fps", "30",
                 "--vid", "s15_0101"]) == 0
    table = pd.read_csv(out / "s15_0101_predictions.csv")
    assert len(table) >= 2 and {"onset", "apex", "offset", "kind", "class", "prob_negative"} <= set(table.columns)
    assert (out / "s15_0101_predictions.png").stat().st_size > 1000
    assert "classified by ststnet" in capsys.readouterr().out
    # clear errors: a missing file, a frame folder without a frame rate, a bundle without ONNX for --backend onnx
    assert main(["predict", str(tmp_path / "none.mp4"), "--model", str(fitted_bundle[0]), "--out", str(out)]) == 1
    assert main(["predict", str(long_video), "--model", str(fitted_bundle[0]), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "frame rate" in err
    assert main(["predict", str(long_video), "--model", str(fitted_bundle[0]), "--out", str(out), "--fps", "30",
                 "--backend", "onnx"]) == 1
    assert "merkit export" in capsys.readouterr().err
