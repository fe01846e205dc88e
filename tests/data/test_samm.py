"""SAMM loader on the fake tree of docs/datasets.md, "SAMM": header by content, greyscale frames, apex out of range."""

import pandas as pd
import pytest

from merkit.data import get_label_set
from merkit.data.frames import ImageFiles
from merkit.data.registry import load_dataset
from merkit.data.samm import SAMM
from merkit.errors import AnnotationError
from tests.data._fake_trees import SAMM_ROWS, make_samm

COLUMNS = ["subject", "clip", "onset", "apex", "offset", "n_frames", "emotion", "action_units", "flags"]
EXPECTED = pd.DataFrame(
    [
        ["006", "006_1_2", 5562, 5564, 5566, 5, "Anger", "4+7", ()],
        ["006", "006_3_4", 639, 641, 643, 5, "Sadness", "15A+17", ()],
        ["007", "007_6_2", 1296, 1298, 1300, 5, "Happiness", "12", ()],
        ["011", "011_4_2", 2980, 2982, 2984, 5, "Contempt", "L12 or L14", ()],
        ["025", "025_4_1", 4328, 4330, 4332, 5, "Other", "T18+39", ()],
        ["028", "028_4_1", 1071, 1073, 1075, 5, "Contempt", "A14C", ("apex_estimated", "apex_out_of_range")],
        ["035", "035_7_2", 823, 825, 827, 5, "Contempt", "R14A or 17A or 24A", ()],
    ],
    columns=COLUMNS,
)


@pytest.mark.parametrize("preamble", [True, False], ids=["header-row-14", "header-row-1"])
def test_exact_table_with_and_without_preamble(tmp_path, preamble):
    table = load_dataset("samm", make_samm(tmp_path, preamble=preamble))
    pd.testing.assert_frame_equal(table[COLUMNS].astype(object), EXPECTED.astype(object), check_dtype=False)
    assert table.iloc[0].frame_paths[0].endswith("SAMM/SAMM/006/006_1_2/006_05562.jpg")


def test_header_row_number_is_reported_in_messages(tmp_path):
    loader = SAMM(make_samm(tmp_path))
    loader.load()
    # 13 preamble rows, header on Excel row 14, 028_4_1 is the 6th data row -> Excel row 20
    assert [p.where for p in loader.report.warnings] == ["SAMM_Micro_FACS_Codes_v2.xlsx sheet 'MICRO_ONLY' row 20"]
    assert "apex out of range" in loader.report.warnings[0].message


def test_subject_as_number_and_padding_width(tmp_path):
    rows = [[int(r[0]), *r[1:]] for r in SAMM_ROWS]
    root = make_samm(tmp_path, rows=rows)
    clip = root / "SAMM" / "007" / "007_6_2"
    for f in sorted(clip.iterdir()):  # 4-digit padding variant: 007_1296.jpg
        f.rename(clip / f.name.replace("_0", "_"))
    table = load_dataset("samm", root)
    assert list(table["subject"]) == list(EXPECTED["subject"])
    assert table.set_index("clip").loc["007_6_2"].frame_numbers == (1296, 1297, 1298, 1299, 1300)


def test_frames_are_greyscale_2d(tmp_path):
    table = load_dataset("samm", make_samm(tmp_path))
    frame = ImageFiles(table.iloc[2].frame_paths, color="gray")[0]
    assert frame.ndim == 2 and int(frame[0, 0]) == 1296 % 251


def test_label_sets(tmp_path):
    table = load_dataset("samm", make_samm(tmp_path))
    assert len(get_label_set("samm_5").apply(table)) == 6
    three = get_label_set("megc3").apply(table)
    assert len(three) == 6 and "025" not in set(three["subject"])


def test_bad_subject_cell_names_the_row(tmp_path):
    rows = [list(r) for r in SAMM_ROWS]
    rows[1][0] = "six"
    with pytest.raises(AnnotationError, match=r"sheet 'MICRO_ONLY' row 16: column 'Subject' must be a subject number like '006' or 6; got 'six'"):
        load_dataset("samm", make_samm(tmp_path, rows=rows))
