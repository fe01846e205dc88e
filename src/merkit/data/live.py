"""Live sources: a camera or a network stream, decoded frame by frame as it arrives (``docs/spotting.md``).

:func:`open_stream` opens a camera index, a device, an RTSP/HTTP URL or a file through PyAV and
gives a :class:`LiveFrames`, an iterator of ``uint8`` frames with a frame rate; unlike a
:class:`~merkit.data.frames.FrameSource` it has no length and cannot go back.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from merkit.data.frames import ColorMode, _check_color, _check_fps
from merkit.errors import ConfigError, DatasetNotFoundError, FrameReadError

__all__ = ["LiveFrames", "open_stream"]


def _stream_input(source: str) -> tuple[str, str | None]:
    """``(what av.open opens, its input format)`` for a camera index, a device, a URL or a file."""
    if source.isdigit():
        if sys.platform.startswith("linux"):
            return f"/dev/video{source}", "v4l2"
        if sys.platform == "darwin":
            return source, "avfoundation"
        raise ConfigError(
            f"camera index {source!r}: on {sys.platform} pass the camera as FFmpeg names it, e.g. "
            f"'video=Integrated Camera' (DirectShow); see docs/spotting.md."
        )
    if source.startswith("/dev/video"):
        return source, "v4l2"
    if source.startswith("video="):
        return source, "dshow"
    if "://" in source:
        return source, None
    if Path(source).is_file():
        return source, None
    raise DatasetNotFoundError(
        f"live source {source!r} is not a camera index (0, 1, ...), a device (/dev/video0), a stream URL "
        f"(rtsp://..., http://...) or an existing file."
    )


class LiveFrames:
    """Frames of a camera or a network stream, decoded as they arrive.

    Unlike a :class:`FrameSource` it has no length and no going back: iterate it once. Iteration ends
    when the stream ends (a file or a finished HTTP stream) and runs forever on a camera; the caller
    stops it (:meth:`close`, or just stop iterating). Frames are counted as they are decoded: frame
    ``i`` is the ``i``-th decoded frame, at ``i / fps`` seconds (a stream that drops frames runs ahead
    of that clock).

    Args:
        source: a camera index (``"0"``: ``/dev/video0`` through FFmpeg's ``v4l2`` input on Linux,
            ``avfoundation`` on macOS), a device path, ``video=<name>`` (DirectShow on Windows), an
            ``rtsp://`` / ``http://`` / ``https://`` URL, or a file (read as a stream).
        fps: the frame rate to use; overrides the stream's own (needed when the stream has none).
        color: ``"rgb"`` for ``(H, W, 3)`` frames, ``"gray"`` for ``(H, W)``.
        timeout_s: give up when opening or reading stalls this long, seconds.

    Attributes:
        fps: frames per second, or ``None`` when neither the stream nor ``fps`` gives one.
        name: the source as given.

    Raises:
        DatasetNotFoundError: not a camera, URL or file. FrameReadError: it cannot be opened or has
        no video stream (iterating: a frame cannot be decoded).
    """

    def __init__(self, source: str | int, fps: float | None = None, color: ColorMode = "rgb",
                 timeout_s: float = 10.0) -> None:
        import av  # deferred: PyAV costs ~180 ms; only video and stream sources need it

        self.name = str(source)
        self.color = _check_color(color)
        target, fmt = _stream_input(self.name)
        try:
            self._container = av.open(target, format=fmt, timeout=timeout_s)
        except av.FFmpegError as exc:
            raise FrameReadError(f"cannot open live source {self.name!r} ({target}{f', {fmt} input' if fmt else ''})"
                                 f": {exc}.") from exc
        except ValueError as exc:  # PyAV's FFmpeg lacks this input format (e.g. no avfoundation)
            raise FrameReadError(f"cannot open live source {self.name!r}: {exc}.") from exc
        if not self._container.streams.video:
            self.close()
            raise FrameReadError(f"live source {self.name!r} has no video stream.")
        stream = self._container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        self.fps = _check_fps(fps) if fps is not None else (float(Fraction(rate)) if rate else None)
        self.n_frames = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        import av  # deferred: PyAV costs ~180 ms; only video and stream sources need it

        if self._container is None:
            return
        fmt = "gray" if self.color == "gray" else "rgb24"
        try:
            for frame in self._container.decode(video=0):
                self.n_frames += 1
                yield frame.to_ndarray(format=fmt)
        except av.FFmpegError as exc:
            raise FrameReadError(f"frame {self.n_frames} of live source {self.name!r} cannot be read: {exc}.") from exc

    def close(self) -> None:
        """Close the stream (idempotent)."""
        if getattr(self, "_container", None) is not None:
            self._container.close()
        self._container = None

    def __enter__(self) -> LiveFrames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def open_stream(source: str | int, fps: float | None = None, color: ColorMode = "rgb",
                timeout_s: float = 10.0) -> LiveFrames:
    """Open a camera or a network stream: :class:`LiveFrames` (its arguments)."""
    return LiveFrames(source, fps=fps, color=color, timeout_s=timeout_s)
