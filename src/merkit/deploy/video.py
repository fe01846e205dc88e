"""Run a model bundle on a user's own videos: spot, then classify each spotted interval.

``merkit predict SOURCE... --model BUNDLE`` and ``LoadedModel.predict_video(path)``:

1. spot micro- and macro-expressions in the whole video
   (:func:`merkit.motion.spotting.spot_video`; face re-detected along the video,
   per-frame scores, intervals with onset, apex, offset, score, micro/macro);
2. for each interval, take the frames from its onset to its offset at full
   resolution and hand them to :meth:`LoadedModel.predict` with the spotted
   apex (:func:`classify_interval`): the bundle's own method computes the inputs
   exactly as in training (faces aligned on the interval's own onset, the card's
   flow backend, sizes and frames), so nothing is re-implemented here;
3. one row per interval: onset, apex, offset (frame numbers), kind, spotting
   score and strength, the predicted class and one probability column per class.

Intervals shorter than 2 frames cannot give an onset -> apex input and are
reported with empty class columns (``status``), never silently dropped.

:func:`predict_videos` does this for many videos (files, frame folders, folders of
videos) with one model, resumably, with ``summary.csv``
(:mod:`merkit.motion.spotting.batch`); :func:`predict_stream` / :func:`predict_live`
for a camera or a network stream as its frames arrive
(:class:`~merkit.motion.spotting.StreamingSpotter` and a ring buffer of full frames).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from merkit._io import atomic_path
from merkit.data.frames import open_frames
from merkit.errors import ConfigError, FaceNotFoundError, FrameReadError, ShapeError
from merkit.motion.spotting import SpotConfig, SpottedInterval, spot_video
from merkit.motion.spotting.batch import BatchResult, VideoJob, make_jobs, run_videos, spot_row
from merkit.motion.spotting.live import LiveCSV, LiveRun, write_live_summary
from merkit.motion.spotting.report import (
    KIND_COLORS,
    NO_FACE_COLOR,
    fit_under_labels,
    kind_legend,
    stagger_labels,
)

__all__ = ["PredictWork", "StreamPredictions", "classify_interval", "predict_live", "predict_stream", "predict_video",
           "predict_videos", "plot_video_predictions", "prediction_figure", "write_video_predictions"]


def predict_video(
    model: Any,
    source: str | os.PathLike,
    *,
    spot_config: Any = None,
    fps: float | None = None,
    backend: str = "torch",
    first_frame: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[pd.DataFrame, Any]:
    """Spot and classify (module docstring).

    Args:
        model: a :class:`~merkit.deploy.bundle.LoadedModel`.
        source: a video file or a folder of frames.
        spot_config: :class:`merkit.motion.spotting.SpotConfig` (default options).
        fps: frame rate (needed for frame folders; overrides a video's own rate).
        backend: ``"torch"`` or ``"onnx"``.
        first_frame: number of the first frame in the output (1: ``img1.jpg`` is frame 1).
        progress: ``progress(curve, position, n_frames)`` per scored frame (:func:`spot_video`).

    Returns:
        ``(table, spot_result)``: one row per spotted interval, and the spotting result.

    Raises:
        DatasetNotFoundError, FrameReadError: the file is missing or unreadable.
        FaceNotFoundError: no face in the whole video. ShapeError: a video too short to spot.
    """
    check_backend(model, backend)  # a setup error: say so before spotting a long video
    result = spot_video(source, spot_config or SpotConfig(), fps=fps, progress=progress)
    frames = open_frames(source, fps=fps, color="rgb")
    rows = [classify_interval(model, interval, lambda a, b: np.stack([frames[i] for i in range(a, b + 1)]),
                              float(result.fps), backend, first_frame) for interval in result.intervals]
    return pd.DataFrame(rows, columns=prediction_columns(model)), result


def check_backend(model: Any, backend: str) -> None:
    """Raise :class:`ConfigError` when ``model``'s bundle has no graph for ``backend`` (before any work)."""
    if backend != "torch" and ("onnx" not in model.card or (backend == "onnx-int8"
                                                            and "int8" not in model.card["onnx"])):
        raise ConfigError(f"bundle {str(model.path)!r} has no {backend} graph; run `merkit export {model.path} "
                          f"--format onnx{' --int8' if backend == 'onnx-int8' else ''}` first, or use backend 'torch'.")


def prediction_columns(model: Any) -> list[str]:
    """Columns of a predictions table: interval, spotting score, status, class, ``prob_<class>``."""
    return ["onset", "apex", "offset", "kind", "spot_score", "spot_strength", "status", "class",
            *[f"prob_{c}" for c in model.classes]]


def classify_interval(model: Any, interval: Any, clip_of: Callable[[int, int], np.ndarray | None], fps: float,
                      backend: str = "torch", first_frame: int = 1) -> dict[str, Any]:
    """One predictions row: ``interval`` (0-based positions) classified on its frames.

    Args:
        model: a :class:`~merkit.deploy.bundle.LoadedModel`.
        interval: a :class:`~merkit.motion.spotting.SpottedInterval`.
        clip_of: ``clip_of(onset, offset)`` gives the frames ``onset..offset`` (inclusive) as a
            ``(T, H, W, 3)`` uint8 RGB array at full resolution, or ``None`` when they are gone.
        fps: frame rate.
        backend: ``"torch"``, ``"onnx"`` or ``"onnx-int8"``.
        first_frame: number of the first frame in the row.

    Returns:
        ``{column: value}`` (:func:`prediction_columns`); an interval that cannot be classified keeps its
        row with the reason in ``status`` and empty class columns.
    """
    classes = list(model.classes)
    row: dict[str, Any] = {
        "onset": interval.onset + first_frame, "apex": interval.apex + first_frame,
        "offset": interval.offset + first_frame, "kind": interval.kind,
        "spot_score": round(float(interval.score), 6), "spot_strength": round(float(interval.strength), 3),
    }
    empty = {"class": None, **{f"prob_{c}": np.nan for c in classes}}
    if interval.offset - interval.onset < 1:
        return {**row, "status": "too short (1 frame)", **empty}
    clip = clip_of(interval.onset, interval.offset)
    if clip is None:
        return {**row, "status": "not classified: its frames are no longer buffered", **empty}
    try:
        p = model.predict(clip, onset=0, apex=interval.apex - interval.onset,
                          offset=interval.offset - interval.onset, fps=float(fps), backend=backend)
    except (FaceNotFoundError, FrameReadError, ShapeError) as exc:  # this interval's frames: reported on its row
        return {**row, "status": f"not classified: {exc}", **empty}
    return {**row, "status": "ok", "class": str(p.idxmax()), **{f"prob_{c}": float(p[c]) for c in classes}}


def prediction_figure(table: pd.DataFrame, result: Any, first_frame: int = 1) -> Any:
    """The figure of :func:`plot_video_predictions` (matplotlib, Agg).

    Curves and intervals of a kind share :data:`~merkit.motion.spotting.report.KIND_COLORS`; each
    interval is labelled with its predicted class (``?`` when not classified) in its kind's colour,
    staggered so that labels never overlap; no-face stretches are grey.
    """
    import matplotlib  # deferred: matplotlib costs ~180 ms; only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above, once the Agg backend is chosen

    x = np.arange(result.n_frames) + first_frame
    fig, ax = plt.subplots(figsize=(12, 3.4), dpi=100)
    for scale, curve in result.curves.items():
        ax.plot(x, curve, lw=0.8, color=KIND_COLORS.get(scale, "black"))
    for _, row in table.iterrows():
        ax.axvspan(row["onset"], row["offset"], color=KIND_COLORS.get(row["kind"], "grey"), alpha=0.25, lw=0)
    stretches = result.track.no_face_stretches()
    for a, b in stretches:
        ax.axvspan(a + first_frame, b + first_frame, color=NO_FACE_COLOR, alpha=0.4, lw=0)
    ax.set_xlim(first_frame - 0.5, first_frame + result.n_frames - 0.5)  # fixed before labels are laid out
    ax.set_xlabel("frame")
    ax.set_ylabel("motion score")
    ax.set_title(f"{Path(result.name).name}: {len(table)} intervals, predicted classes")
    kind_legend(ax, {s: f"{s} score" for s in result.curves}, [("no face", NO_FACE_COLOR, 0.4)] if stretches else [])
    top = np.nanmax([np.nanmax(c) for c in result.curves.values() if np.isfinite(c).any()] or [1.0])
    fig.tight_layout()
    texts = [ax.text(row["apex"], 0.97, row["class"] if isinstance(row["class"], str) else "?", ha="center",
                     va="top", fontsize=8, color=KIND_COLORS.get(row["kind"], "black"),
                     transform=ax.get_xaxis_transform()) for _, row in table.iterrows()]
    fit_under_labels(ax, stagger_labels(ax, texts)[1], float(top))
    return fig


def plot_video_predictions(table: pd.DataFrame, result: Any, path: str | os.PathLike, first_frame: int = 1) -> Path:
    """PNG: the spotting score curves with each interval shaded and labelled with its predicted class."""
    import matplotlib.pyplot as plt  # deferred: matplotlib costs ~180 ms; only the plot needs it

    fig = prediction_figure(table, result, first_frame)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def write_video_predictions(table: pd.DataFrame, result: Any, out_dir: str | os.PathLike, vid: str,
                            first_frame: int = 1) -> dict[str, Path]:
    """Write ``<vid>_predictions.csv`` and ``<vid>_predictions.png`` atomically; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / f"{vid}_predictions.csv", out / f"{vid}_predictions.png"
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    plot_video_predictions(table, result, png_path, first_frame)
    return {"csv": csv_path, "png": png_path}


#: The model of a pool worker, set once by :func:`_init_predict_worker`.
_WORKER_MODEL: list[Any] = []


def _init_predict_worker(model: Any, loader: Callable[[Any], Any] | None) -> None:
    torch.set_num_threads(1)  # the pool already uses the cores
    _WORKER_MODEL[:] = [loader(model) if loader is not None else model]


@dataclass
class PredictWork:
    """``work`` of :func:`predict_videos`: spot and classify one video, write its table and plot.

    Attributes:
        out_dir: output folder.
        spot_config, fps, backend, first_frame: as :func:`predict_video`.
        model: the model in this process; ``None`` in a pool worker (its own, loaded once).
        progress: ``progress(curve, position, n_frames)`` per scored frame (this process only).
    """

    out_dir: str
    spot_config: Any = None
    fps: float | None = None
    backend: str = "torch"
    first_frame: int = 1
    model: Any = field(default=None, repr=False)
    progress: Callable[[str, int, int], None] | None = field(default=None, repr=False)

    def __call__(self, job: VideoJob) -> dict:
        model = self.model if self.model is not None else _WORKER_MODEL[0]
        table, result = predict_video(model, job.source, spot_config=self.spot_config, fps=self.fps,
                                      backend=self.backend, first_frame=self.first_frame, progress=self.progress)
        paths = write_video_predictions(table, result, self.out_dir, job.name, self.first_frame)
        return {**spot_row(result, self.first_frame), "classified": int((table["status"] == "ok").sum()),
                "files": sorted(p.name for p in paths.values())}

    def __getstate__(self) -> dict:
        # a worker has its own model (initializer) and no progress callback
        return {**self.__dict__, "model": None, "progress": None}


def _model_identity(model: Any) -> dict:
    """What a bundle's predictions depend on: its folder and its files' sizes and modification times."""
    path = Path(getattr(model, "path", "") or ".")
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else []
    return {"path": str(path.resolve()), "files": {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files},
            "model": model.card.get("model"), "method": model.card.get("method")}


def predict_videos(
    model: Any,
    sources: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    spot_config: Any = None,
    fps: float | None = None,
    backend: str = "torch",
    first_frame: int = 1,
    workers: int = 1,
    loader: Callable[[Any], Any] | None = None,
    names: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    on_video: Callable[[dict], None] | None = None,
) -> BatchResult:
    """:func:`predict_video` on every video of ``sources``, resumably, with one summary table.

    ``sources`` are video files, frame folders and folders of video files
    (:func:`merkit.data.frames.video_sources`). Each video gets ``<name>_predictions.csv`` and
    ``.png`` (:func:`write_video_predictions`) and a ``<name>_done.json`` marker written last;
    ``out_dir/summary.csv`` has one row per video. A rerun skips a video whose source (path,
    size, modification time), options and bundle files are unchanged and whose files are there;
    a video that fails gets its error on its row and the others go on
    (:mod:`merkit.motion.spotting.batch`).

    Args:
        model: a :class:`~merkit.deploy.bundle.LoadedModel`, used for every video of this process.
        sources: the videos.
        out_dir: output folder.
        spot_config, fps, backend, first_frame: as :func:`predict_video`.
        workers: processes; with more than 1 each worker process holds its own model, loaded once
            (``loader(model.path)``, e.g. :func:`merkit.deploy.bundle.load_model`, or else ``model``
            sent to it pickled) and runs torch and OpenCV on one thread; nothing else is shared.
        loader: see ``workers``.
        names: output names, one per video (default: file or folder names).
        progress: per-frame callback of the spotting (``workers=1`` only).
        on_video: called with each video's summary row as it finishes, fails or is skipped.

    Returns:
        :class:`~merkit.motion.spotting.batch.BatchResult`.

    Raises:
        ConfigError: the bundle has no graph for ``backend`` (before any video).
        DatasetNotFoundError, FrameReadError: a source does not exist; a folder holds neither videos nor frames.
    """
    check_backend(model, backend)
    config = spot_config or SpotConfig()
    options = {"command": "predict", "spot_config": asdict(config), "fps": fps, "backend": backend,
               "first_frame": first_frame, "model": _model_identity(model)}
    jobs = make_jobs(sources, options, names)
    pooled = workers > 1 and len(jobs) > 1
    work = PredictWork(str(out_dir), config, fps, backend, first_frame, model, None if pooled else progress)
    init_args = (model.path if loader is not None else model, loader)
    return run_videos(jobs, out_dir, work, workers=workers, initializer=_init_predict_worker, initargs=init_args,
                      on_video=on_video)


class StreamPredictions:
    """Spot and classify a stream as its frames arrive: iterate it for one predictions row per interval.

    Frames go to a :class:`~merkit.motion.spotting.live.LiveRun` (a
    :class:`~merkit.motion.spotting.StreamingSpotter`); the last ``max_interval_frames +
    latency_frames + 1`` RGB frames are kept, at full resolution, in a ring buffer (memory bounded:
    124 frames at 30 fps with the default options, 29 MB at 320x240, 0.8 GB at 1920x1080), so when
    an interval becomes final its frames are all still there and go to :meth:`LoadedModel.predict`
    exactly as :func:`predict_video` gives them. A row appears ``latency_frames`` frames after the
    interval's offset at the latest, plus the time to classify it.

    Args:
        model: a :class:`~merkit.deploy.bundle.LoadedModel`.
        frames: uint8 RGB (H, W, 3) frames in order (e.g. :func:`merkit.data.live.open_stream`).
        fps: frame rate.
        spot_config: :class:`~merkit.motion.spotting.SpotConfig` (default options).
        backend: ``"torch"``, ``"onnx"`` or ``"onnx-int8"``.
        first_frame: number of the first frame in the rows.
        max_side: longest frame side used for spotting, pixels (classification uses full frames).
        max_frames: stop after this many frames; stop: stop when this event is set.
        name: the stream, for messages.

    Attributes:
        run: the :class:`~merkit.motion.spotting.live.LiveRun` (``stopped``, ``error``, ``n_frames``).
        buffer_frames: size of the ring buffer.

    Raises:
        ConfigError: the bundle has no graph for ``backend``.
    """

    def __init__(self, model: Any, frames: Iterable[np.ndarray], fps: float, *, spot_config: Any = None,
                 backend: str = "torch", first_frame: int = 1, max_side: int = 640, max_frames: int | None = None,
                 stop: threading.Event | None = None, name: str = "stream") -> None:
        check_backend(model, backend)
        self.model, self.backend, self.first_frame = model, backend, first_frame
        self.run = LiveRun(frames, fps, spot_config or SpotConfig(), name=name, max_side=max_side,
                           max_frames=max_frames, stop=stop, on_frame=self._keep)
        spotter = self.run.spotter
        self.buffer_frames = spotter.max_interval_frames + spotter.latency_frames + 1
        self._ring: deque[np.ndarray] = deque(maxlen=self.buffer_frames)
        self._pushed = 0

    def _keep(self, frame: np.ndarray) -> None:
        self._ring.append(frame)
        self._pushed += 1

    def _clip(self, onset: int, offset: int) -> np.ndarray | None:
        first = self._pushed - len(self._ring)
        if onset < first or offset >= self._pushed:
            return None
        return np.stack([self._ring[i - first] for i in range(onset, offset + 1)])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for interval in self.run:
            yield classify_interval(self.model, interval, self._clip, self.run.spotter.fps, self.backend,
                                    self.first_frame)


def predict_stream(model: Any, frames: Iterable[np.ndarray], fps: float, **kwargs: Any) -> StreamPredictions:
    """Spot and classify frames as they arrive: :class:`StreamPredictions` (its arguments).

    Example:
        >>> for row in predict_stream(model, open_stream("0"), 30.0):  # doctest: +SKIP
        ...     print(row["onset"], row["offset"], row["kind"], row["class"])
    """
    return StreamPredictions(model, frames, fps, **kwargs)


def predict_live(model: Any, frames: Iterable[np.ndarray], fps: float, out_dir: str | os.PathLike, vid: str, *,
                 source: str = "stream", on_row: Callable[[dict[str, Any]], None] | None = None,
                 **kwargs: Any) -> dict[str, Any]:
    """``merkit predict --live``: :func:`predict_stream` with ``<vid>_predictions.csv`` growing row by row.

    Each row is appended (and on disk) as soon as its interval is classified
    (:class:`~merkit.motion.spotting.live.LiveCSV`); at the end ``summary.csv`` gets one row
    (``status``: ``ok (end of stream)``, ``ok (stopped)``, ``ok (max seconds)``).

    Args:
        model, frames, fps: as :func:`predict_stream`; ``**kwargs`` its keywords.
        out_dir: output folder.
        vid: name of the files.
        source: the stream as the user named it (for ``summary.csv``).
        on_row: called with each row as it is written.

    Returns:
        The ``summary.csv`` row.

    Raises:
        FaceNotFoundError: no face in the whole stream. FrameReadError: the stream broke (every
        file is written first).
    """
    stream = StreamPredictions(model, frames, fps, name=source, **kwargs)
    found, classified = [], 0
    with LiveCSV(Path(out_dir) / f"{vid}_predictions.csv", prediction_columns(model)) as table:
        for row in stream:
            table.append(row)
            found.append(SpottedInterval(row["onset"], row["apex"], row["offset"], row["spot_score"],
                                         row["spot_strength"], row["kind"]))
            classified += row["status"] == "ok"
            if on_row is not None:
                on_row(row)
    summary = write_live_summary(out_dir, vid, source, stream.run, found, classified)
    if stream.run.error is not None:
        raise stream.run.error
    return summary
