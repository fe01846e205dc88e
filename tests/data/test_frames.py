"""Frame sources: numeric order, lazy reads, video decoding and clear errors."""

import re

import cv2
import numpy as np
import pytest

from merkit.data.frames import (
    ArrayFrames,
    ImageFiles,
    ImageFolder,
    VideoFile,
    list_image_files,
    numeric_sort_key,
    open_frames,
)
from merkit.errors import ConfigError, DatasetNotFoundError, FrameReadError, ShapeError


def _frame(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    """An RGB frame whose red channel encodes the frame number ``i`` (survives lossless codecs)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = (10 * i) % 256
    img[:, :, 1] = np.arange(w, dtype=np.uint8)[None, :]
    return img


def _write_folder(folder, numbers, ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"img{n}{ext}"), cv2.cvtColor(_frame(n), cv2.COLOR_RGB2BGR))
    return folder


def _write_video(path, n_frames, fps=25, options=None):
    import av

    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream("libx264rgb" if path.suffix == ".mkv" else "libx264", rate=fps)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "rgb24" if path.suffix == ".mkv" else "yuv420p"
        if path.suffix == ".mkv":
            stream.options = {"qp": "0"}
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(_frame(i), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_numeric_sort_key_orders_numbers_not_text():
    names = ["img10.jpg", "img2.jpg", "img1.jpg", "img100.jpg"]
    assert sorted(names, key=numeric_sort_key) == ["img1.jpg", "img2.jpg", "img10.jpg", "img100.jpg"]


def test_image_folder_numeric_order_lazy_and_color(tmp_path):
    folder = _write_folder(tmp_path / "EP01", [10, 2, 1, 9])
    (folder / "notes.txt").write_text("not a frame")
    frames = ImageFolder(folder, fps=200)
    assert len(frames) == 4 and frames.fps == 200.0
    assert [p.name for p in frames.paths] == ["img1.png", "img2.png", "img9.png", "img10.png"]
    assert frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    assert [int(f[0, 0, 0]) for f in frames] == [10, 20, 90, 100]  # RGB order, red encodes number
    assert int(frames[-1][0, 0, 0]) == 100
    assert len(frames[1:3]) == 2
    gray = ImageFolder(folder, color="gray")
    assert gray[0].shape == (48, 64)
    assert gray.read_all().shape == (4, 48, 64)


def test_image_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path / "missing"))):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FrameReadError, match="holds no image files"):
        list_image_files(tmp_path / "empty")
    with pytest.raises(ConfigError, match="color"):
        ImageFolder(_write_folder(tmp_path / "ok", [1]), color="bgr")


def test_unreadable_frame_names_file_and_index(tmp_path):
    folder = _write_folder(tmp_path / "clip", [1, 2, 3])
    (folder / "img2.png").write_bytes(b"this is not a png")
    frames = ImageFolder(folder)
    assert frames[0].shape == (48, 64, 3)  # lazy: the bad frame does not fail the others
    with pytest.raises(FrameReadError, match=r"frame 1 of .*img2\.png"):
        frames[1]
    with pytest.raises(IndexError, match="out of range"):
        frames[3]


def test_image_files_keeps_given_order(tmp_path):
    folder = _write_folder(tmp_path / "c", [1, 2, 3])
    frames = ImageFiles([folder / "img3.png", folder / "img1.png"], fps=30)
    assert [int(f[0, 0, 0]) for f in frames] == [30, 10]
    assert frames.frame_name(1).endswith("img1.png")
    with pytest.raises(FrameReadError, match="no frame files"):
        ImageFiles([])


def test_video_file_count_fps_and_random_access(tmp_path):
    path = _write_video(tmp_path / "clip.mkv", 12, fps=25)  # lossless so pixel values are exact
    video = VideoFile(path)
    assert len(video) == 12 and video.fps == pytest.approx(25.0)
    assert int(video[5][0, 0, 0]) == 50
    assert int(video[2][0, 0, 0]) == 20  # backwards: re-open and decode forward
    assert [int(f[0, 0, 0]) for f in video] == [10 * i for i in range(12)]
    assert video[0].shape == (48, 64, 3)
    assert VideoFile(path, color="gray")[0].shape == (48, 64)
    mp4 = VideoFile(_write_video(tmp_path / "clip.mp4", 7, fps=30))
    assert len(mp4) == 7 and mp4.fps == pytest.approx(30.0)
    assert len(list(mp4)) == 7


def test_undecodable_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 64 + b"garbage" * 100)
    with pytest.raises(FrameReadError, match=re.escape(str(bad))):
        VideoFile(bad)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        VideoFile(tmp_path / "nope.mp4")


def test_truncated_video_names_the_frame(tmp_path):
    # faststart puts the index (30 frames) first, so the header promises frames the file lacks
    path = _write_video(tmp_path / "clip.mp4", 30, options={"movflags": "faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    video = VideoFile(path)
    assert len(video) == 30
    with pytest.raises(FrameReadError, match=r"frame \d+ of video .*clip\.mp4"):
        list(video)


def test_array_frames_and_open_frames(tmp_path):
    arr = np.stack([_frame(i) for i in range(3)])
    frames = ArrayFrames(arr, fps=100)
    assert len(frames) == 3 and frames[1].shape == (48, 64, 3)
    assert ArrayFrames(arr[..., 0], color="rgb")[0].shape == (48, 64, 3)
    assert ArrayFrames(arr, color="gray")[0].shape == (48, 64)
    with pytest.raises(ShapeError, match=r"\(T, H, W\)"):
        ArrayFrames(np.zeros((48, 64)))
    assert isinstance(open_frames(arr), ArrayFrames)
    folder = _write_folder(tmp_path / "f", [1, 2])
    assert isinstance(open_frames(folder), ImageFolder)
    assert len(open_frames(folder / "img1.png")) == 1
    assert isinstance(open_frames(_write_video(tmp_path / "v.mp4", 3)), VideoFile)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(FrameReadError, match="unsupported file type"):
        open_frames(tmp_path / "x.txt")
    with pytest.raises(DatasetNotFoundError):
        open_frames(tmp_path / "missing.mp4")
