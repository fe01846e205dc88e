"""`merkit spot SOURCE...`: several files and folders, resume, summary.csv, failures, a pool of workers."""

import json
import os

import pandas as pd
import pytest

from merkit.cli import main
from merkit.motion.spotting import SpotConfig
from merkit.motion.spotting.batch import EARLIER, spot_videos
from tests._helpers.videos import long_video, write_mp4


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A folder with two mp4 videos and a corrupt one, and a frame folder (200 frames, 30 fps)."""
    base = tmp_path_factory.mktemp("spot_sources")
    _, folder, frames = long_video(base / "synth")
    videos = base / "videos"
    write_mp4(videos / "a.mp4", frames)
    write_mp4(videos / "b.mp4", frames[40:160])
    (videos / "c.mp4").write_bytes(b"not a video at all" * 10)
    return base, videos, folder, frames


def _summary(out):
    return pd.read_csv(out / "summary.csv").set_index("video")


def test_several_sources_resume_and_failures(sources, tmp_path, capsys):
    base, videos, folder, frames = sources
    out = tmp_path / "out"
    args = ["spot", str(videos), str(folder), "--fps", "30", "--out", str(out), "--no-progress"]
    assert main(args) == 1  # c.mp4 fails; the others are spotted
    captured = capsys.readouterr()
    assert "FAILED c: " in captured.err and "cannot open video file" in captured.err
    summary = _summary(out)
    assert list(summary.index) == ["a", "b", "c", "15_0101disgustingteeth"]
    assert list(summary.columns) == ["frames", "fps", "intervals", "micro", "macro", "classified", "status",
                                     "seconds", "source"]
    assert summary.loc["c", "status"].startswith("failed: cannot open video file")
    ok = summary.drop(index="c")
    assert (ok["status"] == "ok").all() and ok["classified"].isna().all()
    assert ok["frames"].tolist() == [200, 120, 200] and (ok["intervals"] == ok["micro"] + ok["macro"]).all()
    for name in ok.index:
        intervals = pd.read_csv(out / f"{name}_intervals.csv")
        assert len(intervals) == ok.loc[name, "intervals"]
        assert json.loads((out / f"{name}_done.json").read_text())["row"]["frames"] == ok.loc[name, "frames"]
    assert not (out / "c_done.json").exists()
    # the mp4 holds the frame folder's frames: the same intervals, give or take the codec
    a, f = pd.read_csv(out / "a_intervals.csv"), pd.read_csv(out / "15_0101disgustingteeth_intervals.csv")
    assert a["kind"].tolist() == f["kind"].tolist() and (abs(a["apex"] - f["apex"]) <= 2).all()

    # a rerun skips what is finished (files untouched), tries the failed video again
    stamp = {p.name: p.stat().st_mtime_ns for p in out.glob("a_*")}
    assert main(args) == 1
    assert "skipped, an earlier run made its files" in capsys.readouterr().out
    again = _summary(out)
    assert (again.drop(index="c")["status"] == EARLIER).all() and again.loc["c", "status"].startswith("failed")
    assert again.drop(columns="status").drop(index="c").equals(summary.drop(columns="status").drop(index="c"))
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("a_*")} == stamp

    # a changed source is not finished: b is spotted again, a and the frame folder are not
    write_mp4(videos / "b.mp4", frames[20:160])
    (videos / "c.mp4").unlink()
    assert main(args) == 0
    third = _summary(out)
    assert third.loc["b", "status"] == "ok" and third.loc["b", "frames"] == 140
    assert (third.loc[["a", "15_0101disgustingteeth"], "status"] == EARLIER).all()
    # ... nor one whose output file was lost
    (out / "b_score.png").unlink()
    assert main(args) == 0
    fourth = _summary(out)
    assert fourth.loc["b", "status"] == "ok" and (out / "b_score.png").is_file()
    assert (fourth.loc[["a", "15_0101disgustingteeth"], "status"] == EARLIER).all()
    # ... nor one spotted with other options
    assert main(["spot", str(videos / "b.mp4"), "--fps", "30", "--out", str(out), "--set", "threshold_p=6"]) == 0
    assert _summary(out).loc["b", "status"] == "ok"


def test_frame_folder_changes_are_seen(sources, tmp_path):
    _, _, folder, _ = sources
    from merkit.motion.spotting.batch import make_jobs

    copy = tmp_path / "frames"
    copy.mkdir()
    for p in sorted(folder.iterdir())[:60]:
        (copy / p.name).write_bytes(p.read_bytes())
    before = make_jobs([copy], {"x": 1})[0].key
    assert make_jobs([copy], {"x": 1})[0].key == before
    assert make_jobs([copy], {"x": 2})[0].key != before
    first = sorted(copy.iterdir())[0]
    first.write_bytes(first.read_bytes() + b"\0")
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))
    assert make_jobs([copy], {"x": 1})[0].key != before


def test_a_pool_gives_the_same_files(sources, tmp_path):
    _, videos, _, _ = sources
    copy = tmp_path / "b2.mp4"
    copy.write_bytes((videos / "b.mp4").read_bytes())
    seen = []
    pooled = spot_videos([videos / "b.mp4", copy], tmp_path / "pool", SpotConfig(), workers=2, on_video=seen.append)
    single = spot_videos([videos / "b.mp4"], tmp_path / "one", SpotConfig(), workers=1)
    assert pooled.n_failed == 0 and single.n_failed == 0 and sorted(r["video"] for r in seen) == ["b", "b2"]
    assert pooled.summary["video"].tolist() == ["b", "b2"]  # in the order of the sources, whichever ends first
    one = tmp_path / "one"
    for name in ("b", "b2"):
        assert (tmp_path / "pool" / f"{name}_intervals.csv").read_text() == (one / "b_intervals.csv").read_text()
        scores = pd.read_csv(tmp_path / "pool" / f"{name}_frames.csv").drop(columns="name")
        pd.testing.assert_frame_equal(scores, pd.read_csv(one / "b_frames.csv").drop(columns="name"))


def test_vid_is_for_one_video_and_mixed_folders_are_errors(sources, tmp_path, capsys):
    _, videos, folder, _ = sources
    out = tmp_path / "out"
    assert main(["spot", str(videos), str(folder), "--vid", "x", "--out", str(out)]) == 2
    assert "--vid names a single video" in capsys.readouterr().err
    assert main(["spot", str(videos), "--vid", "x", "--out", str(out)]) == 1  # one folder, several videos
    assert "distinct names" in capsys.readouterr().err
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.mp4").write_bytes((videos / "a.mp4").read_bytes())
    (mixed / "img1.jpg").write_bytes((folder / "img1.jpg").read_bytes())
    assert main(["spot", str(mixed), "--out", str(out)]) == 1
    assert "holds both video files" in capsys.readouterr().err
    assert main(["spot", "--out", str(out)]) == 2
