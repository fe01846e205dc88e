"""Frame layouts detected from disk; dataset entries of configs (load_dataset_spec, loader_options); apex policies by name."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import textwrap

import pytest

from merkit.data.casme2 import CASME2
from merkit.data.check import check_dataset
from merkit.data.composite import MEGC2019Composite
from merkit.data.registry import get_dataset_class, list_datasets, load_dataset, load_dataset_spec, loader_options
from merkit.data.smic import SMICHS
from merkit.errors import AnnotationError, ConfigError, DatasetNotFoundError, UnknownNameError
from tests.data._fake_trees import SMIC_HS_CLIPS, make_casme2, make_megc_root, make_samm, make_smic, write_frames, write_xlsx


def _raw_only_smic(tmp_path):
    root = make_smic(tmp_path)
    shutil.rmtree(root / "SMIC_all_cropped")
    return root


# ---- layouts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["SMIC", "SMIC/SMIC_all_raw", "SMIC/SMIC_all_raw/HS"])
def test_raw_smic_copy_loads_from_any_of_its_folders(tmp_path, where):
    _raw_only_smic(tmp_path)
    loader = SMICHS(tmp_path / where)
    table = loader.load()
    assert loader.variant == "raw" and loader.frames_dir == tmp_path / "SMIC/SMIC_all_raw/HS"
    assert sorted(table["clip"]) == sorted(clip for _, _, clip in SMIC_HS_CLIPS)
    assert all("/SMIC_all_raw/HS/" in paths[0] and "/image" in paths[0] for paths in table["frame_paths"])


def test_cropped_camera_folder_as_root_is_detected_from_frame_names(tmp_path):
    root = make_smic(tmp_path)
    loader = SMICHS(root / "SMIC_all_cropped" / "HS")
    assert loader.variant == "cropped"
    assert all("/reg_image" in p[0] for p in loader.load()["frame_paths"])


def test_both_smic_layouts_present_keep_the_documented_default_and_variant_chooses(tmp_path):
    root = make_smic(tmp_path)
    assert SMICHS(root).variant == "cropped"
    assert SMICHS(root, variant="raw").frames_dir == root / "SMIC_all_raw" / "HS"
    with pytest.raises(ConfigError, match=r"SMIC HS variant 'crop' is unknown; valid variants: \['cropped', 'raw'\]"):
        SMICHS(root, variant="crop")


@pytest.mark.parametrize("keep", ["raw", "cropped"])
def test_casme2_single_layout_copies_are_detected(tmp_path, keep):
    root = make_casme2(tmp_path)
    shutil.rmtree(root / ("Cropped" if keep == "raw" else "CASME2_RAW_selected"))
    table = load_dataset("casme2", root)
    prefix = "/img" if keep == "raw" else "/reg_img"
    assert len(table) == 10 and all(prefix in p[0] for p in table["frame_paths"])


def test_casme2_frames_folder_as_root_with_annotation_elsewhere(tmp_path):
    root = make_casme2(tmp_path)
    table = load_dataset("casme2", root / "Cropped", annotation=root / "CASME2-coding-20140508.xlsx")
    assert len(table) == 10 and all("/Cropped/sub" in p[0] and "/reg_img" in p[0] for p in table["frame_paths"])


def test_a_layout_that_cannot_be_told_is_a_clear_error(tmp_path):
    root = tmp_path / "4DME"
    write_frames(root / "S13" / "S13_1st_001_01_1", "Frame_{:09d}.jpg", range(8, 13), channels=1)
    write_xlsx(root / "4DME_Labelling_Micro_release v1.xlsx", {"Sheet1": [["sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset"]]})
    with pytest.raises(ConfigError, match=r"cannot tell which 4DME frame variant .*4DME' holds.*pass variant= one of \['cropped', 'gray'\]"):
        load_dataset("fourdme", root)
    assert load_dataset("fourdme", root, variant="gray").empty


# ---- config entries --------------------------------------------------------------------------------------------


def _constructor_arguments(cls):
    """The named arguments ``cls(...)`` takes: its ``__init__``'s and, where that passes ``**options`` on, the next one's up the MRO."""
    params = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        signature = inspect.signature(vars(klass)["__init__"])
        for key, param in signature.parameters.items():
            if key != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                params.setdefault(key, param)
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            return params
    raise AssertionError(f"{cls.__name__}: no __init__ takes the options it passes on")


def test_loader_options_cover_every_constructor_argument_with_type_default_and_doc():
    for name in list_datasets():
        cls = get_dataset_class(name)
        params = _constructor_arguments(cls)
        options = loader_options(name)
        if "variant" in params and "variant" not in options:  # the shared keyword of loaders with several frame layouts
            with pytest.raises(TypeError, match="variant"):
                cls(variant="raw")
            del params["variant"]
        assert sorted(options) == sorted(params) and next(iter(options)) == "root", name
        for key, (hint, default, doc) in options.items():
            assert default is params[key].default
            assert hint is not None and doc, (name, key)


def test_spec_as_root_or_table_equals_the_keyword_call(tmp_path):
    root = _raw_only_smic(tmp_path)
    by_path = load_dataset_spec("smic_hs", str(root / "SMIC_all_raw" / "HS"))
    by_table = load_dataset_spec("smic_hs", {"root": "SMIC/SMIC_all_raw/HS", "apex_policy": "midpoint", "corrections": "none"},
                                 base=tmp_path)
    direct = load_dataset("smic_hs", root, variant="raw", corrections=None)
    for table in (by_path, by_table):
        assert table[["sample_key", "onset", "apex", "offset"]].equals(direct[["sample_key", "onset", "apex", "offset"]])


def test_spec_frames_dir_and_annotation_are_resolved_against_base(tmp_path):
    root = make_casme2(tmp_path)
    moved = tmp_path / "elsewhere" / "frames"
    moved.parent.mkdir()
    shutil.move(root / "Cropped", moved)
    table = load_dataset_spec("casme2", {"root": "CASME2", "frames_dir": "elsewhere/frames", "variant": "cropped"}, base=tmp_path)
    assert len(table) == 10 and all(str(moved) in p[0] for p in table["frame_paths"])


def test_unknown_option_lists_valid_ones_with_a_close_match(tmp_path):
    root = make_samm(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_dataset_spec("smic_hs", {"root": str(root), "frame_dir": "x"})
    message = str(info.value)
    assert "dataset 'smic_hs' has no option 'frame_dir'" in message and "Did you mean 'frames_dir'?" in message
    for option in loader_options("smic_hs"):
        assert repr(option) in message


@pytest.mark.parametrize("name, key, value", [
    ("smic_hs", "strict", "yes"), ("fourdme", "fps", "thirty"), ("casme2", "variant", 3), ("samm", "annotation", ["a.xlsx"]),
    ("megc2019_cde", "casme2_options", "raw"),
])
def test_wrong_type_names_the_key_and_the_expected_type(tmp_path, name, key, value):
    with pytest.raises(ConfigError, match=rf"dataset '{name}' option '{key}' must be .*; got {type(value).__name__} "):
        load_dataset_spec(name, {"root": str(tmp_path), key: value})


def test_composite_spec_with_a_raw_layout_smic_root(tmp_path):
    root = make_megc_root(tmp_path)
    shutil.rmtree(root / "SMIC" / "SMIC_all_cropped")
    spec = {"gt_csv": "combined_3class_gt.csv", "casme2": "CASME2", "samm": {"root": "SAMM", "corrections": "none"},
            "smic_hs": {"root": "SMIC/SMIC_all_raw/HS", "apex_policy": "midpoint"}}
    table = load_dataset_spec("megc2019_cde", spec, base=root)
    assert len(table) == 12 and table["subject_key"].nunique() == 9
    smic = table[table["dataset"] == "smic_hs"]
    assert len(smic) == 3 and all("/SMIC_all_raw/HS/" in p[0] for p in smic["frame_paths"])
    with pytest.raises(ConfigError, match=r"dataset 'smic_hs' has no option 'varient'.*Did you mean 'variant'"):
        load_dataset_spec("megc2019_cde", {**spec, "smic_hs": {"root": "SMIC", "varient": "raw"}}, base=root)


# ---- apex policies ---------------------------------------------------------------------------------------------


def test_motion_peak_by_name_through_the_root_package_and_a_clear_error_below_it(tmp_path):
    root = _raw_only_smic(tmp_path)
    script = textwrap.dedent(f"""
        import sys
        import merkit
        from merkit.data.registry import load_dataset_spec
        from merkit.errors import UnknownNameError
        assert "merkit.motion" not in sys.modules
        try:
            load_dataset_spec("smic_hs", {{"root": {str(root)!r}, "apex_policy": "motion_peak"}})
        except UnknownNameError as exc:  # the data layer never imports motion itself
            assert "registered when merkit.motion is imported" in str(exc), exc
        else:
            raise AssertionError("motion_peak resolved without merkit.motion")
        table = merkit.load_dataset("smic_hs", {str(root)!r}, apex_policy="motion_peak")
        assert "merkit.motion.keyframes" in sys.modules
        print(sorted(table["apex"].tolist()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from merkit.motion.keyframes import MotionPeakApex

    expected = load_dataset("smic_hs", root, apex_policy=MotionPeakApex())
    assert done.stdout.strip() == str(sorted(expected["apex"].tolist()))


def test_a_bad_apex_policy_raises_the_same_class_everywhere(tmp_path):
    root = make_megc_root(tmp_path)
    gt = str(root / "combined_3class_gt.csv")
    calls = [
        lambda: CASME2(root / "CASME2", apex_policy="motion_peek"),
        lambda: load_dataset("samm", root / "SAMM", apex_policy="motion_peek"),
        lambda: load_dataset_spec("smic_hs", {"root": str(root / "SMIC"), "apex_policy": "motion_peek"}),
        lambda: MEGC2019Composite(root, gt_csv=gt, apex_policy="motion_peek"),
        lambda: load_dataset_spec("megc2019_cde", {"root": str(root), "gt_csv": gt, "apex_policy": "motion_peek"}),
        lambda: check_dataset("casme2", root / "CASME2", apex_policy="motion_peek"),
    ]
    for call in calls:
        with pytest.raises(UnknownNameError, match=r"unknown apex policy 'motion_peek'.*Did you mean 'motion_peak'"):
            call()


def test_an_apex_policy_that_fails_is_an_error_naming_the_row(tmp_path):
    root = make_casme2(tmp_path)

    def broken(context):
        raise ZeroDivisionError("boom")

    with pytest.raises(AnnotationError, match=r"row 6 \(casme2/sub04/EP12_01f\): apex policy .* raised ZeroDivisionError: boom"):
        CASME2(root, variant="raw", apex_policy=broken).load()
    with pytest.raises(AnnotationError, match=r"returned True, which is not a frame on disk"):
        CASME2(root, variant="raw", apex_policy=lambda context: True).load()


def test_missing_root_in_a_spec_uses_the_environment(tmp_path, monkeypatch):
    root = _raw_only_smic(tmp_path)
    monkeypatch.setenv("MERKIT_SMIC_HS_ROOT", str(root))
    assert len(load_dataset_spec("smic_hs", {"variant": "raw"})) == len(SMIC_HS_CLIPS)
    monkeypatch.delenv("MERKIT_SMIC_HS_ROOT")
    monkeypatch.delenv("MERKIT_SMIC_ROOT", raising=False)
    monkeypatch.delenv("MERKIT_DATA_ROOT", raising=False)
    with pytest.raises(DatasetNotFoundError, match="no root folder given for dataset 'smic_hs'"):
        load_dataset_spec("smic_hs", {})


def test_docs_list_every_option_of_every_loader():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text()
    section = text[text.index("### Loader options"):text.index("### Options from a config file")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    for name in list_datasets():
        for option in loader_options(name):
            if option == "root":
                continue
            assert any(f"`{option}`" in row and (f"`{name}`" in row or row.count("|") == 5) for row in rows), (name, option)


def test_variant_from_folder_names_uses_whole_words(tmp_path):
    from merkit.data._layout import variant_from_names

    variants = ["cropped", "raw"]
    for name, expected in [("SMIC_all_raw/HS", "raw"), ("CASME2-RAW", "raw"), ("Cropped-updated/Cropped", "cropped"),
                           ("drawings/frames", None), ("microcropping", None)]:
        folder = tmp_path / name
        folder.mkdir(parents=True)
        assert variant_from_names(folder, variants) == expected, name
    write_frames(tmp_path / "drawings" / "frames" / "s1", "reg_image{:06d}.bmp", [1])
    assert variant_from_names(tmp_path / "drawings" / "frames", variants) == "cropped"


def test_composite_prefers_cropped_frames_also_for_roots_from_the_environment(tmp_path, monkeypatch):
    root = make_megc_root(tmp_path)
    for name, folder in (("CASME2", "CASME2"), ("SAMM", "SAMM"), ("SMIC", "SMIC")):
        monkeypatch.setenv(f"MERKIT_{name}_ROOT", str(root / folder))
    table = MEGC2019Composite(gt_csv=root / "combined_3class_gt.csv").load()
    casme2 = table[table["dataset"] == "casme2"]
    assert len(casme2) == 5 and all("/Cropped/" in p[0] for p in casme2["frame_paths"])
    raw = MEGC2019Composite(gt_csv=root / "combined_3class_gt.csv", casme2_variant="raw").load()
    assert all("/CASME2_RAW_selected/" in p[0] for p in raw[raw["dataset"] == "casme2"]["frame_paths"])
