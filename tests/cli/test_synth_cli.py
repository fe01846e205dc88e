from merkit.cli import main


def test_synth_command(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", "--preset", "tiny", "--seed", "2", "--out", str(out), "--set", "blink_rate=0"]) == 0
    text = capsys.readouterr().out
    assert "SynthME tiny seed 2" in text and "casme2" in text
    assert (out / "combined_3class_gt.csv").is_file()
    assert (out / "CASME2" / "CASME2-coding-20140508.xlsx").is_file()
    # A second run into the same folder needs --overwrite; a MerkitError exits with 1.
    assert main(["synth", "--preset", "tiny", "--out", str(out)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert main(["synth", "--preset", "tiny", "--out", str(out), "--overwrite"]) == 0


def test_synth_bad_override(tmp_path, capsys):
    assert main(["synth", "--preset", "tiny", "--out", str(tmp_path / "x"), "--set", "blink_rat=0"]) == 1
    assert "Did you mean 'blink_rate'?" in capsys.readouterr().err
