"""Spotting a live stream: intervals written as they close, a clean stop (``docs/spotting.md``).

:class:`LiveRun` pushes frames from any iterable (a camera, an RTSP/HTTP stream through
:func:`merkit.data.live.open_stream`, a list) into a
:class:`~merkit.motion.spotting.StreamingSpotter` until the stream ends, a stop is asked
(:func:`stop_on_signals`: Ctrl-C or SIGTERM) or ``max_frames`` frames were read; it then flushes
the intervals still pending (``StreamingSpotter.close``). Each interval comes out at most
``latency_frames`` frames after its offset.

:func:`spot_live` writes what ``merkit spot --live`` writes: ``<vid>_intervals.csv`` and
``<vid>_megc.csv`` get one row per interval as it closes (:class:`LiveCSV`: one ``write`` per
complete line, so ``tail -f`` shows them and the file is valid CSV at every moment); at the end
``<vid>_spot.json`` (frames, fps, options, latency, why it stopped) and ``summary.csv``
(one row, the columns of :mod:`merkit.motion.spotting.batch`) are written atomically. The
whole-video outputs that need every score at once (``<vid>_frames.csv``, ``<vid>_score.png``)
are not made for a stream.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from merkit._io import write_json, write_text
from merkit.errors import FrameReadError
from merkit.motion.spotting.batch import SUMMARY_COLUMNS
from merkit.motion.spotting.intervals import SpottedInterval
from merkit.motion.spotting.spot import SpotConfig
from merkit.motion.spotting.stream import StreamingSpotter

__all__ = ["INTERVAL_COLUMNS", "STOP_REASONS", "LiveCSV", "LiveRun", "interval_row", "spot_live", "stop_on_signals",
           "write_live_summary"]

#: Columns of ``<vid>_intervals.csv`` (batch and live).
INTERVAL_COLUMNS = ("onset", "apex", "offset", "kind", "score", "strength", "duration_s")
#: Why a live run ended.
STOP_REASONS = ("end of stream", "stopped", "max seconds", "stream error")


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return value


class LiveCSV:
    """A CSV file that grows one complete row at a time.

    The header is written when it is opened (an existing file is replaced); :meth:`append` writes
    one row with a single ``write`` on an unbuffered file, so a reader (``tail -f``, pandas) only
    ever sees whole rows. Floats are written with 6 significant digits, None/NaN as empty cells.

    Args:
        path: the file.
        columns: the header.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]) -> None:
        self.path, self.columns = Path(path), list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._write(self.columns)
        self.rows = 0

    def _write(self, values: Sequence[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_cell(v) for v in values])
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        os.write(self._fd, buf.getvalue().encode("utf-8"))

    def append(self, row: dict[str, Any]) -> None:
        """One row (``{column: value}``; missing columns are empty)."""
        self._write([row.get(c) for c in self.columns])
        self.rows += 1

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LiveCSV:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C (SIGINT) or SIGTERM into a stop request; yields the event that records it.

    A second signal interrupts at once (KeyboardInterrupt). The previous handlers come back on exit.
    Outside the main thread (where Python cannot install handlers) the event is only set by the caller.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class LiveRun:
    """Frames in, final intervals out, until the stream ends, ``stop`` is set or ``max_frames`` were read.

    Iterate it once: it yields each :class:`SpottedInterval` (0-based positions over the frames read)
    as soon as the spotter reports it final, then the pending ones when the input stops.

    Args:
        frames: uint8 frames, grey (H, W) or RGB (H, W, 3), in order.
        fps: frame rate, frames per second.
        config: spotting options.
        name: the stream, for messages.
        max_side: longest frame side used for spotting, pixels.
        max_frames: stop after this many frames (None: no limit).
        stop: stop when this event is set (checked before each frame).
        on_frame: called with each frame before it is pushed (e.g. a frame buffer).

    Attributes:
        spotter: the :class:`StreamingSpotter`.
        stopped: why it ended (:data:`STOP_REASONS`), None while running.
        error: the :class:`~merkit.errors.FrameReadError` that broke the stream (``stopped ==
            "stream error"``; the intervals pending then are still flushed), else None.
        seconds: wall time of the run.
    """

    def __init__(self, frames: Iterable[np.ndarray], fps: float, config: SpotConfig | None = None, *,
                 name: str = "stream", max_side: int = 640, max_frames: int | None = None,
                 stop: threading.Event | None = None, on_frame: Callable[[np.ndarray], None] | None = None) -> None:
        self.frames, self.max_frames, self.stop, self.on_frame = frames, max_frames, stop, on_frame
        self.spotter = StreamingSpotter(config, float(fps), name=name, max_side=max_side)
        self.stopped: str | None = None
        self.error: FrameReadError | None = None
        self.seconds = 0.0

    @property
    def n_frames(self) -> int:
        return self.spotter.n_frames

    def __iter__(self) -> Iterator[SpottedInterval]:
        start = time.perf_counter()
        try:
            try:
                for frame in self.frames:
                    if self.stop is not None and self.stop.is_set():
                        self.stopped = "stopped"
                        break
                    if self.max_frames is not None and self.spotter.n_frames >= self.max_frames:
                        self.stopped = "max seconds"
                        break
                    if self.on_frame is not None:
                        self.on_frame(frame)
                    yield from self.spotter.push(frame)
                else:
                    self.stopped = "end of stream"
            except FrameReadError as exc:  # a broken stream still gets its pending intervals
                self.stopped, self.error = "stream error", exc
            yield from self.spotter.close()
        finally:
            self.seconds = time.perf_counter() - start


def interval_row(interval: SpottedInterval, fps: float, first_frame: int = 1) -> dict[str, Any]:
    """The ``<vid>_intervals.csv`` row of an interval (frame numbers = position + ``first_frame``)."""
    return {"onset": interval.onset + first_frame, "apex": interval.apex + first_frame,
            "offset": interval.offset + first_frame, "kind": interval.kind, "score": round(interval.score, 6),
            "strength": round(interval.strength, 3),
            "duration_s": round((interval.offset - interval.onset + 1) / fps, 4)}


def write_live_summary(out_dir: str | os.PathLike, vid: str, source: str, run: LiveRun,
                       intervals: Sequence[SpottedInterval], classified: int | None = None) -> dict[str, Any]:
    """``summary.csv`` of a live run (one row, atomically); returns the row."""
    micro = sum(i.kind == "micro" for i in intervals)
    row = {"video": vid, "frames": run.n_frames, "fps": run.spotter.fps, "intervals": len(intervals),
           "micro": micro, "macro": len(intervals) - micro, "classified": classified,
           "status": f"failed: {run.error}" if run.error else f"ok ({run.stopped})",
           "seconds": round(run.seconds, 3), "source": source}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows([SUMMARY_COLUMNS, [_cell(row[c]) for c in SUMMARY_COLUMNS]])
    write_text(Path(out_dir) / "summary.csv", buf.getvalue())
    return row


def spot_live(
    frames: Iterable[np.ndarray],
    fps: float,
    out_dir: str | os.PathLike,
    vid: str,
    config: SpotConfig | None = None,
    *,
    source: str = "stream",
    first_frame: int = 1,
    max_side: int = 640,
    max_frames: int | None = None,
    stop: threading.Event | None = None,
    on_interval: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Spot a stream and write its files as it goes (module docstring).

    Args:
        frames: the stream's frames (e.g. :func:`merkit.data.live.open_stream`).
        fps: its frame rate.
        out_dir: output folder.
        vid: name of the files (``<vid>_intervals.csv``, ...).
        config: spotting options (default :class:`SpotConfig`).
        source: the stream as the user named it (for ``summary.csv`` and ``<vid>_spot.json``).
        first_frame: number of the first frame in the files.
        max_side: longest frame side used, pixels.
        max_frames: stop after this many frames.
        stop: stop when set (:func:`stop_on_signals`); the pending intervals are still written.
        on_interval: called with each interval's row as it is written.

    Returns:
        The ``summary.csv`` row (``status`` says why it stopped: ``ok (end of stream)``,
        ``ok (stopped)``, ``ok (max seconds)``).

    Raises:
        FaceNotFoundError: no face in the whole stream (the CSV files keep their header).
        FrameReadError: the stream broke; every file is written first (the intervals found up to
            then, ``summary.csv`` with the error).
    """
    config = config or SpotConfig()
    out = Path(out_dir)
    run = LiveRun(frames, fps, config, name=source, max_side=max_side, max_frames=max_frames, stop=stop)
    found: list[SpottedInterval] = []
    with LiveCSV(out / f"{vid}_intervals.csv", INTERVAL_COLUMNS) as table, \
            LiveCSV(out / f"{vid}_megc.csv", ("vid", "pred_onset", "pred_offset", "type")) as megc:
        for interval in run:
            row = interval_row(interval, run.spotter.fps, first_frame)
            table.append(row)
            megc.append({"vid": vid, "pred_onset": row["onset"], "pred_offset": row["offset"], "type": row["kind"]})
            found.append(interval)
            if on_interval is not None:
                on_interval(row)
    spotter = run.spotter
    write_json(out / f"{vid}_spot.json", {
        "video": source, "vid": vid, "live": True, "fps": spotter.fps, "n_frames": spotter.n_frames,
        "first_frame": first_frame, "config": asdict(config), "n_intervals": len(found), "stopped": run.stopped,
        "latency_frames": spotter.latency_frames, "max_interval_frames": spotter.max_interval_frames,
        "error": str(run.error) if run.error else None, "seconds": round(run.seconds, 3)})
    row = write_live_summary(out, vid, source, run, found)
    if run.error is not None:
        raise run.error
    return row
