"""MEGC2019 composite: the packaged official list, and membership/labels from a GT on fake trees."""

import hashlib
from importlib import resources

import pytest

from merkit.data.composite import OFFICIAL_GT_SHA256, MEGC2019Composite, check_gt_counts, read_megc_gt
from merkit.data.registry import load_dataset
from merkit.errors import AnnotationError, DatasetNotFoundError
from tests.data._fake_trees import MINI_GT, make_megc_root


def test_official_list_is_the_published_file_with_published_counts():
    data = resources.files("merkit.data").joinpath("megc2019_gt.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == OFFICIAL_GT_SHA256
    counts = check_gt_counts(read_megc_gt())
    assert counts["samples"] == 442 and counts["subjects"] == 68
    assert counts["classes"] == {"negative": 250, "positive": 109, "surprise": 83}
    per = counts["per_dataset"]
    assert {d: per[d]["samples"] for d in per} == {"smic": 164, "casme2": 145, "samm": 133}
    assert {d: per[d]["subjects"] for d in per} == {"smic": 16, "casme2": 24, "samm": 28}
    assert per["smic"]["classes"] == {"negative": 70, "positive": 51, "surprise": 43}
    assert per["casme2"]["classes"] == {"negative": 88, "positive": 32, "surprise": 25}
    assert per["samm"]["classes"] == {"negative": 92, "positive": 26, "surprise": 15}


def test_official_list_spellings_map_to_folders():
    gt = read_megc_gt().set_index(["gt_dataset", "gt_clip"])
    assert tuple(gt.loc[("smic", "s01_ne_01"), ["subject", "clip", "dataset"]]) == ("s1", "s1_ne_01", "smic_hs")
    assert tuple(gt.loc[("samm", "006_1_2"), ["subject", "clip", "dataset"]]) == ("006", "006_1_2", "samm")
    keys = set(zip(read_megc_gt()["gt_dataset"], read_megc_gt()["gt_subject"], read_megc_gt()["gt_clip"]))
    assert ("casme2", "sub04", "EP12_01f") not in keys and ("casme2", "sub05", "EP09_05f") not in keys
    assert ("samm", "32", "032_3_1") in keys


@pytest.mark.parametrize("variant", ["plain", "blank-lines-crlf", "header"])
def test_mini_composite_membership_and_labels_from_gt(tmp_path, variant):
    root = make_megc_root(tmp_path)
    gt = root / "combined_3class_gt.csv"
    if variant == "blank-lines-crlf":
        gt.write_bytes("\r\n,,,\r\n".join(MINI_GT.strip().splitlines()).encode() + b"\r\n")
    elif variant == "header":
        gt.write_text("data,subject,clip,label\n" + MINI_GT)
    table = MEGC2019Composite(root, gt_csv=gt).load()
    assert list(table["sample_key"]) == [
        "casme2/sub01/EP02_01f", "casme2/sub01/EP19_05f", "casme2/sub02/EP01_11f", "casme2/sub03/EP01_2",
        "casme2/sub05/EP12_03f", "smic_hs/s1/s1_ne_01", "smic_hs/s1/s1_po_01", "smic_hs/s3/s3_sur_01",
        "samm/006/006_1_2", "samm/006/006_3_4", "samm/007/007_6_2", "samm/011/011_4_2",
    ]
    assert list(table["label"]) == ["positive", "negative", "negative", "surprise", "surprise", "negative",
                                    "positive", "surprise", "negative", "negative", "positive", "negative"]
    assert table["subject_key"].nunique() == 9
    row = table.set_index("sample_key").loc["smic_hs/s1/s1_ne_01"]
    assert "/SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01/" in row.frame_paths[0]
    assert "/SAMM/SAMM/006/006_1_2/" in table.set_index("sample_key").loc["samm/006/006_1_2"].frame_paths[0]
    # cropped CASME II by default
    assert "/Cropped/sub01/EP02_01f/reg_img46.jpg" in table.iloc[0].frame_paths[0]


def test_registry_entry_and_label_disagreement_is_reported(tmp_path):
    root = make_megc_root(tmp_path)
    gt = root / "combined_3class_gt.csv"
    gt.write_text(MINI_GT.replace("casme2,sub01,EP02_01f,1", "casme2,sub01,EP02_01f,2"))
    loader = MEGC2019Composite(root, gt_csv=gt, casme2_variant="raw")
    table = loader.load()
    assert table.iloc[0]["label"] == "surprise"
    assert any("GT class 'surprise' but casme2/sub01/EP02_01f emotion 'happiness' maps to 'positive'" in p.message
               for p in loader.report.warnings)
    assert len(load_dataset("megc2019_cde", root, gt_csv=root / "combined_3class_gt.csv")) == 12


def test_gt_row_without_clip_is_an_error_naming_the_line(tmp_path):
    root = make_megc_root(tmp_path)
    gt = root / "combined_3class_gt.csv"
    gt.write_text(MINI_GT + "casme2,sub04,EP12_01f,0\nsamm,25,025_9_9,0\n")
    with pytest.raises(DatasetNotFoundError, match=r"line 14: samm,25,025_9_9 has no loaded samm sample 025/025_9_9"):
        MEGC2019Composite(root, gt_csv=gt).load()
    loader = MEGC2019Composite(root, gt_csv=gt, strict=False)
    assert len(loader.load()) == 13 and len(loader.report.errors) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("casme2,sub01,EP02_01f\n", r"line 1: expected 4 fields"),
        ("casme2,sub01,EP02_01f,1\ncasme3,spNO.1,a,0\n", r"line 2: unknown dataset 'casme3'"),
        ("casme2,sub01,EP02_01f,1\ncasme2,sub01,EP19_05f,3\n", r"line 2: class must be 0 \(negative\), 1 \(positive\) or 2"),
        ("casme2,sub01,EP02_01f,1\ncasme2,1,EP02_01f,1\n", r"line 2: casme2,1,EP02_01f repeats line 1"),
        ("samm,six,006_1_2,0\n", r"line 1: subject 'six' is not a valid samm subject id"),
    ],
)
def test_bad_gt_rows(tmp_path, text, message):
    path = tmp_path / "gt.csv"
    path.write_text(text)
    with pytest.raises(AnnotationError, match=message):
        read_megc_gt(path)
