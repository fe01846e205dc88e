"""macro_transfer end to end through `merkit train`'s run_experiment on SynthME macro faces (tiny, fast)."""

import json

import pytest

from merkit.data import Sample, samples_to_table
from merkit.errors import ConfigError
from merkit.experiments.config import load_config
from merkit.experiments.run import run_experiment
from merkit.synth.macro import MacroConfig, generate_macro
from merkit.training.methods import create_method

EMOTION = {"positive": "happiness", "negative": "disgust", "surprise": "surprise"}

CONFIG = """
[data]
source = "synth"
[features]
cache_dir = "{cache}"
[model]
name = "mobilevit_xxs_me"
[method]
name = "macro_transfer"
[method.options]
transfer = {transfer}
head = "{head}"
unfreeze_every = 1
size = 32
macro = {{ epochs = 2, batch_size = 8, threads = 1, device = "cpu", patience = 5, progress = false }}
macro_data = {{ synth_root = "{macro}", synth_subjects = 3, synth_takes = 1, synth_frames = 1 }}
[train]
epochs = 2
batch_size = 8
optimizer = "adam"
lr = 0.007
imbalance = "balanced_sampler"
max_rotation = 0.0
threads = 1
device = "cpu"
progress = false
[grid]
enabled = {grid}
batch_size = [8]
lr = [0.001, 0.01]
epochs = [1]
inner_folds = 2
[protocol]
name = "megc2019_composite"
[run]
seeds = [0]
out_dir = "{out}"
bootstrap = 0
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


def _write(tmp_path, head="svc", grid="false", transfer="true"):
    path = tmp_path / "exp.toml"
    path.write_text(CONFIG.format(out=tmp_path / "run", cache=tmp_path / "cache", macro=tmp_path / "macro",
                                  head=head, grid=grid, transfer=transfer))
    return path


def test_transfer_run_scores_every_sample_and_resumes_without_redoing_phase_one(tmp_path, micro_table, monkeypatch):
    cfg = load_config(_write(tmp_path, grid="true"))
    result = run_experiment(cfg, table=micro_table)
    assert list((tmp_path / "cache" / "macro_transfer.phase1").rglob("*.npz"))  # phase 1 memoised
    assert (tmp_path / "macro" / "macro_manifest.json").is_file()  # the macro set was generated
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["summary"] == result.metrics["summary"]
    assert 0.0 <= result.metrics["summary"]["full"]["uf1"]["mean"] <= 1.0

    from merkit.training.methods import macro_transfer

    def refuse(*args, **kwargs):
        raise AssertionError("phase 1 ran again on resume")

    monkeypatch.setattr(macro_transfer, "pretrain_macro", refuse)
    again = run_experiment(cfg, table=micro_table)  # resumes: folds from the run directory, phase 1 from the cache
    assert again.metrics["summary"] == result.metrics["summary"]
    from merkit.evaluation.protocols import create_protocol

    method = create_method(cfg)
    prepared = create_protocol("megc2019_composite").prepare(micro_table)
    method.prepare(prepared)
    method.pretrain(prepared, (0,))
    assert set(method.transfer_states) == {0} and method.phase1[0]["best_epoch"] in (1, 2)  # read from the cache


def test_no_transfer_ablation_runs_without_macro_images(tmp_path, micro_table):
    cfg = load_config(_write(tmp_path, head="softmax", transfer="false"))
    result = run_experiment(cfg, table=micro_table)
    assert not (tmp_path / "macro").exists() and not (tmp_path / "cache" / "macro_transfer.phase1").exists()
    assert result.metrics["summary"]["full"]["uf1"]["mean"] >= 0.0


def test_config_errors_name_the_key(tmp_path):
    from merkit.training.grid_search import GridSearchFitPredict

    path = _write(tmp_path)
    with pytest.raises(ConfigError, match="lrate"):
        load_config(path, ("train.lrate=0.1",))
    cfg = load_config(path, ("grid.enabled=true", "train.schedule=early_stopping"))
    with pytest.raises(ConfigError, match="train.schedule must be 'fixed'"):
        GridSearchFitPredict(create_method(cfg), cfg.grid)


OLD_FORMAT = """
[data]
source = "synth"
[transfer]
model = "mobilevit_s_me"
head = "svc"
[macro]
optimizer = "sgd"
[micro]
lr = 0.007
[gray_apex]
size = 256
[macro_data]
synth_root = "data/synthme_macro"
"""


def test_an_old_merkit_transfer_file_says_how_to_rewrite_it(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text(OLD_FORMAT)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    for hint in ("removed `merkit transfer`", "[method] name = \"macro_transfer\"", "[micro] (phase 2) -> [train]",
                 "options.macro = ", "options.macro_data", "options.size"):
        assert hint in message, hint


def test_the_transfer_command_is_gone():
    from merkit.cli import app

    assert "transfer" not in app.commands and "train" in app.commands


def test_a_macro_set_written_with_other_settings_is_refused(tmp_path):
    from merkit.inputs.macro_images import MacroDataConfig, load_macro_table

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
