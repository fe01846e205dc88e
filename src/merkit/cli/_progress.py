"""Progress bars of the commands: drawn on a terminal only, hidden everywhere by ``--no-progress``.

A bar redraws itself with carriage returns and cursor escapes; in a log file or a pipe that is
noise, so bars are only drawn when stderr is a terminal (tqdm's ``disable=None`` rule) and the
commands print one plain line per finished item instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from merkit.errors import MerkitError

if TYPE_CHECKING:
    from merkit.motion.spotting.batch import BatchResult

__all__ = ["CurveBars", "echo_video", "finish_batch", "no_progress_option", "progress_enabled"]


def progress_enabled(no_progress: bool) -> bool:
    """True when bars may be drawn: not hidden by ``--no-progress`` and stderr is a terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not no_progress and bool(isatty and isatty())


def no_progress_option(function: Any) -> Any:
    """The ``--no-progress`` flag of every command that shows progress."""
    return click.option("--no-progress", is_flag=True,
                        help="Hide progress bars (never drawn when stderr is not a terminal).")(function)


class CurveBars:
    """One bar per score curve of the video being spotted: ``bars(curve, position, n_frames)``.

    ``done()`` closes them (call it when the video is finished, before the next one starts).
    Draws nothing when ``enabled`` is false.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, curve: str, position: int, n_frames: int) -> None:
        if not self.enabled:
            return
        if curve not in self.bars:
            from tqdm import tqdm  # deferred: tqdm would slow `merkit --help`; only a drawn bar needs it

            self.bars[curve] = tqdm(total=n_frames, desc=f"{curve} curve", unit="frame", leave=False)
        self.bars[curve].update(1)

    def done(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def echo_video(row: dict, out_dir: str | Path, bars: CurveBars | None = None) -> None:
    """The plain line of one finished, skipped or failed video (spot and predict)."""
    if bars is not None:
        bars.done()
    name, status = row["video"], str(row["status"])
    if status.startswith("failed"):
        click.echo(f"FAILED {name}: {status.removeprefix('failed: ')}", err=True)
        return
    if row.get("note"):
        click.echo(f"note: {name}: {row['note']}", err=True)
    counts = (f"{int(row['frames'])} frames at {float(row['fps']):g} fps, {int(row['micro'])} micro and "
              f"{int(row['macro'])} macro intervals"
              + (f", {int(row['classified'])} classified" if row.get("classified") is not None else ""))
    if status != "ok":
        click.echo(f"{name}: skipped, an earlier run made its files from the same source and options ({counts})")
        return
    click.echo(f"{name}: {counts} in {float(row['seconds']):.1f} s; files in {out_dir}")


def finish_batch(result: BatchResult, command: str) -> None:
    """Totals line of a batch (several videos, or a failure); raise (exit status 1) when any video failed."""
    n, failed, skipped = len(result.summary), result.n_failed, result.n_skipped
    if n > 1 or failed:
        click.echo(f"{n} videos: {n - failed - skipped} {command}, {skipped} skipped (finished before), "
                   f"{failed} failed; summary: {result.path}")
    if failed:
        raise MerkitError(f"{failed} of {n} videos failed (their errors are in {result.path}); "
                          f"the others are done and a rerun skips them.")
