"""`merkit spot --live URL`: a local file served over HTTP on 127.0.0.1, spotted as a stream."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from merkit.cli import main
from merkit.cli._live import live_name
from merkit.data.live import open_stream
from merkit.motion.spotting import SpotConfig, spot_stream
from merkit.motion.spotting.live import LiveCSV
from tests._helpers.videos import long_video, serve, write_mp4

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A 300-frame SynthME video (two micro-, one macro-expression, all after the 1 s warm-up) as an mp4."""
    base = tmp_path_factory.mktemp("live")
    _, _, frames = long_video(base / "synth", n_frames=300, seed=0, n_micro=2)
    return write_mp4(base / "www" / "video.mp4", frames)


def _spans(table):
    return [tuple(r) for r in table[["onset", "apex", "offset", "kind"]].itertuples(index=False)]


def test_live_http_stream_finds_what_the_streaming_spotter_finds_in_the_file(served, tmp_path, capsys):
    with open_stream(served, color="gray") as frames:
        expected = [(i.onset + 1, i.apex + 1, i.offset + 1, i.kind) for i in spot_stream(frames, SpotConfig(), 30.0)]
    assert len(expected) >= 2
    with serve(served.parent) as url:
        assert main(["spot", "--live", f"{url}/video.mp4", "--out", str(tmp_path / "live")]) == 0
    out = capsys.readouterr().out
    assert "video: 300 frames at 30 fps" in out and "end of stream" in out
    live = pd.read_csv(tmp_path / "live" / "video_intervals.csv")
    assert _spans(live) == expected
    megc = pd.read_csv(tmp_path / "live" / "video_megc.csv")
    assert megc["vid"].eq("video").all() and megc[["pred_onset", "pred_offset"]].values.tolist() == [
        [a, b] for a, _, b, _ in expected]
    info = json.loads((tmp_path / "live" / "video_spot.json").read_text())
    assert info["live"] and info["n_frames"] == 300 and info["stopped"] == "end of stream"
    assert info["latency_frames"] > 0 and info["max_interval_frames"] > 0
    summary = pd.read_csv(tmp_path / "live" / "summary.csv")
    assert summary.loc[0, "status"] == "ok (end of stream)" and summary.loc[0, "intervals"] == len(expected)
    # close to the whole-file spotter (its noise level is the whole curve's, not a sliding window's)
    assert main(["spot", str(served), "--out", str(tmp_path / "file")]) == 0
    whole = _spans(pd.read_csv(tmp_path / "file" / "video_intervals.csv"))
    assert len(whole) == len(expected)
    for (a, apex, b, kind), (a2, apex2, b2, kind2) in zip(whole, expected):
        assert kind == kind2 and abs(apex - apex2) <= 2 and min(b, b2) - max(a, a2) > 0.5 * (b - a)


def test_max_seconds_and_errors(served, tmp_path, capsys):
    out = tmp_path / "live"
    assert main(["spot", "--live", str(served), "--max-seconds", "4", "--out", str(out), "--vid", "v"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[0, "frames"] == 120 and summary.loc[0, "status"] == "ok (max seconds)"
    assert json.loads((out / "v_spot.json").read_text())["stopped"] == "max seconds"
    capsys.readouterr()
    assert main(["spot", str(served), "--live", str(served), "--out", str(out)]) == 2
    assert "give no SOURCE" in capsys.readouterr().err
    assert main(["spot", str(served), "--max-seconds", "2", "--out", str(out)]) == 2
    assert main(["spot", "--live", "http://127.0.0.1:9/none.mp4", "--out", str(out)]) == 1
    assert "cannot open live source 'http://127.0.0.1:9/none.mp4'" in capsys.readouterr().err
    assert main(["spot", "--live", "no-such-thing", "--out", str(out)]) == 1
    assert "not a camera index" in capsys.readouterr().err


def test_sigterm_stops_cleanly_with_every_interval_written(served, tmp_path):
    out = tmp_path / "live"
    csv = out / "video_intervals.csv"
    # served at about real time (300 frames in ~10 s), so the stream is still running when the signal comes
    with serve(served.parent, rate=served.stat().st_size / 10) as url:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen([sys.executable, "-m", "merkit", "spot", "--live", f"{url}/video.mp4", "--out",
                                 str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 25
        while not csv.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()
        header = csv.read_text()
        assert header == "onset,apex,offset,kind,score,strength,duration_s\n"  # valid CSV while running
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    info = json.loads((out / "video_spot.json").read_text())
    assert info["stopped"] == "stopped" and 0 < info["n_frames"] < 300
    assert pd.read_csv(csv).shape[1] == 7 and "stopped" in stdout
    assert pd.read_csv(out / "summary.csv").loc[0, "status"] == "ok (stopped)"


def test_live_csv_is_valid_after_every_row(tmp_path):
    path = tmp_path / "x.csv"
    with LiveCSV(path, ["a", "b", "c"]) as table:
        assert pd.read_csv(path).columns.tolist() == ["a", "b", "c"]
        for k in range(3):
            table.append({"a": k, "b": 1 / 3, "c": "x,y" if k else None})
            got = pd.read_csv(path)
            assert len(got) == k + 1 and got.loc[k, "b"] == pytest.approx(0.333333)
    assert got["c"].tolist()[1:] == ["x,y", "x,y"] and pd.isna(got.loc[0, "c"])


def test_live_names():
    assert live_name("0") == "camera0"
    assert live_name("rtsp://10.0.0.2:554/cam/main.sdp") == "main"
    assert live_name("http://host:8080/") == "host"
