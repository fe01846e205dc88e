"""Property-based tests of every annotation reader (fast, derandomised slice; the 10,000-case run is
benchmarks/perf/fuzz_annotations.py) and plain regression tests for the bugs the fuzzer found."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from merkit.data._corrections import load_corrections
from merkit.data._excel import normalise_header
from merkit.data.composite import read_megc_gt
from merkit.data.macro import load_ckplus
from merkit.errors import AnnotationError, MerkitError
from tests.data._fuzz import AU_STRINGS, Workspace, cases, run_case, write_table
from tests.data._fuzz_targets import TARGETS, long_targets

settings.register_profile(
    "merkit-ci", max_examples=12, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CI = settings.get_profile("merkit-ci")


def _accepted_headers() -> set[str]:
    from merkit.data import casme, casme2, casme3, fourdme, mmew, samm, smic

    specs = [*casme.CASME_COLUMNS, *casme2.CASME2_COLUMNS, *casme3.CASME3A_COLUMNS, *fourdme.FOURDME_COLUMNS,
             *mmew.MMEW_COLUMNS, *samm.SAMM_COLUMNS, *smic.SMIC_E_COLUMNS]
    return {normalise_header(h) for spec in specs for h in spec.headers}


ACCEPTED_HEADERS = _accepted_headers()
SHEETS = [name for name, t in TARGETS.items() if t.kind == "sheet" and "onset" in t.fields]
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz\u00e9\u00df", min_size=1, max_size=8).filter(
    lambda w: w.casefold() not in ("na", "nan", "none"))


@pytest.fixture(scope="module")
def spaces(tmp_path_factory) -> dict[str, Workspace]:
    base = tmp_path_factory.mktemp("fuzz")
    return {name: Workspace(target, base / name) for name, target in TARGETS.items()}


def _excel_row(name: str, index: int) -> int:
    """1-based sheet row of data row ``index`` (preamble and header above it)."""
    return len(TARGETS[name].preamble) + 2 + index


def _lenient(spaces, name, edits, fmt="xlsx"):
    ws = spaces[name]
    path = ws.annotation_path(fmt)
    table = [list(TARGETS[name].header)] + [list(r) for r in TARGETS[name].rows]
    for row, col, value in edits:
        table[row + 1][table[0].index(col)] = value
    write_table(TARGETS[name], table, path, fmt)
    loader = TARGETS[name].read(ws.root, path, False)
    return loader, loader.load(), path


@pytest.mark.parametrize("name", sorted(TARGETS))
@CI
@given(data=st.data())
def test_any_damage_gives_only_merkit_errors_that_name_the_file(spaces, name, data):
    counts = run_case(spaces[name], **data.draw(cases(TARGETS[name])))
    assert counts.untyped == 0 and counts.unnamed == 0, counts.failures


@pytest.mark.parametrize("name", SHEETS)
@CI
@given(data=st.data(), word=WORDS, fmt=st.sampled_from(["xlsx", "csv"]))
def test_a_word_in_a_frame_column_is_an_error_naming_file_row_and_column(spaces, name, data, word, fmt):
    target = TARGETS[name]
    index = data.draw(st.integers(0, len(target.rows) - 1))
    field = data.draw(st.sampled_from([f for f in ("onset", "offset") if f in target.fields]))
    column = target.fields[field]
    loader, table, path = _lenient(spaces, name, [(index, column, word)], fmt)
    row = f"{path.name}{'' if fmt == 'csv' else f' sheet {target.sheet!r}'} row {_excel_row(name, index)}"
    messages = [p.message for p in loader.report.errors]
    assert any(row in m and repr(column) in m and repr(word) in m for m in messages), messages


@pytest.mark.parametrize("name", SHEETS)
@CI
@given(data=st.data(), gap=st.integers(1, 10**6))
def test_onset_after_offset_is_an_error_naming_the_row(spaces, name, data, gap):
    target = TARGETS[name]
    index = data.draw(st.integers(0, len(target.rows) - 1))
    onset = target.rows[index][target.header.index(target.fields["onset"])]
    assume(onset - gap != 0)  # offset 0 means "no offset" (estimated, documented), not an early offset
    edits = [(index, target.fields["offset"], onset - gap)]
    loader, table, path = _lenient(spaces, name, edits)
    messages = [p.message for p in loader.report.errors if f" row {_excel_row(name, index)}" in p.message]
    assert any(f"onset {onset} is after offset {onset - gap}" in m for m in messages), loader.report.errors


def _clip(name: str, index: int) -> str:
    target = TARGETS[name]
    return str(target.rows[index][target.header.index("Filename" if "Filename" in target.header else "fold_name")])


@pytest.mark.parametrize("name", [n for n in SHEETS if "apex" in TARGETS[n].fields])
@CI
@given(data=st.data(), marker=st.sampled_from(["/", "", "-", "?", "n/a", None]))
def test_a_missing_apex_is_estimated_and_flagged(spaces, name, data, marker):
    target = TARGETS[name]
    index = data.draw(st.integers(0, len(target.rows) - 1))
    edits = [(index, target.fields[f], marker) for f in ("apex", "apex2") if f in target.fields]  # CASME: ApexF1, ApexF2
    loader, table, path = _lenient(spaces, name, edits)
    assert not loader.report.errors and len(table) == len(target.rows)  # samples come in sheet order
    assert table.iloc[index]["clip"].lower().startswith(_clip(name, index).lower())
    assert "apex_estimated" in table.iloc[index]["flags"]


@pytest.mark.parametrize("name", [n for n in SHEETS if "au" in TARGETS[n].fields])
@CI
@given(data=st.data(), au=st.one_of(st.sampled_from(AU_STRINGS), st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=10)))
def test_action_unit_strings_are_kept_as_written(spaces, name, data, au):
    target = TARGETS[name]
    index = data.draw(st.integers(0, len(target.rows) - 1))
    loader, table, path = _lenient(spaces, name, [(index, target.fields["au"], au)])
    assert not loader.report.errors and len(table) == len(target.rows)
    assert table.iloc[index]["clip"].lower().startswith(_clip(name, index).lower())
    assert table.iloc[index]["action_units"] == au.strip()


@pytest.mark.parametrize("name", SHEETS)
@CI
@given(data=st.data(), new=st.text(max_size=8))
def test_a_missing_required_column_names_the_file_and_the_expected_headers(spaces, name, data, new):
    target = TARGETS[name]
    column = data.draw(st.sampled_from([target.fields["onset"], "Filename" if "Filename" in target.header else "fold_name"]))
    ws = spaces[name]
    path = ws.annotation_path("xlsx")
    header = [new if h == column else h for h in target.header]
    write_table(target, [header] + [list(r) for r in target.rows], path, "xlsx")
    try:
        TARGETS[name].read(ws.root, path, True).load()
    except AnnotationError as exc:
        assert path.name in str(exc)
        assert "unknown column layout" in str(exc) and repr(column) in str(exc)
    else:  # the new header text must then be an accepted spelling of a column
        assert normalise_header(new) in ACCEPTED_HEADERS, new


@pytest.fixture(scope="module")
def long_spaces(tmp_path_factory) -> dict[str, Workspace]:
    base = tmp_path_factory.mktemp("fuzz_long")
    return {name: Workspace(target, base / name) for name, target in long_targets().items()}


@pytest.mark.parametrize("name", ["casme_sq", "samm_lv"])
@settings(CI, max_examples=8)
@given(data=st.data())
def test_long_video_sheets_fail_only_with_named_merkit_errors(long_spaces, name, data):
    counts = run_case(long_spaces[name], **data.draw(cases(long_spaces[name].target)))
    assert counts.untyped == 0 and counts.unnamed == 0, counts.failures


# ---- regressions: each was an untyped exception, a silent read outside the root, or an unnamed error ----------


def test_csv_annotation_that_is_not_utf8_names_file_and_line(tmp_path):
    from merkit.data._excel import ColumnSpec, read_annotation

    path = tmp_path / "sheet.csv"
    path.write_bytes(b"Subject,Filename\n01,EP02\n\x89PNG,x\n")  # was UnicodeDecodeError
    with pytest.raises(AnnotationError, match=r"sheet\.csv' line 3: byte b'\\x89' at offset 25 is not UTF-8"):
        read_annotation(path, [ColumnSpec("subject", ("Subject",))])


def test_workbook_saved_under_a_csv_name_is_named_as_binary(tmp_path):
    from merkit.data._excel import ColumnSpec, read_annotation

    path = tmp_path / "CASME2-coding.csv"
    path.write_bytes(b"PK\x03\x04\x00\x00rest")  # was UnicodeDecodeError / csv.Error
    with pytest.raises(AnnotationError, match=r"CASME2-coding\.csv' holds a NUL byte at offset 4: it is binary"):
        read_annotation(path, [ColumnSpec("subject", ("Subject",))])


def test_gt_list_and_correction_table_that_are_not_utf8(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_bytes(b"casme2,sub01,EP02_01f,1\r\nsamm,6,\xff006_1_2,0\r\n")  # was UnicodeDecodeError
    with pytest.raises(AnnotationError, match=r"gt\.csv' line 2: byte b'\\xff'"):
        read_megc_gt(gt)
    table = tmp_path / "fixes.csv"
    table.write_bytes("subject,clip,onset,field,old,new,reason,source\nsub01,EP02,,apex,1,2,caf\u00e9".encode("latin-1"))
    with pytest.raises(AnnotationError, match=r"fixes\.csv' line 2: byte b'\\xe9'"):
        load_corrections(table, "casme2")


@pytest.mark.parametrize("content", ["nan", "inf", "-inf"])
def test_ckplus_non_finite_code_is_an_annotation_error(tmp_path, content):
    from tests.data._fake_trees import write_frames

    write_frames(tmp_path / "cohn-kanade-images/S005/001", "S005_001_{:08d}.png", range(1, 5), size=(8, 8), channels=1)
    label = tmp_path / "Emotion/S005/001/S005_001_00000004_emotion.txt"
    label.parent.mkdir(parents=True)
    label.write_text(content)  # was ValueError / OverflowError from int(nan) / int(inf)
    with pytest.raises(AnnotationError, match=re.escape(str(label)) + ".*expected one code 0-7"):
        load_ckplus(tmp_path)
    label.rename(label.with_name("S005_001_emotion.txt"))
    label.with_name("S005_001_emotion.txt").write_text("3")  # was ValueError from int('emotion.txt')
    with pytest.raises(AnnotationError, match=r"S005_001_emotion\.txt'.*expected a name <subject>_<sequence>_<frame"):
        load_ckplus(tmp_path)


def test_duplicate_rows_are_an_error_naming_both_rows(tmp_path):
    from merkit.data.casme2 import CASME2
    from tests.data._fake_trees import CASME2_ROWS, make_casme2

    root = make_casme2(tmp_path, rows=[*CASME2_ROWS, CASME2_ROWS[1]])  # was "duplicated sample keys" without file/row
    loader = CASME2(root, strict=False)
    table = loader.load()
    assert len(table) == len(CASME2_ROWS)
    assert [p.message for p in loader.report.errors] == [
        "CASME2-coding-20140508.xlsx sheet 'Sheet1' row 12: sample sub01/EP19_05f repeats CASME2-coding-20140508.xlsx "
        "sheet 'Sheet1' row 3; expected each (subject, clip) once (row skipped)."
    ]


def test_frame_listing_errors_name_the_annotation_row(tmp_path):
    from merkit.data.casme2 import CASME2
    from tests.data._fake_trees import make_casme2

    root = make_casme2(tmp_path)
    for f in (root / "CASME2_RAW_selected/sub02/EP01_11f").iterdir():
        f.unlink()
    loader = CASME2(root, strict=False)
    loader.load()
    (problem,) = loader.report.errors
    assert problem.message.startswith("CASME2-coding-20140508.xlsx sheet 'Sheet1' row 4: clip folder ")


def test_strict_error_kind_is_a_merkit_error():
    assert issubclass(AnnotationError, MerkitError) and issubclass(AnnotationError, ValueError)


@pytest.mark.parametrize("name, content", [
    ("paths.yaml", b"datasets: {casme2: [unclosed"), ("paths.toml", b"[datasets\ncasme2 = 1"),
    ("paths.yaml", b"datasets:\n  casme2: {root: \xff}"), ("paths.yaml", b"datasets:\n  casme2: {root: 5}"),
])
def test_a_broken_paths_file_is_a_config_error_naming_it(tmp_path, name, content):
    from merkit.data.paths import read_paths_file
    from merkit.errors import ConfigError

    path = tmp_path / name
    path.write_bytes(content)  # were yaml.YAMLError, TOMLDecodeError, UnicodeDecodeError, TypeError
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        read_paths_file(path)
