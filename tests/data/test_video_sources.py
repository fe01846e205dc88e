"""`video_sources` / `video_names`: what the paths a user names mean as videos."""

import pytest

from merkit.data.frames import video_names, video_sources
from merkit.errors import ConfigError, DatasetNotFoundError, FrameReadError


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_a_folder_of_videos_is_each_video_and_a_folder_of_frames_is_one(tmp_path):
    videos = tmp_path / "videos"
    for name in ("clip10.mp4", "clip2.MOV", "clip1.avi", "notes.txt"):
        _touch(videos / name)
    (videos / "sub").mkdir()  # sub-folders are not searched
    frames = tmp_path / "frames"
    for n in (1, 2, 10):
        _touch(frames / f"img{n}.jpg")
    single = _touch(tmp_path / "one.mkv")
    got = video_sources([videos, frames, single, videos / "clip2.MOV"])  # clip2 named twice: kept once
    assert got == [videos / "clip1.avi", videos / "clip2.MOV", videos / "clip10.mp4", frames, single]


def test_mixed_empty_and_missing_folders_are_clear_errors(tmp_path):
    mixed = tmp_path / "mixed"
    _touch(mixed / "a.mp4")
    _touch(mixed / "img1.png")
    with pytest.raises(ConfigError, match=r"mixed.*both video files .*'a.mp4'.* and image frames"):
        video_sources([mixed])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FrameReadError, match="neither video files"):
        video_sources([tmp_path / "empty"])
    with pytest.raises(DatasetNotFoundError, match="nope.mp4' does not exist"):
        video_sources([tmp_path / "nope.mp4"])


def test_names_are_distinct(tmp_path):
    a, b = _touch(tmp_path / "a" / "clip.mp4"), _touch(tmp_path / "b" / "clip.mp4")
    frames = tmp_path / "x" / "frames.v2"
    frames.mkdir(parents=True)
    assert video_names([a, b, frames, tmp_path / "c" / "other.avi"]) == ["a_clip", "b_clip", "frames.v2", "other"]
    assert video_names([a, a]) == ["a_clip", "a_clip_2"]
