"""SMIC loaders on the fake tree of docs/datasets.md, "SMIC": labels from folders, non_micro ignored, SMIC-E sheets."""

import pandas as pd
import pytest

from merkit.data.registry import load_dataset
from merkit.data.smic import SMICHS
from merkit.errors import AnnotationError, DatasetNotFoundError
from tests.data._fake_trees import make_smic, write_frame

COLUMNS = ["subject", "clip", "onset", "apex", "offset", "n_frames", "emotion", "flags"]
FOLDER_FLAGS = ("apex_estimated", "label_from_folder")
EXPECTED_HS = pd.DataFrame(
    [
        ["s1", "s1_ne_01", 36230, 36232, 36234, 5, "negative", FOLDER_FLAGS],
        ["s1", "s1_po_01", 40100, 40102, 40104, 5, "positive", FOLDER_FLAGS],
        ["s3", "s3_sur_01", 12000, 12001, 12004, 4, "surprise", (*FOLDER_FLAGS, "missing_frames")],
        ["s20", "s20_ne_01", 17581039, 17581041, 17581043, 5, "negative", FOLDER_FLAGS],
    ],
    columns=COLUMNS,
)


@pytest.mark.parametrize("variant, name", [("raw", "image036230.bmp"), ("cropped", "reg_image036230.bmp")])
def test_hs_exact_table(tmp_path, variant, name):
    table = load_dataset("smic_hs", make_smic(tmp_path), variant=variant)
    pd.testing.assert_frame_equal(table[COLUMNS].astype(object), EXPECTED_HS.astype(object), check_dtype=False)
    assert table.iloc[0].frame_paths[0].endswith(f"SMIC_all_{variant}/HS/s1/micro/negative/s1_ne_01/{name}")
    assert set(table["fps"]) == {100.0}
    assert "non_micro" not in "".join(p for paths in table["frame_paths"] for p in paths)


def test_missing_frame_is_flagged_and_reported_not_fatal(tmp_path):
    loader = SMICHS(make_smic(tmp_path))
    table = loader.load()
    assert table.set_index("clip").loc["s3_sur_01"].frame_numbers == (12000, 12001, 12003, 12004)
    assert [p.message.split(": ")[-1].split(" (")[0] for p in loader.report.warnings] == ["missing frames"]


def test_vis_cropped(tmp_path):
    table = load_dataset("smic_vis", make_smic(tmp_path))
    assert table[COLUMNS].values.tolist() == [["s11", "s11_po_01", 6524, 6526, 6528, 5, "positive", FOLDER_FLAGS]]
    assert set(table["fps"]) == {25.0}


def test_smic_e_sheet_one_row_per_micro_expression(tmp_path):
    root = make_smic(tmp_path)
    sheet = root / "SMIC-E_raw image" / "HS_long" / "SMIC-HS-E_annotation.xlsx"
    table = load_dataset("smic_hs", root, annotation=sheet)
    expected = [
        ["s20", "s20_ne_01", 17581039, 17581041, 17581043, 5, "negative", ("apex_estimated",)],
        ["s20", "s20_ne_06", 17581032, 17581033, 17581035, 4, "negative", ("apex_estimated",)],
        ["s20", "s20_ne_06_me2", 17581050, 17581052, 17581055, 6, "negative", ("apex_estimated",)],
    ]
    assert table[COLUMNS].values.tolist() == expected
    # absolute numbers: the first frame on disk is 17581030 (FirstF), so the 0-based onset position is 9
    long = root / "SMIC-E_raw image" / "HS_long" / "SMIC-HS-E" / "s20" / "s20_ne_01"
    assert sorted(int(p.stem[5:]) for p in long.iterdir())[0] == 17581030
    assert table.iloc[0].frame_paths[0].endswith("s20_ne_01/image17581039.jpg")


def test_smic_e_padded_subject_folder_and_missing_clip(tmp_path):
    root = make_smic(tmp_path)
    e = root / "SMIC-E_raw image" / "HS_long"
    (e / "SMIC-HS-E" / "s20").rename(e / "SMIC-HS-E" / "s020")
    with pytest.raises(DatasetNotFoundError, match=r"row 2: no clip folder for 's20_ne_01'; expected .*SMIC-HS-E/s20/s20_ne_01/"):
        load_dataset("smic_hs", root, annotation=e / "SMIC-HS-E_annotation.xlsx")
    (e / "SMIC-HS-E" / "s020").rename(e / "SMIC-HS-E" / "s20")
    loader = SMICHS(root, annotation=e / "SMIC-HS-E_annotation.xlsx", strict=False)
    assert len(loader.load()) == 3


def test_unknown_emotion_folder_and_empty_clip(tmp_path):
    root = make_smic(tmp_path)
    write_frame(root / "SMIC_all_cropped" / "HS" / "s1" / "micro" / "happy" / "s1_ha_01" / "reg_image000001.bmp", 1)
    (root / "SMIC_all_cropped" / "HS" / "s3" / "micro" / "surprise" / "s3_sur_02").mkdir()
    loader = SMICHS(root, strict=False)
    table = loader.load()
    assert len(table) == 4
    messages = [p.message for p in loader.report.errors]
    assert any("unknown emotion folder 'happy'" in m for m in messages)
    assert any("s3_sur_02' holds no frame named like" in m and "(the folder is empty)" in m for m in messages)
    with pytest.raises(AnnotationError, match=r"2 problem\(s\) loading 'smic_hs'"):
        SMICHS(root).load()


def test_wrong_root(tmp_path):
    (tmp_path / "SMIC").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"has no SMIC HS frames folder; looked for \['SMIC_all_raw/HS'"):
        SMICHS(tmp_path / "SMIC")
