"""Spotting a whole long-video dataset and scoring it (library and `merkit spot --dataset`)."""

from __future__ import annotations

import csv

import pytest

from merkit.data.longvideo import load_long_videos
from merkit.evaluation.spotting_run import spot_long_videos, write_spotting_run
from merkit.motion.spotting import SpotConfig
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    cfg = LongVideoConfig(layout="samm_lv", fps=30, n_subjects=2, n_frames=240, n_micro=1, n_macro=1, n_blinks=1,
                          n_head_moves=1)
    return generate_long_videos(tmp_path_factory.mktemp("run") / "out", cfg, seed=4)


def test_spot_long_videos_scores_with_frame_numbers_on_disk(dataset, tmp_path):
    videos = load_long_videos("samm_lv", dataset.root, fps=30)
    run = spot_long_videos(videos, SpotConfig(method="flow_roi"))
    assert run.minutes == pytest.approx(2 * 240 / 30 / 60)
    assert len(run.truth) == 4 and run.report.overall.tp + run.report.overall.fn == 4
    assert all(1 <= p.onset <= p.offset <= 240 for p in run.predictions)  # numbers as in 006_1_0001.jpg
    assert run.report.overall.f1 > 0.3  # better than the random reference of the benchmark (~0.03)
    paths = write_spotting_run(run, tmp_path, "samm_lv")
    with open(paths["metrics"]) as fh:
        rows = list(csv.DictReader(fh))
    overall = next(r for r in rows if r["scope"] == "overall")
    assert float(overall["f1"]) == pytest.approx(round(run.report.overall.f1, 4))
    header = paths["predictions"].read_text().splitlines()[0]
    assert header.startswith("vid,pred_onset,pred_offset,type")


def test_cli_spot_dataset(dataset, tmp_path, capsys):
    from merkit.cli import main

    cli_dir, train_dir = tmp_path / "spot", tmp_path / "train"
    assert main(["spot", str(dataset.root), "--dataset", "samm_lv", "--fps", "30", "--out", str(cli_dir)]) == 0
    out = capsys.readouterr().out
    assert "overall  TP" in out and "samm_lv: 2 videos" in out
    # the same runner and run directory as `merkit train` with [protocol] name = "megc_spotting"
    config = tmp_path / "spot.toml"
    config.write_text(f'[data]\nsource = "datasets"\nroots = {{ samm_lv = {{ root = "{dataset.root}", fps = 30 }} }}\n'
                      f'[protocol]\nname = "megc_spotting"\noptions = {{ method = "flow_roi" }}\n'
                      f'[run]\nout_dir = "{train_dir}"\n')
    assert main(["train", "--config", str(config)]) == 0
    names = ("config.yaml", "metrics.json", "predictions.csv", "metrics.csv", "per_video.csv", "run.json")
    for name in names:
        assert (cli_dir / name).is_file() and (train_dir / name).is_file(), name
    for name in ("metrics.json", "predictions.csv", "metrics.csv", "per_video.csv"):
        assert (cli_dir / name).read_text() == (train_dir / name).read_text(), name
