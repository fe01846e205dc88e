"""Macro-expression loaders (seed 003) on fake trees in the published layouts."""

import re

import cv2
import numpy as np
import pytest

from merkit.data.labels import get_label_set
from merkit.data.macro import (
    MACRO_TABLE_COLUMNS,
    list_macro_datasets,
    load_ckplus,
    load_image_folder,
    load_jaffe,
    load_macro,
    load_mug,
    load_oulu_casia,
)
from merkit.errors import AnnotationError, ConfigError, DatasetNotFoundError, UnknownNameError


def _img(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix
    ok, buf = cv2.imencode(".png" if ext in (".tiff", ".tif") else ext, np.full((8, 8), value, np.uint8))
    path.write_bytes(buf.tobytes())


def _ckplus(root, sequences):
    # sequences: (subject, seq, n_frames, code or None)
    for subject, seq, n, code in sequences:
        for i in range(1, n + 1):
            _img(root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{i:08d}.png")
        if code is not None:
            f = root / "Emotion" / subject / seq / f"{subject}_{seq}_{n:08d}_emotion.txt"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"   {code:.7e}\n")


def test_ckplus_keeps_the_last_frames_of_labelled_sequences(tmp_path):
    _ckplus(tmp_path, [("S005", "001", 11, 3), ("S010", "002", 14, 7), ("S010", "004", 9, None), ("S011", "001", 5, 4)])
    table = load_ckplus(tmp_path, frames_per_sequence=3)
    assert tuple(table.columns) == MACRO_TABLE_COLUMNS
    assert len(table) == 9  # three labelled sequences, the unlabelled one skipped
    s5 = table[table.subject == "S005"]
    assert s5.frame.tolist() == [9, 10, 11] and set(s5.emotion) == {"disgust"}
    assert set(table[table.subject == "S010"].emotion) == {"surprise"}
    labelled = load_macro("ck_plus", tmp_path)
    assert set(labelled.label) == {"negative", "surprise"}  # fear (S011) dropped
    assert len(labelled) == 6


def test_ckplus_bad_emotion_file_names_the_file(tmp_path):
    _ckplus(tmp_path, [("S005", "001", 4, 3)])
    bad = tmp_path / "Emotion/S005/001/S005_001_00000004_emotion.txt"
    bad.write_text("happy\n")
    with pytest.raises(AnnotationError, match=re.escape(str(bad)) + ".*expected one code 0-7"):
        load_ckplus(tmp_path)
    bad.write_text("9.0\n")
    with pytest.raises(AnnotationError, match="expected one code 0-7"):
        load_ckplus(tmp_path)


def test_ckplus_label_for_a_frame_not_on_disk(tmp_path):
    _ckplus(tmp_path, [("S005", "001", 4, 5)])
    (tmp_path / "Emotion/S005/001/S005_001_00000004_emotion.txt").rename(
        tmp_path / "Emotion/S005/001/S005_001_00000007_emotion.txt")
    with pytest.raises(AnnotationError, match="labels frame 7"):
        load_ckplus(tmp_path)


def test_ckplus_missing_folders(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cohn-kanade-images"):
        load_ckplus(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        load_ckplus(tmp_path / "nope")


def _oulu(root, system="VL", light="Strong"):
    for subject in ("P001", "P002"):
        for expr in ("Happiness", "Fear", "Surprise"):
            for i in range(6):
                _img(root / "OriginalImg" / system / light / subject / expr / f"{i:03d}.jpeg")


def test_oulu_casia_last_frames_of_visible_sequences(tmp_path):
    _oulu(tmp_path)
    _oulu(tmp_path, system="NI")
    table = load_oulu_casia(tmp_path)
    assert len(table) == 2 * 3 * 3
    assert sorted(set(table.frame)) == [3, 4, 5]
    assert all("/VL/Strong/" in p for p in table.path)
    labelled = load_macro("oulu_casia", tmp_path)
    assert sorted(set(labelled.label)) == ["positive", "surprise"]


def test_oulu_casia_errors(tmp_path):
    _oulu(tmp_path)
    with pytest.raises(DatasetNotFoundError, match=re.escape("OriginalImg/VL/Weak")):
        load_oulu_casia(tmp_path, illumination="Weak")
    with pytest.raises(UnknownNameError, match="VL"):
        load_oulu_casia(tmp_path, system="VIS")
    (tmp_path / "OriginalImg/VL/Strong/P001/Joy").mkdir()
    with pytest.raises(AnnotationError, match="Joy"):
        load_oulu_casia(tmp_path)


def test_jaffe_labels_from_file_names(tmp_path):
    for name in ("KA.AN1.39", "KA.HA2.30", "YM.SU1.58", "NA.NE1.202", "TM.FE3.190"):
        _img(tmp_path / f"{name}.tiff")
    (tmp_path / "README").write_text("not an image")
    table = load_jaffe(tmp_path)
    assert dict(zip(table.sequence, table.emotion)) == {
        "AN1": "anger", "HA2": "happiness", "SU1": "surprise", "NE1": "neutral", "FE3": "fear"}
    assert set(table.subject) == {"KA", "YM", "NA", "TM"}
    assert len(load_macro("jaffe", tmp_path)) == 3  # neutral and fear dropped
    _img(tmp_path / "KA.XX1.40.tiff")
    with pytest.raises(AnnotationError, match=re.escape("KA.XX1.40.tiff")):
        load_jaffe(tmp_path)


def test_mug_frames_centred_on_the_middle(tmp_path):
    for subject in ("001", "002"):
        for expr in ("happiness", "neutral"):
            for i in range(20):
                _img(tmp_path / "subjects3" / subject / expr / "take000" / f"img_{i:04d}.jpg")
    table = load_mug(tmp_path, frames_per_sequence=6)
    assert len(table) == 2 * 2 * 6
    assert sorted(set(table.frame)) == [7, 8, 9, 10, 11, 12]  # middle frame 10 of 0..19
    assert len(load_mug(tmp_path / "subjects3", frames_per_sequence=30)) == 2 * 2 * 20  # whole take, no overrun
    assert set(load_macro("mug", tmp_path).label) == {"positive"}
    with pytest.raises(ConfigError, match="frames_per_sequence"):
        load_mug(tmp_path, frames_per_sequence=0)


def test_image_folder_subjects_from_file_names(tmp_path):
    for cls in ("positive", "negative", "surprise"):
        for subject in ("s01", "s02"):
            _img(tmp_path / cls / f"{subject}_0001.png")
    (tmp_path / "_meta").mkdir()
    table = load_image_folder(tmp_path, dataset="synthme_macro")
    assert len(table) == 6 and set(table.subject) == {"s01", "s02"}
    assert set(table.subject_key) == {"synthme_macro/s01", "synthme_macro/s02"}
    labelled = load_macro("image_folder", tmp_path)
    assert sorted(labelled.label) == sorted(table.emotion)


def test_unknown_macro_name_and_option(tmp_path):
    assert "ck_plus" in list_macro_datasets()
    with pytest.raises(UnknownNameError, match="ck_plus"):
        load_macro("ckplus", tmp_path)
    with pytest.raises(ConfigError, match="bad option"):
        load_macro("jaffe", tmp_path, frames_per_sequence=3)


def test_macro3_label_set_is_data_and_matches_megc_class_order():
    macro, megc = get_label_set("macro3"), get_label_set("megc3")
    assert macro.classes == megc.classes
    assert macro.class_of("ck_plus", "Anger") == "negative"
    assert macro.class_of("ck_plus", "fear") is None and macro.class_of("ck_plus", "contempt") is None
