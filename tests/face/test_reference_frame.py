"""`merkit faces --reference-frame`: align on a chosen frame (here the first frame has no face)."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from merkit.cli import main


def test_reference_frame_option(astronaut, tmp_path, capsys):
    clip = tmp_path / "clip"
    clip.mkdir()
    cv2.imwrite(str(clip / "img1.png"), np.full(astronaut.shape[:2], 128, np.uint8))  # no face
    for i in (2, 3):
        cv2.imwrite(str(clip / f"img{i}.png"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    assert main(["faces", str(clip), "--out", str(tmp_path / "a"), "--size", "48"]) == 1
    assert "no face found in frame 0" in capsys.readouterr().err
    assert main(["faces", str(clip), "--out", str(tmp_path / "b"), "--size", "48", "--reference-frame", "1"]) == 0
    marks = pd.read_csv(tmp_path / "b" / "landmarks.csv")
    assert list(marks["frame_index"]) == [1] and list(marks["frame"]) == ["img2"]
