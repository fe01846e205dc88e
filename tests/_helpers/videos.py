"""Tiny face videos for the spot / predict / live tests: SynthME long-video frames, written as files."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import av
import cv2
import numpy as np

from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


def long_video(out_dir: Path, n_frames: int = 200, seed: int = 5, **events) -> tuple[object, Path, list[np.ndarray]]:
    """One SynthME long video (casme_sq layout, 30 fps, 240x180): ``(manifest, frame folder, RGB frames)``.

    Default events: one micro- and one macro-expression, no blink, no head move.
    """
    cfg = LongVideoConfig(n_subjects=1, n_frames=n_frames, **{"n_micro": 1, "n_macro": 1, "n_blinks": 0,
                                                               "n_head_moves": 0, **events})
    m = generate_long_videos(out_dir, cfg, seed=seed)
    folder = m.root / "rawpic" / "s15" / "15_0101disgustingteeth"
    frames = [cv2.cvtColor(cv2.imread(str(folder / f"img{n}.jpg")), cv2.COLOR_BGR2RGB)
              for n in range(1, n_frames + 1)]
    return m, folder, frames


def write_mp4(path: Path, frames: Sequence[np.ndarray], fps: int = 30) -> Path:
    """H.264 mp4 with its index at the front (``faststart``), so that it plays from a plain HTTP server."""
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "16", "preset": "ultrafast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; with ``rate`` bytes/s it sends them at that pace, like a live source."""

    rate: float | None = None

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def copyfile(self, source, outputfile) -> None:
        if not self.rate:
            return super().copyfile(source, outputfile)
        chunk = 4096
        while data := source.read(chunk):
            try:
                outputfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(chunk / self.rate)


@contextmanager
def serve(folder: Path, rate: float | None = None) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) serving ``folder`` in a thread; yields its base URL."""
    handler = type("Handler", (_Handler,), {"rate": rate})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
