"""CASME II loader on the fake tree of docs/datasets.md, "CASME II": exact tables and every quirk."""

import re

import cv2
import pandas as pd
import pytest

from merkit.data import get_label_set
from merkit.data.casme2 import CASME2
from merkit.data.registry import load_dataset
from merkit.errors import AnnotationError, DatasetNotFoundError
from tests.data._fake_trees import CASME2_HEADER, CASME2_ROWS, make_casme2

COLUMNS = ["subject", "clip", "onset", "apex", "offset", "n_frames", "apex_index", "emotion", "action_units", "flags"]
EXPECTED = pd.DataFrame(
    [
        ["sub01", "EP02_01f", 46, 48, 50, 5, 2, "happiness", "12", ()],
        ["sub01", "EP19_05f", 98, 100, 102, 5, 2, "disgust", "4+L10", ()],
        ["sub02", "EP01_11f", 46, 47, 49, 4, 1, "repression", "15", ()],
        ["sub03", "EP01_2", 51, 53, 55, 5, 2, "surprise", "1", ()],
        ["sub04", "EP12_01f", 261, 263, 265, 5, 2, "disgust", "4+7", ("apex_estimated",)],
        ["sub05", "EP05_03", 51, 53, 55, 5, 2, "others", "?", ()],
        ["sub05", "EP09_05f", 69, 69, 72, 4, 0, "disgust", "R2+15", ()],
        ["sub05", "EP12_03f", 11, 13, 15, 5, 2, "surprise", "25", ()],
        ["sub17", "EP15_03", 319, 321, 323, 5, 2, "sadness", "1", ()],
        ["sub24", "EP07_04f", 4, 6, 8, 5, 2, "sadness", "1", ()],
    ],
    columns=COLUMNS,
)


def _check(table):
    got = table[COLUMNS].astype(object).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, EXPECTED.astype(object), check_dtype=False)


@pytest.mark.parametrize("variant, prefix", [("raw", "CASME2_RAW_selected"), ("cropped", "Cropped")])
def test_exact_table_both_variants(tmp_path, variant, prefix):
    root = make_casme2(tmp_path)
    table = load_dataset("casme2", root, variant=variant)
    _check(table)
    assert set(table["dataset"]) == {"casme2"} and set(table["fps"]) == {200.0}
    assert table["label"].isna().all()
    first = table.iloc[0]
    name = "img{}.jpg" if variant == "raw" else "reg_img{}.jpg"
    assert [p.split("/")[-1] for p in first.frame_paths] == [name.format(n) for n in range(46, 51)]
    assert f"/{prefix}/sub01/EP02_01f/" in first.frame_paths[0]


def test_only_onset_to_offset_frames_and_numeric_order(tmp_path):
    table = load_dataset("casme2", make_casme2(tmp_path))
    first = table.set_index("clip").loc["EP02_01f"]
    assert first.frame_numbers == (46, 47, 48, 49, 50)  # baseline frames 44, 45, 51, 52 exist but are excluded
    lexi = table.set_index("clip").loc["EP19_05f"]
    assert lexi.frame_numbers == (98, 99, 100, 101, 102)
    # the right file was picked: pixel value encodes the frame number
    assert [int(cv2.imread(p)[0, 0, 0]) for p in lexi.frame_paths] == [98, 99, 100, 101, 102]


def test_subject_as_int_and_seven_column_sheet(tmp_path):
    rows = [[r[0], r[1], r[3], 263 if r[4] == "/" else r[4], r[5], r[7], r[8]] for r in CASME2_ROWS]
    header = [h for h in CASME2_HEADER if h]
    root = make_casme2(tmp_path, rows=rows, header=header, subject_as_int=True)
    table = load_dataset("casme2", root)
    expected = EXPECTED.copy()
    expected.at[4, "flags"] = ()
    pd.testing.assert_frame_equal(table[COLUMNS].astype(object), expected.astype(object), check_dtype=False)


def test_label_sets(tmp_path):
    table = load_dataset("casme2", make_casme2(tmp_path))
    five = get_label_set("casme2_5").apply(table)
    assert len(five) == 8 and "sadness" not in set(five["emotion"])
    three = get_label_set("megc3").apply(table)
    assert len(three) == 7
    assert dict(zip(three["clip"], three["label"]))["EP01_11f"] == "negative"


def test_missing_apex_uses_the_policy_callable(tmp_path):
    root = make_casme2(tmp_path)
    table = load_dataset("casme2", root, apex_policy=lambda ctx: ctx.frame_numbers[-1])
    row = table.set_index("clip").loc["EP12_01f"]
    assert row.apex == 265 and "apex_estimated" in row["flags"]
    assert table.set_index("clip").loc["EP02_01f"].apex == 48  # annotated apexes untouched


def test_bad_apex_policy_result_is_an_error(tmp_path):
    with pytest.raises(AnnotationError, match=r"apex policy .* returned 999, which is not a frame on disk"):
        load_dataset("casme2", make_casme2(tmp_path), apex_policy=lambda ctx: 999)


def test_missing_clip_folder_names_row_and_path(tmp_path):
    root = make_casme2(tmp_path)
    for f in (root / "CASME2_RAW_selected" / "sub03" / "EP01_2").iterdir():
        f.unlink()
    (root / "CASME2_RAW_selected" / "sub03" / "EP01_2").rmdir()
    with pytest.raises(DatasetNotFoundError, match=re.escape("Sheet1' row 5: clip folder") + r".*sub03/EP01_2' does not exist"):
        load_dataset("casme2", root)
    loader = CASME2(root, strict=False)
    table = loader.load()
    assert len(table) == 9 and "EP01_2" not in set(table["clip"])
    assert [p.severity for p in loader.report.errors] == ["error"]


def test_missing_annotation_and_wrong_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"dataset root .*nowhere.* does not exist"):
        CASME2(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"no annotation file in dataset root .*CASME2-coding"):
        CASME2(tmp_path / "empty")
    root = make_casme2(tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"annotation file .*missing.xlsx' does not exist"):
        CASME2(root, annotation=root / "missing.xlsx")


def test_unknown_column_layout(tmp_path):
    header = ["Subject", "Filename", None, "Start", "Peak", "End", None, "Action Units", "Estimated Emotion"]
    root = make_casme2(tmp_path, header=header)
    with pytest.raises(AnnotationError, match=r"unknown column layout; expected a header row with the columns .*'onset': \['OnsetFrame'"):
        load_dataset("casme2", root)


def test_non_numeric_onset_names_row_and_column(tmp_path):
    rows = [list(r) for r in CASME2_ROWS]
    rows[2][3] = "forty-six"
    with pytest.raises(AnnotationError, match=re.escape("Sheet1' row 4: column 'OnsetFrame' must hold an integer frame number; got 'forty-six'")):
        load_dataset("casme2", make_casme2(tmp_path, rows=rows))


def test_onset_after_offset_and_onset_before_first_frame(tmp_path):
    rows = [list(r) for r in CASME2_ROWS]
    rows[0][3], rows[0][5] = 50, 46  # onset after offset
    rows[3][3] = 49  # folder starts at 51: onset clamped
    loader = CASME2(make_casme2(tmp_path, rows=rows), strict=False)
    table = loader.load()
    assert "EP02_01f" not in set(table["clip"])
    assert any("onset 50 is after offset 46; expected onset <= offset" in p.message for p in loader.report.errors)
    clamped = table.set_index("clip").loc["EP01_2"]
    assert clamped.onset == 51 and "onset_clamped" in clamped["flags"]


def test_corrections_are_applied_reported_and_flagged(tmp_path):
    rows = [list(r) for r in CASME2_ROWS] + [["07", "EP06_01", None, 60, 62, 68, None, "12", "happiness"]]
    root = make_casme2(tmp_path, rows=rows)
    from tests.data._fake_trees import write_frames

    write_frames(root / "CASME2_RAW_selected" / "sub07" / "EP06_01", "img{}.jpg", range(60, 92))
    loader = CASME2(root)
    table = loader.load()
    row = table.set_index("clip").loc["EP06_01"]
    assert row.offset == 91 and row.n_frames == 32 and "corrected" in row["flags"]
    assert [o.status for o in loader.report.corrections] == ["applied"]
    assert "sub07/EP06_01 offset '68' -> '91': applied" in table.attrs["corrections"][0]
    off = CASME2(root, corrections=None).load().set_index("clip").loc["EP06_01"]
    assert off.offset == 68 and "corrected" not in off["flags"]


def test_user_correction_table_value_differs_is_reported(tmp_path):
    root = make_casme2(tmp_path)
    table_path = tmp_path / "fix.csv"
    table_path.write_text("subject,clip,onset,field,old,new,reason,source\nsub01,EP02_01f,,apex,47,49,test,me\n")
    loader = CASME2(root, corrections=table_path)
    table = loader.load()
    assert table.set_index("clip").loc["EP02_01f"].apex == 48
    assert loader.report.corrections[0].status == "value_differs"
    assert any("found '48'" in p.message for p in loader.report.warnings)
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,clip,onset,field,old,new,reason,source\nsub01,EP02_01f,,subject,1,2,,me\n")
    with pytest.raises(AnnotationError, match=r"bad.csv line 2: field 'subject' cannot be corrected"):
        CASME2(root, corrections=bad).load()
