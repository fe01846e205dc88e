"""Long-video loaders on SynthME long-video trees and a hand-made CAS(ME)^3 fixture."""

from __future__ import annotations

import cv2
import numpy as np
import openpyxl
import pytest

from merkit.data.longvideo import check_long_dataset, list_long_datasets, load_long_videos
from merkit.errors import AnnotationError, DatasetNotFoundError
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos

SHORT = dict(n_subjects=2, n_frames=200, n_micro=2, n_macro=1, n_blinks=1, n_head_moves=0)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("long")
    sq = generate_long_videos(base / "sq", LongVideoConfig(**SHORT), seed=0)
    lv = generate_long_videos(base / "lv", LongVideoConfig(layout="samm_lv", fps=30, **SHORT), seed=0)
    return sq, lv


def _truth(manifest):
    return sorted((e["subject"], e["onset"], e["apex"], e["offset"], e["kind"]) for e in manifest.intervals())


@pytest.mark.parametrize("name,index", [("casme_sq", 0), ("samm_lv", 1)])
def test_loaders_return_the_written_intervals(trees, name, index):
    manifest = trees[index]
    videos = load_long_videos(name, manifest.root, fps=30)
    assert len(videos) == 2 and all(v.n_frames == 200 and v.fps == 30 for v in videos)
    got = sorted((v.subject, i.onset, i.apex, i.offset, i.kind) for v in videos for i in v.intervals)
    assert got == _truth(manifest)
    assert videos[0].frame_numbers[:3] == (1, 2, 3)
    report = check_long_dataset(name, manifest.root, fps=30)
    assert report.ok and report.n_intervals == {"micro": 4, "macro": 2} and report.n_decoded >= 10


def test_registry_lists_the_three():
    assert list_long_datasets() == ["casme3_long", "casme_sq", "samm_lv"]


def _edit_cell(path, sheet_index, cell, value):
    book = openpyxl.load_workbook(path)
    book.worksheets[sheet_index][cell] = value
    book.save(path)


def test_bad_casme_sq_rows_name_file_row_and_column(trees, tmp_path):
    import shutil

    root = tmp_path / "CASME_sq"
    shutil.copytree(trees[0].root, root)
    sheet = root / "CAS(ME)^2code_final.xlsx"
    _edit_cell(sheet, 0, "C2", "abc")
    with pytest.raises(AnnotationError, match=r"sheet 'Sheet1' row 2: column 'onset' must hold an integer"):
        load_long_videos("casme_sq", root)
    _edit_cell(sheet, 0, "C2", 5)
    _edit_cell(sheet, 0, "H3", "blink")
    with pytest.raises(AnnotationError, match=r"row 3: column 'type' must say micro or macro.*got 'blink'"):
        load_long_videos("casme_sq", root)
    report = check_long_dataset("casme_sq", root)  # lenient: the bad row is reported, the others load
    assert not report.ok and len(report.errors) == 1 and sum(report.n_intervals.values()) == 5


def test_samm_lv_bad_filename_and_missing_folder(trees, tmp_path):
    import shutil

    root = tmp_path / "SAMM_LV"
    shutil.copytree(trees[1].root, root)
    _edit_cell(root / "SAMM_LongVideos_V2_Release.xlsx", 0, "B11", "006-1-1")
    with pytest.raises(AnnotationError, match=r"row 11: column 'Filename' must read <subject>_<inducement>_<k>"):
        load_long_videos("samm_lv", root, fps=30)
    _edit_cell(root / "SAMM_LongVideos_V2_Release.xlsx", 0, "B11", "006_1_1")
    shutil.rmtree(root / "SAMM_longvideos" / "007_1")
    with pytest.raises(DatasetNotFoundError, match=r"007_1.*does not exist"):
        load_long_videos("samm_lv", root, fps=30)


def test_casme3_long_groups_rows_into_videos(tmp_path):
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "label"
    ws.append(["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"])
    ws.append(["spNO.1", "a", 3, 5, 8, "4", "III", "disgust"])
    ws.append(["spNO.1", "a", 20, 22, 0, "12", "I", "happy"])  # offset 0: ends at the apex
    ws.append(["spNO.1", "J", 2, 3, 4, "1", "II", "surprise"])  # upper-case letter of folder j
    book.save(tmp_path / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx")
    for video in ("a", "j"):
        folder = tmp_path / "part_A" / "spNO.1" / video / "color"
        folder.mkdir(parents=True)
        for n in range(1, 31):
            cv2.imwrite(str(folder / f"{n}.jpg"), np.full((8, 8, 3), n, np.uint8))
    from merkit.data.long_datasets import CASME3Long

    loader = CASME3Long(tmp_path)
    videos = loader.load()
    assert [p.severity for p in loader.report.problems] == ["warning"]  # offset 0 replaced, and said so
    assert [v.video for v in videos] == ["a", "j"]
    assert [(i.onset, i.apex, i.offset) for i in videos[0].intervals] == [(3, 5, 8), (20, 22, 22)]
    assert videos[1].intervals[0].kind == "micro" and videos[0].frame_numbers[-1] == 30



def test_datasets_check_cli(trees, capsys):
    from merkit.cli import main

    assert main(["datasets", "check", str(trees[1].root), "--dataset", "samm_lv", "--fps", "30"]) == 0
    assert "samm_lv at" in capsys.readouterr().out


def test_casme_sq_rawvideo_variant(tmp_path):
    cfg = LongVideoConfig(n_subjects=1, n_frames=120, n_micro=1, n_macro=1, n_blinks=0, n_head_moves=0, rawvideo=True)
    m = generate_long_videos(tmp_path / "sq", cfg, seed=0)
    video = m.root / "rawvideo" / "s15" / "15_0101disgustingteeth.avi"
    assert video.is_file()
    (from_video,) = load_long_videos("casme_sq", m.root, variant="rawvideo")
    (from_frames,) = load_long_videos("casme_sq", m.root)
    assert from_video.video_file == str(video) and from_video.frame_numbers == from_frames.frame_numbers
    assert from_video.intervals == from_frames.intervals
    report = check_long_dataset("casme_sq", m.root, variant="rawvideo")
    assert report.ok and report.n_decoded >= 6
    with pytest.raises(Exception, match="variant must be one of"):
        load_long_videos("casme_sq", m.root, variant="cropped")


def test_datasets_check_cli_rawvideo(tmp_path, capsys):
    from merkit.cli import main

    cfg = LongVideoConfig(n_subjects=1, n_frames=90, n_micro=1, n_macro=0, n_blinks=0, n_head_moves=0, rawvideo=True)
    m = generate_long_videos(tmp_path, cfg, seed=1)
    assert main(["datasets", "check", str(m.root), "--dataset", "casme_sq", "--variant", "rawvideo"]) == 0
    assert "casme_sq at" in capsys.readouterr().out
