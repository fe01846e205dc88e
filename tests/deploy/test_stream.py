"""`predict_stream` / `merkit predict --live`: classify intervals as a stream's frames arrive, from a bounded buffer."""

import numpy as np
import pandas as pd
import pytest

from merkit.cli import main
from merkit.deploy.bundle import load_model
from merkit.deploy.video import classify_interval, predict_stream
from merkit.motion.spotting import SpotConfig, SpottedInterval, spot_stream
from tests._helpers.videos import long_video, serve, write_mp4


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """RGB frames of a 300-frame SynthME video (events after the warm-up) and the same frames as an mp4."""
    base = tmp_path_factory.mktemp("stream")
    _, _, frames = long_video(base / "synth", n_frames=300, seed=0, n_micro=2)
    return frames, write_mp4(base / "www" / "video.mp4", frames)


def test_each_row_is_predict_on_the_intervals_own_frames_from_a_bounded_buffer(fitted_bundle, stream):
    frames, _ = stream
    model = load_model(fitted_bundle[0])
    predictions = predict_stream(model, iter(frames), 30.0)
    spotter = predictions.run.spotter
    assert predictions.buffer_frames == spotter.max_interval_frames + spotter.latency_frames + 1 < len(frames)
    sizes = []
    keep = predictions._keep
    predictions.run.on_frame = lambda f: (keep(f), sizes.append(len(predictions._ring)))
    rows = list(predictions)
    assert max(sizes) == predictions.buffer_frames  # the buffer filled up and never grew past its bound
    expected = [(i.onset + 1, i.apex + 1, i.offset + 1, i.kind) for i in spot_stream(frames, SpotConfig(), 30.0)]
    assert [(r["onset"], r["apex"], r["offset"], r["kind"]) for r in rows] == expected and len(rows) >= 2
    assert all(r["status"] == "ok" for r in rows) and predictions.run.stopped == "end of stream"
    for r in rows:
        clip = np.stack(frames[r["onset"] - 1:r["offset"]])
        direct = model.predict(clip, onset=0, apex=r["apex"] - r["onset"], offset=r["offset"] - r["onset"], fps=30.0)
        np.testing.assert_allclose([r[f"prob_{c}"] for c in model.classes], direct.to_numpy(), atol=1e-9)
        assert r["class"] == direct.idxmax()


def test_frames_that_left_the_buffer_are_reported_not_guessed(fitted_bundle, stream):
    frames, _ = stream
    predictions = predict_stream(load_model(fitted_bundle[0]), iter(frames), 30.0)
    for frame in frames[:200]:
        predictions._keep(frame)
    first = 200 - predictions.buffer_frames
    assert predictions._clip(first - 1, first + 5) is None and predictions._clip(190, 200) is None
    np.testing.assert_array_equal(predictions._clip(first, first + 2), np.stack(frames[first:first + 3]))
    row = classify_interval(predictions.model, SpottedInterval(10, 15, 20, 1.0, 6.0, "micro"), predictions._clip, 30.0)
    assert row["status"] == "not classified: its frames are no longer buffered" and row["class"] is None


def test_merkit_predict_live_appends_classified_rows(fitted_bundle, stream, tmp_path, capsys):
    frames, video = stream
    out = tmp_path / "live"
    with serve(video.parent) as url:
        assert main(["predict", "--live", f"{url}/video.mp4", "--model", str(fitted_bundle[0]), "--out", str(out),
                     "--max-seconds", "9"]) == 0
    table = pd.read_csv(out / "video_predictions.csv")
    assert {"onset", "apex", "offset", "kind", "status", "class", "prob_negative"} <= set(table.columns)
    assert len(table) >= 2 and (table["status"] == "ok").all()
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[0, "frames"] == 270 and summary.loc[0, "status"] == "ok (max seconds)"
    assert summary.loc[0, "classified"] == len(table)
    assert "classified by ststnet" in capsys.readouterr().out
    assert main(["predict", "--live", str(video), "--model", str(fitted_bundle[0]), "--out", str(out),
                 "--backend", "onnx"]) == 1
    assert "merkit export" in capsys.readouterr().err
