"""spot_video with the per-frame scorer: a video file is decoded once, and a header that lies still works."""

from __future__ import annotations

import cv2
import pytest

from merkit.data.frames import VideoFile
from merkit.motion.spotting import SpotConfig, spot_frames, spot_video
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


class _Counting(VideoFile):
    """A video file that counts decoded frames and may announce more frames than it holds."""

    def __init__(self, path, extra: int = 0) -> None:
        super().__init__(path, color="gray")
        self.extra, self.decoded = extra, 0

    def __len__(self) -> int:
        return super().__len__() + self.extra

    def _next(self, index):
        self.decoded += 1
        return super()._next(index)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    cfg = LongVideoConfig(n_subjects=1, n_frames=150, n_micro=1, n_macro=1, n_blinks=0, n_head_moves=1)
    out = tmp_path_factory.mktemp("spot_video_once")
    m = generate_long_videos(out / "synth", cfg, seed=8)
    folder = m.root / "rawpic" / "s15" / "15_0101disgustingteeth"
    path = out / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (240, 180))
    for n in range(1, 151):
        writer.write(cv2.imread(str(folder / f"img{n}.jpg")))
    writer.release()
    return path


def test_per_frame_spot_video_decodes_the_video_once_and_equals_spot_frames(video):
    config = SpotConfig(scales=("micro",))
    source = _Counting(video)
    result = spot_video(source, config)
    assert source.decoded == 150 + 1                  # frame 0 read once for its size, then every frame once
    frames = list(VideoFile(video, color="gray"))
    direct = spot_frames(frames, 30.0, config)
    assert [(i.onset, i.apex, i.offset) for i in result.intervals] == [(i.onset, i.apex, i.offset)
                                                                      for i in direct.intervals]
    triplet = _Counting(video)
    spot_video(triplet, SpotConfig(scales=("micro",), crops="triplet"))
    assert triplet.decoded >= 3 * 150                 # counted, tracked and scored: three passes


def test_a_header_announcing_more_frames_is_spotted_on_those_that_decode(video):
    source = _Counting(video, extra=25)
    result = spot_video(source, SpotConfig(scales=("micro",)))
    assert result.n_frames == 150 and result.extra["header_frames"] == 175
    assert len(result.curves["micro"]) == 150 and result.track.present.all()
