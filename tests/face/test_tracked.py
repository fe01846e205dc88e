"""`merkit faces --track`: per-frame alignment from a face track on a SynthME video whose head moves."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from merkit.cli import main
from merkit.face import AlignConfig, compute_alignment, eye_centres
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=150, n_micro=1, n_macro=0, n_blinks=0, n_head_moves=2,
                          head_move_px=(6.0, 8.0))
    m = generate_long_videos(tmp_path_factory.mktemp("track") / "out", cfg, seed=2)
    return m, m.root / "rawpic" / "s15" / "15_0101disgustingteeth"


def _eyes(table: pd.DataFrame) -> np.ndarray:
    pts = np.stack([table[[f"x{i}" for i in range(68)]].to_numpy(), table[[f"y{i}" for i in range(68)]].to_numpy()], 2)
    return np.stack([np.concatenate(eye_centres(p)) for p in pts])


def test_tracked_crops_stay_on_the_moving_face(moving, tmp_path, capsys):
    m, folder = moving
    out = tmp_path / "faces"
    assert main(["faces", str(folder), "--out", str(out), "--size", "64", "--track", "15"]) == 0
    table = pd.read_csv(out / "landmarks.csv")
    assert len(table) == 150 and table["face_present"].all() and (table["confidence"] > 0).all()
    assert len(list((out / folder.name / "crops").glob("*.png"))) == 150
    drift_tracked = np.abs(_eyes(table) - np.median(_eyes(table), 0)).max()
    # The same true landmarks seen through one frame-0 transform (what plain `merkit faces` does):
    truth = np.load(m.out_dir / "_groundtruth/s15/15_0101disgustingteeth/landmarks.npy")
    frame0 = compute_alignment(truth[0], (180, 240), AlignConfig(size=64))
    fixed = np.stack([np.concatenate(eye_centres(frame0.points(p))) for p in truth])
    drift_fixed = np.abs(fixed - fixed[0]).max()
    assert drift_fixed > 2.0 and drift_tracked < 0.25 * drift_fixed, (drift_fixed, drift_tracked)


def test_no_face_frames_are_flagged_and_unreadable_frame_keeps_partial_output(moving, tmp_path):
    _, folder = moving
    clip = tmp_path / "clip"
    shutil.copytree(folder, clip)
    import cv2

    for n in range(40, 70):
        cv2.imwrite(str(clip / f"img{n}.jpg"), np.full((180, 240, 3), 128, np.uint8))
    (clip / "img120.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "faces"
    assert main(["faces", str(clip), "--out", str(out), "--size", "48", "--track", "10"]) == 1
    table = pd.read_csv(out / "landmarks.csv")
    assert len(table) == 119  # frames 0..118 (img1..img119) before the broken img120
    assert not table.loc[table["frame"].isin([f"img{n}" for n in range(41, 70)]), "face_present"].any()
    assert table.loc[table["frame"].isin(["img1", "img100"]), "face_present"].all()
    status = pd.read_csv(out / "faces.csv", keep_default_na=False)
    assert "reading stopped at frame 119" in status.loc[0, "error"] and status.loc[0, "n_frames"] == 119
    assert (out / "clip" / "crops" / "img119.png").is_file()
