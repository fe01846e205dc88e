"""``merkit prepare`` on a tiny SynthME tree read by the real CASME II loader."""

import pytest

from merkit.cli import main


@pytest.mark.slow
def test_prepare_then_everything_cached(tmp_path, capsys):
    from merkit.synth import generate

    generate(tmp_path / "synth", preset="tiny", seed=0)
    args = ["prepare", "casme2", "--root", str(tmp_path / "synth" / "CASME2"), "--size", "48", "--flow", "dis",
            "--workers", "1", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert " 0 cached, 0 failed" in first and "done" in first
    n = int(first.split(" samples")[0])
    assert n >= 1
    assert main(args) == 0
    assert f"{n} samples: 0 done, {n} cached, 0 failed" in capsys.readouterr().out


def test_prepare_rejects_a_bad_loader_option(tmp_path, capsys):
    assert main(["prepare", "casme2", "--root", str(tmp_path), "-o", "variant"]) == 2
    assert "--loader-option expects KEY=VALUE" in capsys.readouterr().err
