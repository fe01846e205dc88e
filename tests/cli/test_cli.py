import subprocess
import sys

from merkit.cli import main
from merkit.evaluation import create_protocol, run_protocol
from tests._helpers.evaluation import NearestCentroid, with_feature


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "evaluate" in out and "labels" in out


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "merkit", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "merkit, version" in out.stdout


def test_evaluate_rescores_a_run_and_prints_the_table(table, tmp_path, capsys):
    run = tmp_path / "centroid"
    metrics = run_protocol(with_feature(table), create_protocol("megc2019_composite"), NearestCentroid(), run)
    (run / "metrics.json").unlink()
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| centroid |" in out and f"{metrics['summary']['full']['uf1']['mean']:.4f}" in out
    assert (run / "metrics.json").exists()


def test_evaluate_on_a_folder_that_is_not_a_run_fails_clearly(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "config.yaml' does not exist" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
