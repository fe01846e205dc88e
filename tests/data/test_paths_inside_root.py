"""Annotation cells and symlinks can never make a loader read outside the dataset root (issue 20, paths)."""

from __future__ import annotations

import os
import re

import pytest

from merkit.data.casme2 import CASME2
from merkit.data.check import check_dataset
from merkit.data.registry import load_dataset
from merkit.errors import AnnotationError
from tests.data._fake_trees import CASME2_ROWS, make_casme2, make_smic, write_frames, write_xlsx

SHEET = "CASME2-coding-20140508.xlsx sheet 'Sheet1'"


def _outside_clip(tmp_path):
    """A folder outside the dataset root holding frames that would load if a path escaped."""
    outside = tmp_path / "outside" / "EP02_01f"
    write_frames(outside, "img{}.jpg", range(44, 53))
    return outside


@pytest.mark.parametrize("cell", ["../../../outside/EP02_01f", "..", "/etc", "sub01/../EP02_01f", "a\\b", "x" * 300])
def test_a_clip_cell_that_is_a_path_is_an_error_naming_row_and_column(tmp_path, cell):
    _outside_clip(tmp_path)
    rows = [list(r) for r in CASME2_ROWS]
    rows[0][1] = cell
    root = make_casme2(tmp_path, rows=rows)
    with pytest.raises(AnnotationError, match=re.escape(f"{SHEET} row 2: column 'Filename' holds ") + ".*not a plain folder name"):
        CASME2(root, variant="raw").load()
    loader = CASME2(root, variant="raw", strict=False)
    table = loader.load()
    assert len(table) == len(CASME2_ROWS) - 1
    assert all(str(root) in path for paths in table["frame_paths"] for path in paths)


def test_a_subject_cell_that_is_a_path_is_rejected_too(tmp_path):
    root = tmp_path / "4DME"
    write_frames(tmp_path / "etc" / "S13_1st_001_01_1", "Frame_{:09d}.jpg", range(8, 13), channels=1)
    (root / "gray_micro").mkdir(parents=True)
    write_xlsx(root / "4DME_Labelling_Micro_release v1.xlsx", {"Sheet1": [
        ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs"],
        [str(tmp_path / "etc"), "S13_1st_001_01_1", "Positive", 9, 10, 11, "AU12(k)"],
        ["../../etc", "S13_1st_001_01_1", "Positive", 9, 10, 11, "AU12(k)"],
    ]})
    report = check_dataset("fourdme", root, decode="none")
    messages = [p.message for p in report.errors]
    assert [m.split(":")[0] for m in messages] == [
        "4DME_Labelling_Micro_release v1.xlsx sheet 'Sheet1' row 2", "4DME_Labelling_Micro_release v1.xlsx sheet 'Sheet1' row 3"]
    assert all("column 'sub_ID' holds" in m and "not a plain folder name" in m for m in messages)
    assert report.n_samples == 0


def test_an_emotion_cell_used_as_a_folder_is_checked(tmp_path):
    root = tmp_path / "MMEW"
    write_frames(tmp_path / "x" / "S01-01-001", "{}.jpg", range(1, 6))
    (root / "Micro_Expression" / "happiness").mkdir(parents=True)
    write_xlsx(root / "MMEW_Micro_Exp.xlsx", {"Sheet1": [
        ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"],
        [1, "S01-01-001", 1, 3, 5, "12", "../../x"],
    ]})
    report = check_dataset("mmew", root, decode="none")
    (problem,) = report.errors
    assert problem.message.startswith("MMEW_Micro_Exp.xlsx sheet 'Sheet1' row 2: column 'Estimated Emotion' holds '../../x'")


def test_a_symlinked_clip_folder_pointing_outside_the_root_is_an_error(tmp_path):
    outside = _outside_clip(tmp_path)
    root = make_casme2(tmp_path)
    clip = root / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    for f in clip.iterdir():
        f.unlink()
    clip.rmdir()
    clip.symlink_to(outside, target_is_directory=True)
    with pytest.raises(AnnotationError, match=re.escape(f"{SHEET} row 2: clip folder ") + ".*resolves to .*outside/EP02_01f', outside "
                       "the dataset root"):
        load_dataset("casme2", root, variant="raw")
    table = load_dataset("casme2", root, variant="raw", strict=False)
    assert "EP02_01f" not in set(table["clip"]) and len(table) == len(CASME2_ROWS) - 1


def test_a_symlinked_frame_file_pointing_outside_is_an_error_and_one_inside_is_fine(tmp_path):
    outside = _outside_clip(tmp_path)
    root = make_casme2(tmp_path)
    clip = root / "Cropped" / "sub01" / "EP02_01f"
    (clip / "reg_img47.jpg").unlink()
    (clip / "reg_img47.jpg").symlink_to(outside / "img47.jpg")
    other = root / "Cropped" / "sub02" / "EP01_11f"
    (other / "reg_img47.jpg").unlink()
    (other / "reg_img47.jpg").symlink_to(root / "Cropped" / "sub02" / "EP01_11f" / "reg_img46.jpg")
    loader = CASME2(root, variant="cropped", strict=False)
    table = loader.load()
    (problem,) = loader.report.errors
    assert problem.message.startswith(f"{SHEET} row 2: frame file ") and "outside the dataset root" in problem.message
    assert "EP01_11f" in set(table["clip"])  # a symlink that stays inside the root is allowed


def test_smic_folder_walk_refuses_a_clip_symlinked_outside(tmp_path):
    root = make_smic(tmp_path)
    outside = tmp_path / "elsewhere" / "s1_po_02"
    write_frames(outside, "reg_image{:06d}.bmp", range(1, 4))
    (root / "SMIC_all_cropped" / "HS" / "s1" / "micro" / "positive" / "s1_po_02").symlink_to(outside, target_is_directory=True)
    report = check_dataset("smic_hs", root, variant="cropped", decode="none")
    (problem,) = report.errors
    assert "s1_po_02" in problem.where and "outside the dataset root" in problem.message


def test_frames_dir_given_by_the_user_may_live_outside_the_root(tmp_path):
    root = make_casme2(tmp_path)
    moved = tmp_path / "frames_elsewhere"
    os.rename(root / "Cropped", moved)
    table = load_dataset("casme2", root, variant="cropped", frames_dir=str(moved))
    assert len(table) == len(CASME2_ROWS) and all(str(moved) in p[0] for p in table["frame_paths"])
