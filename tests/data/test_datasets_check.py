"""`merkit datasets check` / `list`, check_dataset, dataset paths from env vars and paths files."""

import pytest

from merkit.cli import main
from merkit.data.check import check_dataset
from merkit.data.registry import create_dataset, list_datasets, load_dataset
from merkit.errors import ConfigError, DatasetNotFoundError, UnknownNameError
from tests.data._fake_trees import make_casme2, make_megc_root, make_samm


def test_clean_copy_exits_zero_and_prints_count_warnings(tmp_path, capsys):
    root = make_samm(tmp_path)
    assert main(["datasets", "check", str(root), "--dataset", "samm"]) == 0
    out = capsys.readouterr().out
    assert "7 annotated samples found; a complete copy has 159" in out
    assert "samm at " in out and "7 samples loaded from 7 annotated (6 subjects), 21 frames decoded; 0 error(s)" in out


def test_every_problem_is_printed_and_exit_is_nonzero(tmp_path, capsys):
    root = make_casme2(tmp_path)
    (root / "CASME2_RAW_selected" / "sub01" / "EP02_01f" / "img48.jpg").write_bytes(b"not a jpeg")
    for f in (root / "CASME2_RAW_selected" / "sub03" / "EP01_2").iterdir():
        f.unlink()
    (root / "CASME2_RAW_selected" / "sub24" / "EP07_04f").rename(root / "CASME2_RAW_selected" / "sub24" / "moved")
    assert main(["datasets", "check", str(root), "--dataset", "casme2", "--decode", "all"]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.out.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert "cannot decode image file" in errors[-1] and "img48.jpg" in errors[-1]
    assert any("EP01_2' holds no frame named like img<N>.jpg (the folder is empty)" in e for e in errors)
    assert any("sub24/EP07_04f' does not exist" in e for e in errors)
    assert "3 error(s) in the casme2 copy" in captured.err


def test_check_report_api_and_decode_modes(tmp_path):
    root = make_casme2(tmp_path)
    assert check_dataset("casme2", root, decode="none").n_decoded == 0
    report = check_dataset("casme2", root, decode="all", variant="cropped")
    assert report.ok and report.n_decoded == sum(n for n in [5, 5, 4, 5, 5, 5, 4, 5, 5, 5])
    with pytest.raises(ConfigError, match=r"decode must be one of"):
        check_dataset("casme2", root, decode="some")


def test_check_composite_with_user_gt(tmp_path, capsys):
    root = make_megc_root(tmp_path)
    code = main(["datasets", "check", str(root), "--dataset", "megc2019_cde", "--gt", str(root / "combined_3class_gt.csv")])
    assert code == 0
    assert "12 samples loaded from 12 annotated (9 subjects)" in capsys.readouterr().out


def test_wrong_root_and_unknown_names(tmp_path, capsys):
    assert main(["datasets", "check", str(tmp_path / "absent"), "--dataset", "samm"]) == 1
    captured = capsys.readouterr()
    assert "error: dataset root" in captured.out and "does not exist or is not a folder" in captured.out
    assert "1 error(s) in the samm copy" in captured.err
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'casme22'.*Did you mean 'casme2'"):
        load_dataset("casme22", tmp_path)
    with pytest.raises(ConfigError, match=r"dataset 'samm' has no option\(s\) \['variant'\]"):
        create_dataset("samm", make_samm(tmp_path), variant="raw")


def test_list_command(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("casme2", "samm", "smic_hs", "smic_vis", "smic_nir", "casme", "casme3_a", "mmew", "fourdme", "megc2019_cde"):
        assert name in out and name in list_datasets()


def test_root_from_environment(tmp_path, monkeypatch):
    root = make_samm(tmp_path)
    monkeypatch.delenv("MERKIT_SAMM_ROOT", raising=False)
    monkeypatch.delenv("MERKIT_DATA_ROOT", raising=False)
    with pytest.raises(DatasetNotFoundError, match=r"no root folder given for dataset 'samm'.*MERKIT_SAMM_ROOT"):
        load_dataset("samm")
    monkeypatch.setenv("MERKIT_DATA_ROOT", str(tmp_path))
    assert len(load_dataset("samm")) == 7
    monkeypatch.setenv("MERKIT_SAMM_ROOT", str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetNotFoundError, match=r"elsewhere' for 'samm' \(from \$MERKIT_SAMM_ROOT\) does not exist"):
        load_dataset("samm")


def test_paths_file(tmp_path, capsys):
    root = make_samm(tmp_path)
    sheet = root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    moved = tmp_path / "sheets" / "samm.xlsx"
    moved.parent.mkdir()
    sheet.rename(moved)
    config = tmp_path / "paths.yaml"
    config.write_text("datasets:\n  samm:\n    root: SAMM\n    annotation: sheets/samm.xlsx\n")
    assert main(["datasets", "check", "--dataset", "samm", "--config", str(config)]) == 0
    config.write_text("datasets:\n  samm:\n    rot: SAMM\n")
    assert main(["datasets", "check", "--dataset", "samm", "--config", str(config)]) == 1
    assert "entry 'samm' has unknown keys ['rot']" in capsys.readouterr().err


# ---- one pass: every problem of a copy, each naming its file and row ------------------------------------------


def test_missing_frames_folder_still_checks_every_annotation_cell(tmp_path, capsys):
    from tests.data._fake_trees import CASME2_ROWS

    rows = [list(r) for r in CASME2_ROWS]
    rows[1][3] = "ninety-eight"           # Excel row 3, OnsetFrame
    rows[4][5] = 200                       # Excel row 6: onset 261 after offset 200
    rows[7][4] = "apex?"                   # Excel row 9, ApexFrame
    root = make_casme2(tmp_path, rows=rows)
    import shutil

    shutil.rmtree(root / "CASME2_RAW_selected")
    shutil.rmtree(root / "Cropped")
    assert main(["datasets", "check", str(root), "--dataset", "casme2"]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, errors
    assert "has no CASME II frames folder" in errors[0]
    sheet = "CASME2-coding-20140508.xlsx sheet 'Sheet1'"
    assert f"{sheet} row 3: column 'OnsetFrame' must hold an integer frame number; got 'ninety-eight'" in errors[1]
    assert f"{sheet} row 6: onset 261 is after offset 200" in errors[2]
    assert f"{sheet} row 9: column 'ApexFrame' must hold an integer frame number or a missing marker" in errors[3]


def test_unreadable_annotation_and_bad_correction_table_are_both_reported(tmp_path):
    root = make_samm(tmp_path)
    (root / "SAMM_Micro_FACS_Codes_v2.xlsx").write_bytes(b"PK\x03\x04 truncated workbook")
    fixes = tmp_path / "fixes.csv"
    fixes.write_text("subject,clip,field\n006,006_1_2,apex\n")
    report = check_dataset("samm", root, corrections=str(fixes))
    messages = [p.message for p in report.errors]
    assert len(messages) == 2, messages
    assert "SAMM_Micro_FACS_Codes_v2.xlsx' cannot be read as an .xlsx workbook" in messages[0]
    assert "fixes.csv' lacks columns ['onset', 'old', 'new', 'reason', 'source']" in messages[1]
    assert not report.ok and report.n_rows == 0


def test_composite_with_a_missing_source_reports_the_others_too(tmp_path):
    import shutil

    root = make_megc_root(tmp_path)
    shutil.rmtree(root / "SMIC")
    (root / "CASME2" / "Cropped" / "sub02" / "EP01_11f").rename(root / "CASME2" / "Cropped" / "sub02" / "gone")
    report = check_dataset("megc2019_cde", root, gt_csv=str(root / "combined_3class_gt.csv"), decode="none")
    errors = [p.message for p in report.errors]
    assert len(errors) == 2, errors
    assert errors[0].startswith("[smic_hs] dataset root") and "SMIC' for 'smic_hs'" in errors[0]
    assert "combined_3class_gt.csv line 3: casme2,sub02,EP01_11f has no loaded casme2 sample" in errors[1]
    assert report.n_samples == 12 - 3 - 1  # the 3 SMIC rows not checkable, sub02/EP01_11f missing


def test_cli_options_listing_and_raw_smic_check(tmp_path, capsys):
    import shutil

    from merkit.data.registry import loader_options

    assert main(["datasets", "options", "smic_hs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(loader_options("smic_hs"))
    root = make_megc_root(tmp_path) / "SMIC"
    shutil.rmtree(root / "SMIC_all_cropped")
    assert main(["datasets", "check", str(root / "SMIC_all_raw" / "HS"), "--dataset", "smic_hs", "--apex-policy", "midpoint"]) == 0
    assert "smic_hs at " in capsys.readouterr().out


def test_a_usage_error_still_raises_in_a_check(tmp_path):
    root = make_casme2(tmp_path)
    with pytest.raises(ConfigError, match=r"CASME II variant 'crop' is unknown; valid variants: \['cropped', 'raw'\]"):
        check_dataset("casme2", root, variant="crop")
