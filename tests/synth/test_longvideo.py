"""SynthME long-video mode: layouts, events at known frames, ground truth, determinism."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos

SHORT = dict(n_subjects=1, n_frames=260, n_micro=2, n_macro=1, n_blinks=1, n_head_moves=1)


@pytest.fixture(scope="module")
def casme_sq(tmp_path_factory):
    return generate_long_videos(tmp_path_factory.mktemp("lv") / "out", LongVideoConfig(**SHORT), seed=3)


def test_tree_and_events(casme_sq):
    root = casme_sq.root
    assert (root / "CAS(ME)^2code_final.xlsx").is_file()
    frames = sorted((root / "rawpic" / "s15").glob("15_0101*/img*.jpg"))
    assert len(frames) == 260 and (root / "rawpic/s15/15_0101disgustingteeth/img1.jpg").is_file()
    kinds = sorted(e["kind"] for e in casme_sq.events)
    assert kinds == ["blink", "head", "macro", "micro", "micro"]
    spans = sorted((e["onset"], e["offset"]) for e in casme_sq.events)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start > end  # events never overlap
    with open(casme_sq.out_dir / "_groundtruth" / "events.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["onset"]) for r in rows] == [e["onset"] for e in casme_sq.events]


def test_head_move_moves_landmarks_and_expressions_move_pixels(casme_sq):
    lms = np.load(casme_sq.out_dir / "_groundtruth/s15/15_0101disgustingteeth/landmarks.npy")
    head = next(e for e in casme_sq.events if e["kind"] == "head")
    moved = np.linalg.norm(lms[head["offset"] - 1].mean(0) - lms[head["onset"] - 2].mean(0))
    assert moved == pytest.approx(head["peak_px"], rel=0.35)  # the step, plus a little sway
    folder = casme_sq.root / "rawpic/s15/15_0101disgustingteeth"
    macro = next(e for e in casme_sq.events if e["kind"] == "macro")
    onset = cv2.imread(str(folder / f"img{macro['onset']}.jpg"), 0).astype(float)
    apex = cv2.imread(str(folder / f"img{macro['apex']}.jpg"), 0).astype(float)
    before = cv2.imread(str(folder / f"img{macro['onset'] - 1}.jpg"), 0).astype(float)
    # The expression changes the face far more than one frame of sensor noise does.
    assert np.abs(apex - onset).mean() > 2 * np.abs(onset - before).mean()


def test_same_seed_same_bytes(tmp_path):
    cfg = LongVideoConfig(**{**SHORT, "n_frames": 200, "n_macro": 0})
    a = generate_long_videos(tmp_path / "a", cfg, seed=1)
    b = generate_long_videos(tmp_path / "b", cfg, seed=1)
    rel = "rawpic/s15/15_0101disgustingteeth/img120.jpg"
    assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes()
    assert a.events == b.events


def test_samm_lv_layout(tmp_path):
    m = generate_long_videos(tmp_path, LongVideoConfig(layout="samm_lv", fps=30, **{**SHORT, "n_frames": 220}))
    assert (m.root / "SAMM_LongVideos_V2_Release.xlsx").is_file()
    frame = cv2.imread(str(m.root / "SAMM_longvideos/006_1/006_1_0001.jpg"), cv2.IMREAD_UNCHANGED)
    assert frame.ndim == 2  # greyscale, as SAMM


def test_events_that_do_not_fit_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="do not fit in n_frames=60"):
        generate_long_videos(tmp_path, LongVideoConfig(**{**SHORT, "n_frames": 60}))
    with pytest.raises(ConfigError, match="layout must be one of"):
        LongVideoConfig(layout="smic_e")


def test_cli_long_videos(tmp_path, capsys):
    from merkit.cli import main

    code = main(["synth", "--long-videos", "samm_lv", "--out", str(tmp_path), "--set", "n_subjects=1",
                 "--set", "n_frames=200", "--set", "fps=30", "--set", "n_macro=1", "--set", "n_micro=1"])
    assert code == 0 and "1 videos of 200 frames at 30 fps, 1 micro and 1 macro" in capsys.readouterr().out
    assert len(list((tmp_path / "SAMM_LV" / "SAMM_longvideos" / "006_1").glob("*.jpg"))) == 200
    assert main(["synth", "--long-videos", "casme_sq", "--out", str(tmp_path / "x"), "--set", "n_frame=9"]) == 1
    assert "unknown LongVideoConfig field(s) ['n_frame']" in capsys.readouterr().err
