"""`merkit predict SOURCE...` / `predict_videos`: several videos, one model, resume, summary.csv, failures, a pool."""

import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.colors import to_rgba

from merkit.cli import app, main
from merkit.deploy.bundle import load_model
from merkit.deploy.video import _model_identity, predict_videos, prediction_figure
from merkit.motion.spotting.batch import EARLIER
from merkit.motion.spotting.report import KIND_COLORS
from tests._helpers.videos import long_video, write_mp4
from tests.motion.test_spot_report import assert_no_overlap, crowded_result, label_boxes


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A folder with a 200-frame and a 120-frame mp4 and a corrupt one; the frame folder of the first."""
    base = tmp_path_factory.mktemp("predict_sources")
    _, folder, frames = long_video(base / "synth")
    videos = base / "videos"
    write_mp4(videos / "a.mp4", frames)
    write_mp4(videos / "b.mp4", frames[40:160])
    (videos / "c.mp4").write_bytes(b"\0" * 100)
    return videos, folder


def test_predict_several_videos_resumes_and_reports_failures(fitted_bundle, videos, tmp_path, capsys):
    folder_of_videos, frame_folder = videos
    out = tmp_path / "pred"
    args = ["predict", str(folder_of_videos), str(frame_folder), "--model", str(fitted_bundle[0]), "--out", str(out),
            "--fps", "30"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "FAILED c:" in captured.err and "1 of 4 videos failed" in captured.err
    summary = pd.read_csv(out / "summary.csv").set_index("video")
    assert list(summary.index) == ["a", "b", "c", "15_0101disgustingteeth"]
    assert summary.loc["c", "status"].startswith("failed: cannot open video file")
    ok = summary.drop(index="c")
    assert (ok["status"] == "ok").all() and ok["frames"].tolist() == [200, 120, 200]
    for name in ok.index:
        table = pd.read_csv(out / f"{name}_predictions.csv")
        assert len(table) == ok.loc[name, "intervals"] >= 1
        assert (table["status"] == "ok").sum() == ok.loc[name, "classified"]
        assert (out / f"{name}_predictions.png").stat().st_size > 1000
    assert main(args) == 1  # the finished videos are skipped, the failed one is tried again
    again = pd.read_csv(out / "summary.csv").set_index("video")
    assert (again.drop(index="c")["status"] == EARLIER).all()
    assert "skipped, an earlier run" in capsys.readouterr().out


def test_a_changed_bundle_is_not_the_same_model(fitted_bundle, tmp_path):
    model = load_model(fitted_bundle[0])
    before = _model_identity(model)
    assert _model_identity(model) == before
    card = fitted_bundle[0] / "card.json"
    stat = card.stat()
    try:
        os.utime(card, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert _model_identity(model) != before
    finally:
        os.utime(card, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.slow  # two spawned workers each import torch and load the bundle: ~15 s of CPU whatever the videos
def test_a_pool_loads_the_model_in_each_worker_and_gives_the_same_tables(fitted_bundle, videos, tmp_path):
    folder_of_videos, _ = videos
    model = load_model(fitted_bundle[0])
    copy = tmp_path / "b2.mp4"
    copy.write_bytes((folder_of_videos / "b.mp4").read_bytes())
    sources = [folder_of_videos / "b.mp4", copy]
    pooled = predict_videos(model, sources, tmp_path / "pool", workers=2, loader=load_model)
    single = predict_videos(model, sources[:1], tmp_path / "one")
    assert pooled.n_failed == 0 and single.n_failed == 0 and pooled.summary["video"].tolist() == ["b", "b2"]
    expected = pd.read_csv(tmp_path / "one" / "b_predictions.csv")
    for name in ("b", "b2"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "pool" / f"{name}_predictions.csv"), expected)


def test_progress_never_redraws_when_the_output_is_not_a_terminal(fitted_bundle, videos, tmp_path):
    folder_of_videos, _ = videos
    for k, extra in enumerate(([], ["--no-progress"])):
        result = CliRunner().invoke(app, ["predict", str(folder_of_videos / "b.mp4"), "--model", str(fitted_bundle[0]),
                                          "--out", str(tmp_path / f"p{k}"), *extra])
        assert result.exit_code == 0, result.output
        assert "b: 120 frames" in result.output
        assert "\r" not in result.output and "\x1b[" not in result.output


def test_prediction_plot_labels_do_not_overlap_and_take_the_kind_colour():
    result = crowded_result()
    rows = [{"onset": i.onset + 1, "apex": i.apex + 1, "offset": i.offset + 1, "kind": i.kind,
             "class": ["negative", "positive", None, "surprise", "negative", "positive"][k]}
            for k, i in enumerate(result.intervals)]
    fig = prediction_figure(pd.DataFrame(rows), result)
    ax, boxes = label_boxes(fig)
    assert [t.get_text() for t in ax.texts] == ["negative", "positive", "?", "surprise", "negative", "positive"]
    assert_no_overlap(boxes)
    top = ax.transData.transform((0, max(np.nanmax(c) for c in result.curves.values())))[1]
    assert all(b.y0 > top for b in boxes)
    assert [to_rgba(line.get_color()) for line in ax.lines] == [to_rgba(KIND_COLORS["micro"]),
                                                                 to_rgba(KIND_COLORS["macro"])]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["micro score", "macro score", "micro interval", "macro interval", "no face"]
    assert {t.get_text(): to_rgba(t.get_color()) for t in ax.texts}["surprise"] == to_rgba(KIND_COLORS["micro"])
