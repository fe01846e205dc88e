"""Progress bars: every command that shows them has --no-progress, and none redraws when stderr is no terminal."""

import io
import sys

import cv2
import pytest
from click.testing import CliRunner

from merkit.cli import app, main
from merkit.cli._progress import progress_enabled
from merkit.errors import MerkitError
from tests._helpers.videos import long_video

COMMANDS_WITH_PROGRESS = ("spot", "predict", "train", "fit", "prepare", "faces", "demo")
ESCAPES = ("\r", "\x1b[")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """A 60-frame SynthME frame folder (30 fps)."""
    return long_video(tmp_path_factory.mktemp("progress"), n_frames=60, n_micro=1, n_macro=0)[1]


@pytest.mark.parametrize("command", COMMANDS_WITH_PROGRESS)
def test_every_command_with_progress_has_no_progress(command, capsys):
    assert main([command, "--help"]) == 0
    assert "--no-progress" in capsys.readouterr().out


def test_bars_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress_enabled(False)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress_enabled(False) and not progress_enabled(True)


def test_spot_draws_bars_on_a_terminal_only_and_never_with_no_progress(frames, tmp_path, monkeypatch):
    for k, extra in enumerate(([], ["--no-progress"])):
        result = CliRunner().invoke(app, ["spot", str(frames), "--fps", "30", "--out", str(tmp_path / f"o{k}"), *extra])
        assert result.exit_code == 0, result.output
        assert "15_0101disgustingteeth: 60 frames at 30 fps" in result.output  # one plain line per video
        assert not any(e in result.output for e in ESCAPES)
    for k, (extra, drawn) in enumerate((([], True), (["--no-progress"], False))):
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        assert main(["spot", str(frames), "--fps", "30", "--out", str(tmp_path / f"t{k}"), *extra]) == 0
        monkeypatch.undo()
        assert ("micro curve" in terminal.getvalue() and "\r" in terminal.getvalue()) is drawn


def test_faces_bar_is_hidden_off_a_terminal(astronaut, tmp_path):
    clip = tmp_path / "clip"
    clip.mkdir()
    for n in (1, 2):
        cv2.imwrite(str(clip / f"img{n}.jpg"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    result = CliRunner().invoke(app, ["faces", str(clip), "--out", str(tmp_path / "faces"), "--no-overlay"])
    assert result.exit_code == 0, result.output
    assert "1 clips aligned" in result.output and not any(e in result.output for e in ESCAPES)


@pytest.mark.parametrize("command", ["train", "fit"])
def test_training_bars_are_off_when_hidden_or_not_on_a_terminal(command, tmp_path, monkeypatch):
    import merkit.experiments.config as config

    seen = []

    def load_config(path, overrides=()):
        seen.append(tuple(overrides))
        raise MerkitError("stop here")

    monkeypatch.setattr(config, "load_config", load_config)
    cfg = tmp_path / "x.toml"
    cfg.write_text("")
    args = ["train", "--config", str(cfg)] if command == "train" else ["fit", str(cfg), "--out", str(tmp_path / "m")]
    for stderr, extra in ((io.StringIO(), []), (_Terminal(), []), (_Terminal(), ["--no-progress"])):
        monkeypatch.setattr(sys, "stderr", stderr)
        assert main(args + extra) == 1
    assert [("train.progress=false" in o) for o in seen] == [True, False, True]
