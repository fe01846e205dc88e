"""Spot every video of a long-video dataset and score it with the MEGC metric.

The spotting methods of :mod:`merkit.motion.spotting` learn nothing (their thresholds
are fixed numbers in :class:`~merkit.motion.spotting.SpotConfig`), so every video is
spotted independently and no subject's ground truth is used to choose anything;
leave-one-subject-out would give the same predictions. Predictions are pooled over the
videos as MEGC does (:func:`~merkit.evaluation.spotting.evaluate_spotting`).

Files written by :func:`write_spotting_run`::

    predictions.csv   vid,pred_onset,pred_offset,type,subject,dataset,apex,strength  (frame numbers as on disk)
    metrics.csv       scope,dataset,kind,tp,fp,fn,precision,recall,f1  (per type, per dataset, overall)
    per_video.csv     video,kind,tp,fp,fn
    run.json          dataset, options, video minutes, seconds per minute of video
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from merkit._io import write_json, write_text
from merkit.data.frames import ImageFiles, VideoFile
from merkit.data.longvideo import LongVideo
from merkit.evaluation.spotting import Interval, SpottingReport, evaluate_spotting
from merkit.motion.spotting import SpotConfig, spot_video

__all__ = ["SpottingRun", "spot_long_videos", "write_spotting_run"]


@dataclass
class SpottingRun:
    """Predictions, ground truth and scores of one dataset.

    Attributes:
        predictions: spotted intervals (``video`` = the video key, frame numbers as on disk,
            ``score`` = the peak's strength).
        truth: the dataset's annotated intervals.
        report: the MEGC breakdown.
        config: spotting options.
        minutes: length of all videos, minutes.
        seconds: wall time of the spotting.
        apexes: video key -> apex frame numbers of its predictions (same order as ``predictions``).
    """

    predictions: list[Interval]
    truth: list[Interval]
    report: SpottingReport
    config: SpotConfig
    minutes: float
    seconds: float
    apexes: list[int]


def spot_long_videos(videos: Sequence[LongVideo], config: SpotConfig | None = None, *,
                     on_video: Callable[[LongVideo], None] | None = None) -> SpottingRun:
    """Spot each video (streamed from its frame files) and evaluate against its intervals.

    Args:
        videos: long videos with ground truth (:func:`merkit.data.longvideo.load_long_videos`).
        config: spotting options.
        on_video: called before each video (progress).

    Returns:
        :class:`SpottingRun`.
    """
    config = config or SpotConfig()
    preds, apexes = [], []
    start = time.perf_counter()
    for v in videos:
        if on_video is not None:
            on_video(v)
        frames = VideoFile(v.video_file, fps=v.fps, color="gray") if v.video_file else \
            ImageFiles(v.frame_paths, fps=v.fps, color="gray", name=v.video_key)
        result = spot_video(frames, config, fps=v.fps)
        for i in result.intervals:
            preds.append(Interval(v.video_key, v.frame_numbers[i.onset], v.frame_numbers[i.offset], i.kind,
                                  score=i.strength, dataset=v.dataset))
            apexes.append(v.frame_numbers[i.apex])
    truth = [Interval(v.video_key, i.onset, i.offset, i.kind, dataset=v.dataset) for v in videos for i in v.intervals]
    minutes = sum(v.n_frames / v.fps for v in videos) / 60
    return SpottingRun(preds, truth, evaluate_spotting(preds, truth), config, minutes,
                       time.perf_counter() - start, apexes)


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_spotting_run(run: SpottingRun, out_dir: str | os.PathLike, dataset: str = "") -> dict[str, Path]:
    """Write the files of the module docstring (atomically); returns ``{name: path}``."""
    out = Path(out_dir)
    paths = {name: out / name for name in ("predictions.csv", "metrics.csv", "per_video.csv", "run.json")}
    rows = [["vid", "pred_onset", "pred_offset", "type", "subject", "dataset", "apex", "strength"]]
    for p, apex in zip(run.predictions, run.apexes):
        _, subject, vid = p.video.split("/", 2)
        rows.append([vid, p.onset, p.offset, p.kind, subject, p.dataset, apex, round(p.score, 3)])
    write_text(paths["predictions.csv"], _csv(rows))
    metrics = run.report.rows()
    write_text(paths["metrics.csv"], _csv([list(metrics[0])] + [list(r.values()) for r in metrics]))
    per_video = [["video", "kind", "tp", "fp", "fn"]] + [[v, k, c.tp, c.fp, c.fn]
                                                         for (v, k), c in sorted(run.report.per_video.items())]
    write_text(paths["per_video.csv"], _csv(per_video))
    write_json(paths["run.json"], {"dataset": dataset, "config": asdict(run.config), "videos": len(
        {i.video for i in run.truth}), "minutes": round(run.minutes, 3), "seconds": round(run.seconds, 2),
        "seconds_per_minute": round(run.seconds / max(run.minutes, 1e-9), 2),
        "overall_f1": round(run.report.overall.f1, 4),
        "protocol": "fixed thresholds, no parameter learnt: every video spotted independently"})
    return {k.split(".")[0]: v for k, v in paths.items()}
