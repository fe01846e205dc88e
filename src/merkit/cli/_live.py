"""``--live URL_OR_DEVICE`` of ``merkit spot`` and ``merkit predict``: the options and the stream they open."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import click

from merkit.errors import ConfigError

__all__ = ["live_name", "live_options", "live_reason", "open_live"]


def live_options(function: Any) -> Any:
    """``--live`` and ``--max-seconds``."""
    function = click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True),
                            help="--live: stop after this many seconds of stream (frames / fps).")(function)
    return click.option("--live", metavar="URL_OR_DEVICE",
                        help="Read a camera (0: /dev/video0 on Linux) or an rtsp:// / http:// stream until it ends "
                             "or Ctrl-C / SIGTERM; intervals are appended to the CSV as they close.")(function)


def live_name(source: str) -> str:
    """A file name for a live source: ``camera0``, or the URL's last path part (or host)."""
    if source.isdigit():
        return f"camera{source}"
    parsed = urlparse(source)
    stem = parsed.path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0] or parsed.hostname or "stream"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_") or "stream"


def live_reason(row: dict) -> str:
    """Why a live run ended, from its summary row (``ok (end of stream)`` -> ``end of stream``)."""
    return str(row["status"]).removeprefix("ok (").removesuffix(")")


@contextmanager
def open_live(source: str, fps: float | None, color: str, max_seconds: float | None
              ) -> Iterator[tuple[Any, float, int | None, Any]]:
    """Open the stream and install the stop handlers: ``(frames, fps, max_frames, stop event)``."""
    # deferred: PyAV and the motion layer (cv2, scipy) would slow `merkit --help`
    from merkit.data.live import open_stream
    from merkit.motion.spotting.live import stop_on_signals

    with open_stream(source, fps=fps, color=color) as stream, stop_on_signals() as stop:
        if not stream.fps:
            raise ConfigError(f"live source {source!r} gives no frame rate; pass --fps (e.g. --fps 30).")
        limit = None if max_seconds is None else max(1, math.ceil(max_seconds * stream.fps))
        yield stream, float(stream.fps), limit, stop
