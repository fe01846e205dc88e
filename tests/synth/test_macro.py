"""SynthME macro mode: class-per-folder posed expressions readable by the macro loaders."""

import json

import cv2
import numpy as np
import pytest

from merkit.data.macro import load_macro
from merkit.errors import ConfigError
from merkit.synth.macro import MACRO_CLASSES, MacroConfig, generate_macro

SMALL = MacroConfig(n_subjects=2, takes_per_class=1, frames_per_take=2, camera_preset="tiny")


def test_writes_a_class_per_folder_set_the_loader_reads(tmp_path):
    manifest = generate_macro(tmp_path / "m", SMALL, seed=3)
    assert manifest.n_images == 2 * 3 * 1 * 2
    table = load_macro("image_folder", tmp_path / "m", dataset="synthme_macro")
    assert len(table) == manifest.n_images
    assert sorted(set(table.label)) == list(MACRO_CLASSES)
    assert set(table.subject) == {"m01", "m02"}
    saved = json.loads((tmp_path / "m" / "macro_manifest.json").read_text())
    assert saved["n_images"] == manifest.n_images and saved["config"]["frames_per_take"] == 2


def test_same_seed_same_bytes_other_seed_other_faces(tmp_path):
    generate_macro(tmp_path / "a", SMALL, seed=1)
    generate_macro(tmp_path / "b", SMALL, seed=1)
    generate_macro(tmp_path / "c", SMALL, seed=2)
    name = "positive/m01_00_02.png"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()


def test_macro_poses_move_more_than_micro_expressions(tmp_path):
    manifest = generate_macro(tmp_path / "m", MacroConfig(n_subjects=1, takes_per_class=2, frames_per_take=1), seed=0)
    peaks = np.array([row[5] for row in manifest.images])
    assert peaks.min() > 2.5  # SynthME micro-expressions peak at au_peak_max_px = 2.5 px at most
    # the apex differs from the same subject's other classes around the mouth/brows
    a = cv2.imread(str(tmp_path / "m/positive/m01_00_01.png"), cv2.IMREAD_GRAYSCALE).astype(float)
    b = cv2.imread(str(tmp_path / "m/surprise/m01_00_01.png"), cv2.IMREAD_GRAYSCALE).astype(float)
    assert np.abs(a - b).max() > 30


def test_refuses_a_foreign_folder_and_bad_config(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        generate_macro(tmp_path, SMALL, overwrite=True)
    with pytest.raises(ConfigError, match="peak_iod"):
        MacroConfig(peak_iod=0.9)
    with pytest.raises(ConfigError, match="n_subjects"):
        MacroConfig(n_subjects=0)


def test_overwrite_replaces_a_previous_macro_set(tmp_path):
    generate_macro(tmp_path, SMALL, seed=0)
    again = generate_macro(tmp_path, SMALL, seed=5, overwrite=True)
    assert again.n_images == len(list(tmp_path.glob("*/*.png")))


def test_cli_synth_macro(tmp_path):
    from merkit.cli import main

    rc = main(["synth", "--macro", "--preset", "tiny", "--out", str(tmp_path / "m"), "--set", "n_subjects=1",
               "--set", "takes_per_class=1"])
    assert rc == 0
    assert len(list((tmp_path / "m").glob("*/*.png"))) == 3 * 3
