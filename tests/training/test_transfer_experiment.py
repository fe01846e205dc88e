"""Seed 003 end to end on SynthME macro faces standing in for micro apex frames (tiny, fast)."""

import json
import re

import pytest

from merkit.data import Sample, samples_to_table
from merkit.errors import ConfigError, UnknownNameError
from merkit.synth.macro import MacroConfig, generate_macro
from merkit.training.transfer_experiment import load_transfer_config, run_transfer_experiment

EMOTION = {"positive": "happiness", "negative": "disgust", "surprise": "surprise"}

CONFIG = """
[data]
source = "synth"
[protocol]
name = "megc2019_composite"
[run]
seeds = [0]
out_dir = "{out}"
bootstrap = 0
[transfer]
model = "mobilevit_xxs_me"
head = "{head}"
unfreeze_every = 1
[macro]
epochs = 2
batch_size = 8
threads = 1
device = "cpu"
patience = 5
[micro]
epochs = 2
batch_size = 8
threads = 1
device = "cpu"
[gray_apex]
size = 32
cache_dir = "{cache}"
[macro_data]
synth_root = "{macro}"
synth_subjects = 3
synth_takes = 1
synth_frames = 1
[grid]
enabled = {grid}
batch_size = [8]
lr = [0.001, 0.01]
epochs = [1]
inner_folds = 2
"""


@pytest.fixture(scope="module")
def micro_table(tmp_path_factory):
    """Three 'casme2' subjects whose apex frames are posed SynthME faces (dlib-detectable)."""
    root = tmp_path_factory.mktemp("micro_faces")
    manifest = generate_macro(root, MacroConfig(n_subjects=3, takes_per_class=2, frames_per_take=1), seed=77)
    samples = []
    for cls, subject, take, frame, _, _ in manifest.images:
        path = str(root / cls / f"{subject}_{take:02d}_{frame:02d}.png")
        sub = f"sub{int(subject[1:]):02d}"
        samples.append(Sample("casme2", sub, f"EP_{cls}_{take}", [path] * 3, [1, 2, 3], 1, 2, 3, 200.0,
                              emotion=EMOTION[cls]))
    return samples_to_table(samples)


def _write(tmp_path, head="svc", grid="false"):
    path = tmp_path / "exp.toml"
    path.write_text(CONFIG.format(out=tmp_path / "run", cache=tmp_path / "cache", macro=tmp_path / "macro",
                                  head=head, grid=grid))
    return path


def test_transfer_run_scores_every_sample_and_resumes(tmp_path, micro_table):
    cfg = load_transfer_config(_write(tmp_path, grid="true"))
    metrics = run_transfer_experiment(cfg, table=micro_table)
    assert (tmp_path / "run" / "transfer" / "seed0.pt").is_file()
    assert (tmp_path / "macro" / "macro_manifest.json").is_file()  # the macro set was generated
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["summary"] == metrics["summary"]
    assert 0.0 <= metrics["summary"]["full"]["uf1"]["mean"] <= 1.0
    again = run_transfer_experiment(cfg, table=micro_table)  # resumes: folds and phase-1 weights reused
    assert again["summary"] == metrics["summary"]


def test_no_transfer_ablation_runs_without_macro_images(tmp_path, micro_table):
    cfg = load_transfer_config(_write(tmp_path, head="softmax"), ("transfer.transfer=false",))
    metrics = run_transfer_experiment(cfg, table=micro_table)
    assert not (tmp_path / "run" / "transfer").exists() and not (tmp_path / "macro").exists()
    assert metrics["summary"]["full"]["uf1"]["mean"] >= 0.0


def test_config_errors_name_the_key(tmp_path):
    path = _write(tmp_path)
    with pytest.raises(UnknownNameError, match="lrate"):
        load_transfer_config(path, ("micro.lrate=0.1",))
    with pytest.raises(UnknownNameError, match=re.escape("section of exp.toml")):
        load_transfer_config(path, ("train.lr=0.1",))
    with pytest.raises(ConfigError, match=re.escape("own [micro] section")):
        load_transfer_config(path, ("transfer.micro=1",))
    cfg = load_transfer_config(path, ("grid.enabled=true", "micro.schedule=best_val"))
    with pytest.raises(ConfigError, match="micro.schedule must be 'fixed'"):
        run_transfer_experiment(cfg, table=None)


def test_cli_transfer_is_registered(capsys):
    from merkit.cli import main

    assert main(["transfer", "--help"]) == 0
    assert "--config" in capsys.readouterr().out


def test_a_macro_set_written_with_other_settings_is_refused(tmp_path):
    from merkit.training.transfer_experiment import MacroDataConfig, load_macro_table

    root = tmp_path / "macro"
    # an older set: other generator settings than MacroDataConfig asks for (e.g. the first, subtler defaults)
    generate_macro(root, MacroConfig(n_subjects=1, takes_per_class=1, frames_per_take=1, camera_preset="tiny",
                                     peak_iod=0.12, blob_scale=1.0), seed=1000)
    cfg = MacroDataConfig(synth_root=str(root), synth_subjects=1, synth_takes=1, synth_frames=1, synth_camera="tiny")
    with pytest.raises(ConfigError, match=r"blob_scale: 1\.0 on disk, 3\.0 wanted.*peak_iod: 0\.12 on disk"):
        load_macro_table(cfg)
    with pytest.raises(ConfigError, match=r"seed: 1000 on disk, 5 wanted"):
        load_macro_table(MacroDataConfig(**{**cfg.__dict__, "synth_seed": 5}))
    generate_macro(root, MacroConfig(n_subjects=1, takes_per_class=1, frames_per_take=1, camera_preset="tiny"),
                   seed=1000, overwrite=True)
    assert len(load_macro_table(cfg)) == 3  # the matching set is read
