"""SynthME trees: determinism, the format facts of docs/datasets.md, and exact ground truth."""

import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from merkit.data.labels import get_label_set
from merkit.errors import ConfigError
from merkit.synth import generate, warp_by_flow


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(tiny, tmp_path):
    # A second run in another folder, rendered by two worker processes, must match byte for byte.
    again = generate(tmp_path / "again", "tiny", seed=0, workers=2)
    first, second = _hashes(tiny.out_dir), _hashes(again.out_dir)
    assert len(first) > 100
    assert first == second


def test_other_seed_differs(tiny, tmp_path):
    other = generate(tmp_path / "other", "tiny", seed=1)
    a, b = _hashes(tiny.out_dir), _hashes(other.out_dir)
    assert a["combined_3class_gt.csv"] != b["combined_3class_gt.csv"]
    assert a["CASME2/CASME2-coding-20140508.xlsx"] != b["CASME2/CASME2-coding-20140508.xlsx"]


def test_refuses_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(ConfigError, match="is not empty"):
        generate(tmp_path, "tiny", seed=0)
    with pytest.raises(ConfigError, match="holds no SynthME manifest.json; refusing to delete it"):
        generate(tmp_path, "tiny", seed=0, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "user data"


def test_casme2_sheet_and_frames(tiny):
    root = tiny.root("casme2")
    wb = load_workbook(root / "CASME2-coding-20140508.xlsx")
    assert wb.sheetnames == ["Sheet1", "Sheet2", "Sheet3"]
    ws = wb["Sheet1"]
    header = [c.value for c in ws[1]]
    assert header == ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                      "Action Units", "Estimated Emotion"]
    table = pd.read_excel(root / "CASME2-coding-20140508.xlsx", sheet_name="Sheet1")
    assert list(table.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                   "Unnamed: 6", "Action Units", "Estimated Emotion"]
    vocab = {"happiness", "disgust", "repression", "surprise", "fear", "sadness", "others"}
    for row in ws.iter_rows(min_row=2, values_only=True):
        subject, clip, _, onset, apex, offset, _, aus, emotion = row
        assert isinstance(subject, str) and re.fullmatch(r"\d\d", subject)  # text '01'
        assert re.fullmatch(r"EP\d\d_\d\df?", clip)
        assert emotion in vocab
        assert onset <= apex <= offset
        assert isinstance(aus, int) or re.fullmatch(r"[LR]?\d+(\+[LR]?\d+)*", aus)
        folder = root / "CASME2_RAW_selected" / f"sub{subject}" / clip
        numbers = sorted(int(re.fullmatch(r"img(\d+)\.jpg", p.name).group(1)) for p in folder.iterdir())
        assert numbers[0] <= onset and offset <= numbers[-1]
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        img = cv2.imread(str(folder / f"img{onset}.jpg"), cv2.IMREAD_UNCHANGED)
        assert img.ndim == 3 and img.shape[2] == 3
        assert img.shape[:2] == (96, 128)  # tiny preset frame size (W, H) = (128, 96)


def test_samm_sheet_and_frames(tiny):
    root = tiny.root("samm")
    wb = load_workbook(root / "SAMM_Micro_FACS_Codes_v2.xlsx")
    assert wb.sheetnames == ["MICRO_ONLY"]
    ws = wb["MICRO_ONLY"]
    assert ws["A1"].value == "SAMM Dataset - Master FACS Codes"
    assert ws["A6"].value == "Symbol Key:"
    assert all(ws.cell(row=r, column=1).value is None for r in (2, 5, 9, 13))
    assert [c.value for c in ws[14]] == ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
                                         "Offset Frame", "Duration", "Micro", "Action Units", "Estimated Emotion",
                                         "Objective Classes", "Notes"]
    table = pd.read_excel(root / "SAMM_Micro_FACS_Codes_v2.xlsx", sheet_name="MICRO_ONLY", header=13,
                          dtype={"Subject": str})
    assert len(table) == sum(1 for r in tiny.clips if r["dataset"] == "samm")
    vocab = {"Anger", "Contempt", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"}
    for row in table.itertuples(index=False):
        subject, clip = row[0], row[1]
        assert re.fullmatch(r"\d{3}", subject) and clip.startswith(subject + "_")
        assert row[6] == row[5] - row[3] + 1  # Duration
        assert row[7] == "Micro - 1/2" and row[9] in vocab
        folder = root / "SAMM" / subject / clip
        names = sorted(p.name for p in folder.iterdir())
        assert all(re.fullmatch(rf"{subject}_\d{{5}}\.jpg", n) for n in names)
        img = cv2.imread(str(folder / f"{subject}_{row[3]:05d}.jpg"), cv2.IMREAD_UNCHANGED)
        assert img.ndim == 2  # greyscale


def test_smic_layout(tiny):
    root = tiny.root("smic_hs") / "SMIC_all_raw" / "HS"
    clips = sorted(p for p in root.glob("s*/micro/*/*") if p.is_dir())
    assert len(clips) == sum(1 for r in tiny.clips if r["dataset"] == "smic_hs")
    for clip in clips:
        subject, emotion = clip.parts[-4], clip.parts[-2]
        assert re.fullmatch(r"s[1-9]\d?", subject)  # unpadded folder
        token = {"negative": "ne", "positive": "po", "surprise": "sur"}[emotion]
        assert re.fullmatch(rf"{subject}_{token}_\d\d", clip.name)
        frames = sorted(clip.iterdir())
        assert all(re.fullmatch(r"image\d{6,}\.bmp", f.name) for f in frames)
        assert frames[0].read_bytes()[:2] == b"BM"
        assert cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED).shape[2] == 3
    assert not list(tiny.root("smic_hs").rglob("*.xlsx"))  # non-E SMIC ships no sheet


def test_megc_gt(tiny):
    raw = (tiny.out_dir / "combined_3class_gt.csv").read_bytes()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.decode().split("\r\n")[:-1]
    kept = [r for r in tiny.clips if r["class"] != "other"]
    assert len(lines) == len(kept)
    assert not lines[0].lower().startswith("data")  # no header
    expected = set()
    for r in kept:
        cls = {"negative": 0, "positive": 1, "surprise": 2}[r["class"]]
        if r["dataset"] == "casme2":
            expected.add(f"casme2,{r['subject']},{r['clip']},{cls}")
        elif r["dataset"] == "samm":
            expected.add(f"samm,{int(r['subject'])},{r['clip']},{cls}")
        else:
            n = int(r["subject"][1:])
            clip = re.sub(r"^s\d+_", f"s{n:02d}_", r["clip"])
            expected.add(f"smic,s{n:02d},{clip},{cls}")
    assert set(lines) == expected


def test_emotions_map_to_their_class_with_megc3(tiny):
    megc3 = get_label_set("megc3")
    for r in tiny.clips:
        mapped = megc3.mapping[r["dataset"]].get(r["emotion"].strip().casefold())
        assert mapped == (None if r["class"] == "other" else r["class"]), r


def test_real_loaders_read_the_trees(tiny):
    from merkit.data import load_dataset
    from merkit.data.composite import MEGC2019Composite

    casme = load_dataset("casme2", tiny.root("casme2"), variant="raw", corrections=None)
    samm = load_dataset("samm", tiny.root("samm"), corrections=None)
    smic = load_dataset("smic_hs", tiny.root("smic_hs"), variant="raw", corrections=None)
    for table, source in ((casme, "casme2"), (samm, "samm"), (smic, "smic_hs")):
        mine = {(r["subject"], r["clip"]): r for r in tiny.clips if r["dataset"] == source}
        assert set(zip(table["subject"], table["clip"])) == set(mine)
        for row in table.itertuples():
            r = mine[(row.subject, row.clip)]
            assert (row.onset, row.offset) == (r["onset"], r["offset"])
            if source != "smic_hs":
                assert row.apex == r["annotated_apex"]
    composite = MEGC2019Composite(tiny.out_dir, gt_csv=tiny.out_dir / "combined_3class_gt.csv",
                                  casme2_variant="raw", smic_variant="raw", corrections=None).load()
    expected = {f"{r['dataset']}/{r['subject']}/{r['clip']}": r["class"] for r in tiny.clips if r["class"] != "other"}
    assert dict(zip(composite["sample_key"], composite["label"])) == expected


def _gt(tiny, r):
    return tiny.out_dir / "_groundtruth" / r["dataset"] / r["subject"] / r["clip"]


def test_groundtruth_files(tiny):
    for r in tiny.clips:
        gt = _gt(tiny, r)
        meta = json.loads((gt / "clip.json").read_text())
        assert meta["onset"] <= meta["apex"] <= meta["offset"]
        flow = np.load(gt / "flow_onset_apex.npy")
        onset = cv2.imread(str(gt / "onset_clean.png"), cv2.IMREAD_UNCHANGED)
        assert flow.dtype == np.float32 and flow.shape == onset.shape[:2] + (2,)
        landmarks = np.load(gt / "landmarks.npy")
        assert landmarks.shape == (len(meta["frame_numbers"]), 68, 2)
        assert meta["action_units"] == r["action_units"] and meta["au_blobs"]
    assert not list((tiny.out_dir / "_groundtruth").rglob("*.jpg"))  # nothing a frame glob could pick up


def test_warping_onset_by_groundtruth_gives_apex(tiny):
    # The exactness check: onset warped by the stored field is the noise-free apex, to 8-bit rounding.
    for r in tiny.clips:
        gt = _gt(tiny, r)
        onset = cv2.imread(str(gt / "onset_clean.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
        apex = cv2.imread(str(gt / "apex_clean.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
        flow = np.load(gt / "flow_onset_apex.npy")
        err = np.abs(warp_by_flow(onset, flow) - apex)
        assert err.max() <= 2.0 and err.mean() < 0.3, r["clip"]
        # The field is not trivially small: without it the apex differs much more.
        assert np.abs(onset - apex).mean() > 3 * err.mean() + 0.05, r["clip"]


def test_groundtruth_flow_is_the_optical_flow(tiny):
    # Independent of warp_by_flow: sampling the apex at x + flow(x) gives back the onset (flow convention).
    for r in tiny.clips:
        gt = _gt(tiny, r)
        onset = cv2.imread(str(gt / "onset_clean.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
        apex = cv2.imread(str(gt / "apex_clean.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
        flow = np.load(gt / "flow_onset_apex.npy")
        h, w = flow.shape[:2]
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        back = cv2.remap(apex, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        inner = (slice(4, -4), slice(4, -4))
        assert np.abs(back - onset)[inner].mean() < 0.5 * np.abs(apex - onset)[inner].mean() + 0.05


def test_landmarks_move_with_the_field(tiny):
    for r in tiny.clips:
        gt = _gt(tiny, r)
        meta = json.loads((gt / "clip.json").read_text())
        landmarks = np.load(gt / "landmarks.npy")
        flow = np.load(gt / "flow_onset_apex.npy")
        frames = meta["frame_numbers"]
        on, ap = landmarks[frames.index(meta["onset"])], landmarks[frames.index(meta["apex"])]
        sampled = cv2.remap(flow, on[:, 0][None], on[:, 1][None], cv2.INTER_LINEAR)[0]
        np.testing.assert_allclose(ap, on + sampled, atol=0.1)  # bilinear sampling of a curved field


def test_nuisance_is_larger_than_signal(tmp_path):
    # Over a batch of clips, head motion, blinks and habits move the face more than the class AUs do.
    m = generate(tmp_path / "n", "tiny", seed=5, **{"casme2.class_counts": (4, 2, 2), "casme2.n_subjects": 3})
    ratios = []
    for r in m.clips:
        flow = np.load(_gt(m, r) / "flow_onset_apex.npy")
        ratios.append(np.linalg.norm(flow, axis=2).max() / max(r["au_peak_px"], 1e-6))
    assert np.median(ratios) > 1.5
    assert any(r["blink"] for r in m.clips) and any(r["habit"] for r in m.clips)
    assert all(0.1 < r["au_peak_px"] <= 2.5 + 1e-6 for r in m.clips)
