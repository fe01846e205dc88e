"""CASME, CAS(ME)^3 Part A, MMEW and 4DME loaders on small fake trees.

The layouts: docs/datasets.md, "CASME", "CAS(ME)^3", "MMEW" and "4DME".
"""

import pytest

from merkit.data.casme3 import CASME3A
from merkit.data.mmew import MMEW
from merkit.data.registry import load_dataset
from merkit.errors import AnnotationError, DatasetNotFoundError
from tests.data._fake_trees import write_frames, write_xlsx

COLUMNS = ["subject", "clip", "onset", "apex", "offset", "n_frames", "emotion", "flags"]


def test_casme_apex_f1_then_f2_and_mixed_padding(tmp_path):
    root = tmp_path / "CASME"
    write_xlsx(root / "casme.xlsx", {"Sheet1": [
        ["Subject", "Filename", None, "OnsetF", "ApexF1", "ApexF2", "OffsetF", None, "AU", "Emotion"],
        [1, "EP01_5", None, 8, 10, 11, 12, None, "12", "happiness"],
        [2, "EP03_2", None, 98, "/", 100, 102, None, "4", "disgust"],
        [3, "EP04_1", None, 1, None, None, 5, None, "", "surprise"],
    ]})
    write_frames(root / "CASME_raw_selected" / "sub01" / "EP01_5", "EP01_5-{}.jpg", range(8, 13))
    write_frames(root / "CASME_raw_selected" / "sub02" / "EP03_2", "EP03_2-{:03d}.jpg", range(98, 103))
    write_frames(root / "CASME_raw_selected" / "sub03" / "EP04_1", "EP04_1-{}.jpg", range(1, 6))
    write_frames(root / "Cropped" / "sub01" / "EP01_5", "reg_EP01_5-{}.jpg", range(8, 13))
    table = load_dataset("casme", root)
    assert table[COLUMNS].values.tolist() == [
        ["sub01", "EP01_5", 8, 10, 12, 5, "happiness", ()],
        ["sub02", "EP03_2", 98, 100, 102, 5, "disgust", ()],
        ["sub03", "EP04_1", 1, 3, 5, 5, "surprise", ("apex_estimated",)],
    ]
    assert set(table["fps"]) == {60.0}
    cropped = load_dataset("casme", root, variant="cropped", strict=False)
    assert list(cropped["clip"]) == ["EP01_5"]


def _casme3_tree(tmp_path):
    root = tmp_path / "CASME3"
    write_xlsx(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", {
        "label": [
            ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
            ["spNO.1", "b", 170, 175, 180, "4", "I", "disgust"],
            ["spNO.1", "b", 200, 203, 206, "12", "II", "happy"],
            ["spNO.3", "J", 496, 498, 500, "1+2", "III", "Others"],
            ["spNO.149", "d", 112, 83, 130, "4", "I", "anger"],
            ["spNO.40", "e", 40, 45, 0, "4", "I", "sad"],
        ],
        "Sheet1": [],
    })
    write_frames(root / "part_A" / "spNO.1" / "b" / "color", "{}.jpg", range(160, 215))
    write_frames(root / "part_A" / "spNO.3" / "j" / "color", "{}.jpg", [*range(490, 499), *range(500, 505)])  # 499 dropped
    write_frames(root / "part_A" / "spNO.149" / "d" / "color", "{}.jpg", range(100, 140))
    write_frames(root / "part_A" / "spNO.40" / "e" / "color", "{}.jpg", range(30, 60))
    return root


def test_casme3_duplicates_case_frame_drops_corrections_offset_zero(tmp_path):
    loader = CASME3A(_casme3_tree(tmp_path))
    table = loader.load()
    assert table[COLUMNS].values.tolist() == [
        ["spNO.1", "b", 170, 175, 180, 11, "disgust", ()],
        ["spNO.1", "b_me2", 200, 203, 206, 7, "happy", ()],
        ["spNO.3", "j", 496, 498, 500, 4, "Others", ("missing_frames",)],
        ["spNO.149", "d", 112, 123, 130, 19, "anger", ("corrected",)],
        ["spNO.40", "e", 40, 45, 45, 6, "sad", ("offset_estimated",)],
    ]
    assert table.iloc[2].frame_paths[0].endswith("spNO.3/j/color/496.jpg")
    messages = [p.message for p in loader.report.warnings]
    assert any("Filename 'J' lower-cased to 'j'" in m for m in messages)
    statuses = {o.correction.subject: o.status for o in loader.report.corrections}
    assert statuses == {"spNO.149": "applied", "spNO.214": "no_matching_row", "spNO.216": "no_matching_row"}


def test_casme3_without_corrections_the_bad_apex_is_replaced_and_flagged(tmp_path):
    table = load_dataset("casme3_a", _casme3_tree(tmp_path), corrections=None)
    row = table.set_index("sample_key").loc["casme3_a/spNO.149/d"]
    assert row["apex"] == 121 and set(row["flags"]) == {"apex_estimated", "apex_out_of_range"}


def _mmew_tree(tmp_path):
    root = tmp_path / "MMEW"
    write_xlsx(root / "MMEW_Micro_Exp.xlsx", {"Sheet1": [
        ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion", "remarks"],
        [1, "S01-01-001", 1, 3, 5, "12", "happiness", None],
        [2, "S02-06-001", 1, 2, 4, "4", "others", None],
        [3, "S03-03-002", 1, 2, 3, "4+7", "disgust", None],
    ]})
    write_frames(root / "Micro_Expression" / "happiness" / "S01-01-001", "{}.jpg", range(1, 8))
    write_frames(root / "Micro_Expression" / "repression" / "S02-06-001", "{}.jpg", range(1, 5))
    write_frames(root / "Micro_Expression" / "fear" / "S03-03-002", "{}.jpg", range(1, 4))
    return root


def test_mmew_folder_label_mismatch(tmp_path):
    loader = MMEW(_mmew_tree(tmp_path))
    table = loader.load()
    assert table[COLUMNS].values.tolist() == [
        ["S01", "S01-01-001", 1, 3, 5, 5, "happiness", ()],
        ["S02", "S02-06-001", 1, 2, 4, 4, "others", ()],
        ["S03", "S03-03-002", 1, 2, 3, 3, "disgust", ()],
    ]
    assert "/repression/S02-06-001/" in table.iloc[1].frame_paths[0]
    # the documented others -> repression folder is silent; an undocumented mismatch is reported
    assert [p.message.split(": ", 1)[1] for p in loader.report.warnings] == [
        "clip 'S03-03-002' (emotion 'disgust') is in folder 'fear', not 'disgust'; loaded with the sheet's emotion."
    ]


def test_mmew_missing_clip(tmp_path):
    root = _mmew_tree(tmp_path)
    (root / "Micro_Expression" / "happiness" / "S01-01-001").rename(root / "Micro_Expression" / "happiness" / "x")
    with pytest.raises(DatasetNotFoundError, match=r"row 2: clip folder .*happiness/S01-01-001' does not exist"):
        load_dataset("mmew", root)


def test_fourdme_generic_frame_names(tmp_path):
    root = tmp_path / "4DME"
    write_xlsx(root / "4DME_Labelling_Micro_release v1.xlsx", {"Sheet1": [
        ["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs"],
        ["S13", "S13_1st_001_01_1", "Positive", 9, 10, 11, "AU12(k)"],
    ]})
    write_frames(root / "gray_micro" / "S13" / "S13_1st_001_01_1", "Frame_{:09d}.jpg", range(8, 13), channels=1)
    table = load_dataset("fourdme", root, fps=30.0)
    assert table[["subject", "clip", "onset", "apex", "offset", "n_frames", "action_units"]].values.tolist() == [
        ["S13", "S13_1st_001_01_1", 9, 10, 11, 3, "AU12(k)"]
    ]


def test_duplicate_frame_numbers_are_an_error(tmp_path):
    root = _mmew_tree(tmp_path)
    write_frames(root / "Micro_Expression" / "happiness" / "S01-01-001", "{:03d}.jpg", [2])
    with pytest.raises(AnnotationError, match=r"files '(002|2).jpg' and '(2|002).jpg' both carry frame number 2"):
        load_dataset("mmew", root)
