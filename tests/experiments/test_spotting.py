"""`[protocol] name = "megc_spotting"`: `merkit train` spots long-video datasets and scores them (MEGC F1)."""

import json

import pytest

from merkit.cli import main
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


@pytest.fixture(scope="module")
def casme_sq(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=240, n_micro=2, n_macro=1, n_blinks=1, n_head_moves=0)
    return generate_long_videos(tmp_path_factory.mktemp("spotexp") / "casme_sq", cfg, seed=5).root


def _config(path, root, out, options="", roots=None):
    roots = roots or f'casme_sq = "{root}"'
    path.write_text("\n".join([
        "[data]", 'source = "datasets"', "[data.roots]", roots,
        "[protocol]", 'name = "megc_spotting"', f"options = {{ {options} }}",
        "[run]", f'out_dir = "{out}"',
    ]) + "\n")
    return path


def test_merkit_train_runs_the_spotting_protocol(casme_sq, tmp_path, capsys):
    from merkit.data.longvideo import load_long_videos
    from merkit.evaluation.spotting_run import spot_long_videos
    from merkit.motion.spotting import SpotConfig

    out = tmp_path / "run"
    cfg = _config(tmp_path / "spot.toml", casme_sq, out, 'method = "flow_roi", threshold_p = 5.0')
    assert main(["train", "--config", str(cfg)]) == 0
    assert "overall" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "megc_spotting" and metrics["videos"] == 1
    assert set(metrics["per_type"]) <= {"micro", "macro"}
    assert {p.name for p in out.iterdir()} >= {"predictions.csv", "metrics.csv", "per_video.csv", "run.json",
                                               "config.yaml"}
    # the same numbers as spotting the dataset directly with those options
    direct = spot_long_videos(load_long_videos("casme_sq", casme_sq), SpotConfig(method="flow_roi"))
    assert metrics["overall"]["f1"] == round(direct.report.overall.f1, 4) > 0


def test_bad_spotting_configs_name_the_problem(casme_sq, tmp_path, capsys):
    bad_option = _config(tmp_path / "a.toml", casme_sq, tmp_path / "a", 'treshold_p = 3.0')
    assert main(["train", "--config", str(bad_option)]) == 1
    assert "protocol.options.treshold_p" in capsys.readouterr().err
    not_long = _config(tmp_path / "b.toml", casme_sq, tmp_path / "b", roots=f'casme2 = "{casme_sq}"')
    assert main(["train", "--config", str(not_long)]) == 1
    assert "not a long-video dataset" in capsys.readouterr().err
    assert main(["train", "--config", str(_config(tmp_path / "c.toml", casme_sq, tmp_path / "c")),
                 "--save-model", str(tmp_path / "m")]) == 1
    assert "learns no model" in capsys.readouterr().err
