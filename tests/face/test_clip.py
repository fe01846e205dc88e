"""Clip alignment (one transform per clip), the cache, batch extraction and `merkit faces`."""

import re

import cv2
import numpy as np
import pandas as pd
import pytest

from merkit.cache import FeatureCache
from merkit.cli import main
from merkit.data.frames import ArrayFrames
from merkit.data.sample import Sample
from merkit.errors import FaceNotFoundError
from merkit.face import DlibBackend, align_clip, align_sample, extract_faces, find_face_items


def _clip(photo, n=4, step=1.5):
    """A clip of ``n`` frames in which the photo drifts right by ``step`` px per frame."""
    h, w = photo.shape[:2]
    frames = [cv2.warpAffine(photo, np.float32([[1, 0, i * step], [0, 1, 0]]), (w, h), borderMode=cv2.BORDER_REFLECT)
              for i in range(n)]
    return np.stack(frames)


class CountingBackend(DlibBackend):
    calls = 0

    def detect(self, image):
        CountingBackend.calls += 1
        return super().detect(image)


def test_one_transform_for_the_whole_clip_keeps_real_motion(astronaut):
    frames = _clip(astronaut, n=4, step=2.0)
    clip = align_clip(frames, size=128, color="gray", mode="eye_line", landmarks="every_frame")
    assert clip.frames.shape == (4, 128, 128) and clip.frames.dtype == np.uint8
    assert clip.landmarks.shape == (68, 2) and clip.frame_landmarks.shape == (4, 68, 2)
    assert clip.n_faces == 1 and clip.reference_index == 0
    # the crop does not follow the face: the face drifts 2 px/frame in the photo, so in the crop
    # it drifts 2 * scale px/frame along the (rotated) x axis
    drift = clip.frame_landmarks[-1].mean(0) - clip.frame_landmarks[0].mean(0)
    expected = clip.matrix[:, :2] @ np.array([6.0, 0.0])
    np.testing.assert_allclose(drift, expected, atol=0.75)
    np.testing.assert_allclose(clip.frame_landmarks[0], clip.landmarks, atol=1e-4)
    rgb = align_clip(frames, size=64, color="rgb", reference_index=-1)
    assert rgb.frames.shape == (4, 64, 64, 3) and rgb.reference_index == 3


def test_cache_hit_skips_detection_and_returns_the_same_clip(astronaut, tmp_path):
    frames = _clip(astronaut, n=3)
    cache = FeatureCache(tmp_path / "cache")
    CountingBackend.calls = 0
    first = align_clip(frames, size=64, backend=CountingBackend(), cache=cache)
    calls = CountingBackend.calls
    second = align_clip(frames, size=64, backend=CountingBackend(), cache=cache)
    assert CountingBackend.calls == calls  # no detection on a hit
    np.testing.assert_array_equal(first.frames, second.frames)
    np.testing.assert_array_equal(first.landmarks, second.landmarks)
    np.testing.assert_array_equal(first.matrix, second.matrix)
    assert second.box == first.box and second.n_faces == 1
    align_clip(frames, size=96, backend=CountingBackend(), cache=cache)  # other settings: a miss
    assert CountingBackend.calls > calls
    assert cache.info().namespaces["faces"][0] == 2


def test_no_face_error_names_the_frame_and_sample(tmp_path):
    blank = np.full((3, 120, 160, 3), 90, np.uint8)
    with pytest.raises(FaceNotFoundError, match=re.escape("frame 1 (array#1) of 'array'")):
        align_clip(ArrayFrames(blank), reference_index=1)
    folder = tmp_path / "sub01" / "EP01"
    folder.mkdir(parents=True)
    paths = []
    for i in range(5, 8):
        cv2.imwrite(str(folder / f"img{i}.jpg"), blank[0])
        paths.append(str(folder / f"img{i}.jpg"))
    sample = Sample(dataset="casme2", subject="sub01", clip="EP01", frame_paths=paths, frame_numbers=[5, 6, 7],
                    onset=6, apex=7, offset=7, fps=200.0, emotion="others")
    with pytest.raises(FaceNotFoundError, match=r"sample 'casme2/sub01/EP01'.*frame 1 \(.*img6\.jpg\)"):
        align_sample(sample)


def test_none_mode_without_landmarks_needs_no_face():
    blank = np.full((2, 60, 80), 90, np.uint8)
    clip = align_clip(blank, mode="none", landmarks="skip", size=32)
    assert clip.frames.shape == (2, 32, 32) and clip.landmarks is None and clip.n_faces == 0


def _video(path, frames):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture()
def dataset_tree(tmp_path, astronaut):
    root = tmp_path / "data"
    good = root / "sub01" / "EP01"
    good.mkdir(parents=True)
    for i, frame in enumerate(_clip(astronaut, n=3), start=8):
        cv2.imwrite(str(good / f"img{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    noface = root / "sub01" / "EP02"
    noface.mkdir()
    for i in range(2):
        cv2.imwrite(str(noface / f"img{i}.png"), np.full((100, 100), 128, np.uint8))
    (root / "sub02").mkdir()
    (root / "sub02" / "broken.mp4").write_bytes(b"\x00" * 300)
    _video(root / "sub02" / "talk.mp4", _clip(astronaut, n=2)[:, 50:450, 56:456])
    return root


def test_extract_faces_reports_failures_per_clip_and_goes_on(dataset_tree, tmp_path):
    items = find_face_items(dataset_tree)
    assert [it.name for it in items] == ["sub01/EP01", "sub01/EP02", "sub02/broken", "sub02/talk"]
    out = tmp_path / "out"
    seen = []
    summary = extract_faces(dataset_tree, out, size=64,
                            progress=lambda it, total: (seen.append(total), it)[1])
    assert seen == [4] and summary.n_ok == 2 and summary.n_failed == 2
    table = pd.read_csv(out / "faces.csv", keep_default_na=False).set_index("clip")
    assert table.loc["sub01/EP02", "error"].startswith("no face found in frame 0")
    assert "img0.png" in table.loc["sub01/EP02", "error"]
    assert "broken.mp4" in table.loc["sub02/broken", "error"]
    assert sorted(p.name for p in (out / "sub01/EP01/crops").iterdir()) == ["img10.png", "img8.png", "img9.png"]
    assert cv2.imread(str(out / "sub01/EP01/crops/img8.png"), cv2.IMREAD_UNCHANGED).shape == (64, 64)
    assert (out / "sub01/EP01/overlay.png").is_file() and (out / "sub02/talk/crops/frame_000001.png").is_file()
    marks = pd.read_csv(out / "landmarks.csv")
    assert list(marks["clip"]) == ["sub01/EP01", "sub02/talk"] and marks.shape[1] == 4 + 136
    assert ((marks.filter(regex=r"^[xy]\d+$") > 0) & (marks.filter(regex=r"^[xy]\d+$") < 64)).all().all()


def test_cli_faces(dataset_tree, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["faces", str(dataset_tree / "sub01" / "EP01"), "--out", str(out), "--size", "48"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 clips aligned, 0 failed" in captured.out
    assert (out / "EP01" / "crops" / "img9.png").is_file()
    code = main(["faces", str(dataset_tree), "--out", str(tmp_path / "all"), "--size", "48", "--no-overlay"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED sub01/EP02: no face found" in captured.err and "2 clips aligned, 2 failed" in captured.out
    assert "2 of 4 clips failed" in captured.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["faces", str(empty), "--out", str(tmp_path / "x")]) == 1
    assert "found no frames under" in capsys.readouterr().err
