"""Many videos in one call: one process or a pool, resumable, one summary table (``docs/spotting.md``).

:func:`run_videos` is the loop of ``merkit spot SOURCE...`` (:func:`spot_videos`) and of
``merkit predict SOURCE...`` (:func:`merkit.deploy.video.predict_videos`). Each :class:`VideoJob`
names a video, its output name and its *key*: the source's resolved path, size and modification
time (for a frame folder: its file count, total size and newest modification time) and every
option that shapes the outputs. A job's ``work`` writes the per-video files atomically
(:mod:`merkit._io`); the runner then writes ``<name>_done.json`` (the key, the summary row and the
files) last. A rerun skips a video whose marker holds the same key and whose files are all there;
a changed source, a changed option or a missing file runs it again. A video that fails
(unreadable, no face, too short) gets its error on its summary row and the others go on; it has
no marker, so the next run tries it again. ``DIR/summary.csv`` is rewritten atomically after every
video, one row per video finished so far, in the order of the sources::

    video,frames,fps,intervals,micro,macro,classified,status,seconds,source

``status`` is ``ok``, ``ok (earlier run)`` for a skipped video (its numbers are those of the run
that made the files) or ``failed: <error>``; ``classified`` is empty for spotting alone.

With ``workers > 1`` the videos go to a ``spawn`` process pool one at a time; nothing is shared
between processes but the options (each worker opens its own videos, and ``initializer`` loads what
each worker needs once, e.g. a model); every worker runs OpenCV on one thread.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import pandas as pd

from merkit._io import write_json, write_text
from merkit.data.frames import video_names, video_sources
from merkit.errors import ConfigError, MerkitError
from merkit.motion.spotting.report import write_spot_outputs
from merkit.motion.spotting.spot import SpotConfig, SpotResult, spot_video

__all__ = ["SUMMARY_COLUMNS", "BatchResult", "SpotWork", "VideoJob", "make_jobs", "run_videos", "source_key",
           "spot_row", "spot_videos"]

log = logging.getLogger(__name__)

#: Columns of ``summary.csv``.
SUMMARY_COLUMNS = ("video", "frames", "fps", "intervals", "micro", "macro", "classified", "status", "seconds",
                   "source")
#: Status of a video whose files an earlier run made (same key).
EARLIER = "ok (earlier run)"


@dataclass(frozen=True)
class VideoJob:
    """One video of a batch.

    Attributes:
        source: the video file or frame folder.
        name: its name in the output files (``<name>_...``).
        key: what its outputs depend on (plain JSON data), see the module docstring.
    """

    source: str
    name: str
    key: dict


@dataclass
class BatchResult:
    """What :func:`run_videos` did.

    Attributes:
        summary: one row per video (:data:`SUMMARY_COLUMNS`), in the order of the jobs.
        path: ``summary.csv``.
    """

    summary: pd.DataFrame
    path: Path

    @property
    def n_failed(self) -> int:
        return int(self.summary["status"].astype(str).str.startswith("failed").sum())

    @property
    def n_skipped(self) -> int:
        return int((self.summary["status"] == EARLIER).sum())


def source_key(path: str | os.PathLike) -> dict:
    """Identity of a source's content: resolved path, size and modification time (ns).

    A frame folder changes when any of its files does: its file count, total size and newest
    modification time. A path that does not exist gets ``size = -1`` (reading it will fail).
    """
    p = Path(path)
    if p.is_dir():
        stats = [f.stat() for f in p.iterdir() if f.is_file()]
        return {"path": str(p.resolve()), "files": len(stats), "size": sum(s.st_size for s in stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=0)}
    if not p.exists():
        return {"path": str(p.resolve()), "size": -1, "mtime_ns": 0}
    st = p.stat()
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _plain(obj: Any) -> Any:
    # the key is compared with the one read back from JSON: make it JSON data first
    return json.loads(json.dumps(obj, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else sorted(o) if isinstance(o, (set, frozenset)) else os.fspath(o)
                                 if isinstance(o, os.PathLike) else str(o)))


def make_jobs(sources: Sequence[str | os.PathLike], options: dict, names: Sequence[str] | None = None
              ) -> list[VideoJob]:
    """One :class:`VideoJob` per video of ``sources`` (:func:`merkit.data.frames.video_sources`).

    Args:
        sources: video files, frame folders, folders of video files.
        options: everything besides the source that shapes the outputs (part of each key).
        names: output names, one per video (default :func:`merkit.data.frames.video_names`).

    Raises:
        DatasetNotFoundError, ConfigError, FrameReadError: see ``video_sources``; ConfigError also
        when ``names`` does not give one distinct name per video.
    """
    paths = video_sources(sources)
    if names is not None and (len(names) != len(paths) or len(set(names)) != len(names)):
        raise ConfigError(f"{len(paths)} videos need {len(paths)} distinct names; got {list(names)!r} "
                          f"(a name such as --vid is for a single video).")
    names = list(names) if names is not None else video_names(paths)
    return [VideoJob(str(p), n, _plain({"name": n, "source": source_key(p), "options": options}))
            for p, n in zip(paths, names)]


def _marker(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}_done.json"


def _finished(job: VideoJob, out_dir: Path) -> dict | None:
    """The summary row an earlier run stored for ``job``, if its key matches and its files are there."""
    path = _marker(out_dir, job.name)
    try:
        done = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if done.get("key") != job.key or not all((out_dir / f).is_file() for f in done.get("files", [None])):
        return None
    return done["row"]


def _run_one(work: Callable[[VideoJob], dict], job: VideoJob) -> tuple[dict, float]:
    start = time.perf_counter()
    row = work(job)
    return row, time.perf_counter() - start


def _init_worker(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    cv2.setNumThreads(1)  # the pool already uses the cores
    if initializer is not None:
        initializer(*initargs)


def _failure(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return f"failed: {text}" if isinstance(exc, MerkitError) else f"failed: {type(exc).__name__}: {text}"


def run_videos(
    jobs: Sequence[VideoJob],
    out_dir: str | os.PathLike,
    work: Callable[[VideoJob], dict],
    *,
    workers: int = 1,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    on_video: Callable[[dict], None] | None = None,
) -> BatchResult:
    """Run ``work`` on every job not finished before; write markers and ``summary.csv`` (module docstring).

    Args:
        jobs: the videos (:func:`make_jobs`).
        out_dir: output folder of every job.
        work: ``work(job) -> row`` writes the job's files (atomically) and returns its summary numbers
            (``frames, fps, intervals, micro, macro, classified``) and ``files``, the names of the files
            it wrote in ``out_dir``; any other key (e.g. ``note``) goes to ``on_video`` only. Picklable
            when ``workers > 1``.
        workers: processes; 1 runs every video in this process.
        initializer, initargs: called once in each worker process (``workers > 1``).
        on_video: called in this process with each video's full row as it finishes, fails or is skipped.

    Returns:
        :class:`BatchResult`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[int, dict] = {}
    summary = out / "summary.csv"

    def finish(i: int, row: dict) -> None:
        rows[i] = {"video": jobs[i].name, "source": jobs[i].source, **row}
        frame = pd.DataFrame([rows[j] for j in sorted(rows)]).reindex(columns=list(SUMMARY_COLUMNS))
        write_text(summary, frame.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
        if on_video is not None:
            on_video(rows[i])

    def done(i: int, row: dict, seconds: float) -> None:
        row = {**row, "status": "ok", "seconds": round(seconds, 3)}
        kept = {k: row.get(k) for k in SUMMARY_COLUMNS if k not in ("video", "source")}
        write_json(_marker(out, jobs[i].name), {"key": jobs[i].key, "row": kept, "files": row.get("files", [])})
        finish(i, row)

    def failed(i: int, exc: BaseException) -> None:
        if isinstance(exc, BrokenProcessPool):  # one dead worker fails every pending video alike: no traceback
            log.error("%s failed: a worker process died (%s)", jobs[i].source, exc)
        elif not isinstance(exc, MerkitError):
            log.error("%s failed", jobs[i].source, exc_info=exc)
        finish(i, {"status": _failure(exc)})

    todo = []
    for i, job in enumerate(jobs):
        earlier = _finished(job, out)
        if earlier is not None:
            finish(i, {**earlier, "status": EARLIER})
            continue
        _marker(out, job.name).unlink(missing_ok=True)  # its files are about to be replaced
        todo.append(i)
    if workers > 1 and len(todo) > 1:
        pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=mp.get_context("spawn"),
                                   initializer=_init_worker, initargs=(initializer, initargs))
        try:
            futures = {pool.submit(_run_one, work, jobs[i]): i for i in todo}
            for future in as_completed(futures):
                try:
                    row, seconds = future.result()
                except Exception as exc:  # a failed video is reported on its row; the others go on
                    failed(futures[future], exc)
                else:
                    done(futures[future], row, seconds)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        for i in todo:
            try:
                row, seconds = _run_one(work, jobs[i])
            except Exception as exc:  # a failed video is reported on its row; the others go on
                failed(i, exc)
            else:
                done(i, row, seconds)
    frame = pd.DataFrame([rows[j] for j in sorted(rows)]).reindex(columns=list(SUMMARY_COLUMNS))
    if not rows:
        write_text(summary, ",".join(SUMMARY_COLUMNS) + "\n")
    return BatchResult(frame, summary)


def spot_row(result: SpotResult, first_frame: int = 1) -> dict:
    """Summary numbers of one spotted video (and a ``note`` naming its no-face stretches, if any)."""
    micro = sum(i.kind == "micro" for i in result.intervals)
    row = {"frames": result.n_frames, "fps": result.fps, "intervals": len(result.intervals), "micro": micro,
           "macro": len(result.intervals) - micro, "classified": None}
    stretches = result.track.no_face_stretches()
    if stretches:
        row["note"] = (f"no face in {len(stretches)} stretch(es) of frames (no score there): "
                       f"{[(a + first_frame, b + first_frame) for a, b in stretches][:5]}")
    return row


@dataclass
class SpotWork:
    """``work`` of :func:`spot_videos`: spot one video and write :func:`write_spot_outputs`' files.

    Attributes:
        config: spotting options.
        out_dir: output folder.
        fps: frame rate (frame folders; overrides a video's own).
        first_frame: number of the first frame in the files.
        max_side: longest frame side used, pixels.
        progress: ``progress(curve, position, n_frames)`` per scored frame (this process only).
    """

    config: SpotConfig
    out_dir: str
    fps: float | None = None
    first_frame: int = 1
    max_side: int = 640
    progress: Callable[[str, int, int], None] | None = field(default=None, repr=False)

    def __call__(self, job: VideoJob) -> dict:
        result = spot_video(job.source, self.config, fps=self.fps, max_side=self.max_side, progress=self.progress)
        paths = write_spot_outputs(result, self.out_dir, job.name, self.first_frame)
        return {**spot_row(result, self.first_frame), "files": sorted(p.name for p in paths.values())}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "progress": None}  # a progress callback stays in its process


def spot_videos(
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    config: SpotConfig | None = None,
    *,
    fps: float | None = None,
    first_frame: int = 1,
    max_side: int = 640,
    workers: int = 1,
    names: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    on_video: Callable[[dict], None] | None = None,
) -> BatchResult:
    """Spot every video of ``sources`` into ``out_dir``, resumably (module docstring).

    Args:
        sources: video files, frame folders and folders of video files.
        out_dir: output folder: per video the files of :func:`write_spot_outputs`, ``<name>_done.json``,
            and ``summary.csv``.
        config: spotting options (default :class:`SpotConfig`).
        fps: frame rate (needed for frame folders; overrides a video's own).
        first_frame: number of the first frame in the files.
        max_side: longest frame side used, pixels.
        workers: processes.
        names: output names, one per video (default: file or folder names).
        progress: per-frame callback of :func:`spot_video` (``workers=1`` only).
        on_video: called with each video's row (see :func:`run_videos`).

    Returns:
        :class:`BatchResult`; ``summary`` has one row per video.
    """
    config = config or SpotConfig()
    options = {"command": "spot", "config": asdict(config), "fps": fps, "first_frame": first_frame,
               "max_side": max_side}
    jobs = make_jobs(sources, options, names)
    work = SpotWork(config, str(out_dir), fps, first_frame, max_side, progress if workers <= 1 else None)
    return run_videos(jobs, out_dir, work, workers=workers, on_video=on_video)
