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


def test_default_poses_are_macro_sized_relative_to_the_face(tmp_path):
    # The first defaults (peak_iod 0.12, micro-width blobs) let the fold-free cap hold poses to
    # 0.03-0.15 IOD; a macro pose must move a sizeable part of the inter-ocular distance.
    from merkit.synth.config import get_preset

    cfg = MacroConfig(n_subjects=2, takes_per_class=3, frames_per_take=1)
    manifest = generate_macro(tmp_path / "m", cfg, seed=0)
    cam = get_preset(cfg.camera_preset).sources["casme2"].camera
    rel = np.array([row[5] for row in manifest.images]) / (cam.iod_px * (1 + cam.iod_jitter))
    assert rel.min() > 0.08 and np.median(rel) > 0.18


def test_blob_scale_is_checked_and_widens_the_moving_region(tmp_path):
    with pytest.raises(ConfigError, match="blob_scale"):
        MacroConfig(blob_scale=0.1)
    narrow = generate_macro(tmp_path / "a", MacroConfig(n_subjects=1, takes_per_class=1, frames_per_take=1,
                                                        blob_scale=1.0, peak_iod=0.3), seed=4)
    wide = generate_macro(tmp_path / "b", MacroConfig(n_subjects=1, takes_per_class=1, frames_per_take=1,
                                                      blob_scale=3.0, peak_iod=0.3), seed=4)
    # same poses (same seed), but the cap lets the wider blobs carry a larger peak
    assert [r[4] for r in narrow.images] == [r[4] for r in wide.images]
    assert all(w[5] > 1.5 * n[5] for n, w in zip(narrow.images, wide.images))


@pytest.mark.slow
def test_default_macro_classes_are_learnable_by_a_simple_classifier_across_subjects(tmp_path):
    # Phase 1 of seed 003 stayed near chance on the first macro set; a HOG + logistic regression
    # check on the pipeline's own 64 px eye-masked crops, subject-held-out, scored 0.68-0.70 there
    # and 0.86-0.89 with the current defaults (docs/models/mobilevit_me.md, "Phase 1 diagnosis").
    from skimage.feature import hog
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from merkit.inputs.gray_apex import GrayApexConfig, GrayApexProvider

    generate_macro(tmp_path / "m", MacroConfig(n_subjects=16, takes_per_class=2, frames_per_take=1), seed=7)
    table = load_macro("image_folder", tmp_path / "m", dataset="synthme_macro")
    features, kept = GrayApexProvider(GrayApexConfig(size=64, cache_dir=str(tmp_path / "cache"))).for_images(
        table, skip_missing_faces=False)
    x = features.take(kept["image_key"])
    hogs = np.stack([hog(img[0], orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)) for img in x])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    scores = cross_val_score(clf, hogs, kept["label"], groups=kept["subject"], cv=GroupKFold(4))
    assert scores.mean() > 0.8, scores
