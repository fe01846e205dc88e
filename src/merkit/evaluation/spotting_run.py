"""Spot every video of a long-video dataset and score it with the MEGC metric.

The fixed-threshold methods of :mod:`merkit.motion.spotting` (``flow_roi``, ``lbp_diff``)
learn nothing (their thresholds are fixed numbers in :class:`~merkit.motion.spotting.SpotConfig`),
so every video is spotted independently and no subject's ground truth is used to choose
anything; leave-one-subject-out would give the same predictions (:func:`spot_long_videos`).
The learnt spotter (:mod:`merkit.motion.spotting.learnt`) is evaluated leave-one-subject-out
(:func:`spot_long_videos_loso`): per held-out subject and seed, one spotter is fitted (and its
thresholds chosen) on the other subjects' videos and spots the held-out subject's videos from
their frames alone. Predictions are pooled over the videos as MEGC does
(:func:`~merkit.evaluation.spotting.evaluate_spotting`).

Files written by :func:`write_spotting_run`::

    predictions.csv   vid,pred_onset,pred_offset,type,subject,dataset,apex,strength  (frame numbers as on disk)
    metrics.csv       scope,dataset,kind,tp,fp,fn,precision,recall,f1  (per type, per dataset, overall)
    per_video.csv     video,kind,tp,fp,fn
    run.json          dataset, options, video minutes, seconds per minute of video

:func:`write_loso_run` writes the same files for a LOSO run, counts pooled over the seeds
(each seed's predictions scored against the truth, TP/FP/FN summed), with ``seed`` and
``fold`` (the held-out subject) columns appended to ``predictions.csv`` and a ``seed`` column
to ``per_video.csv``, plus::

    per_fold.csv      fold,seed,kind,tp,fp,fn,precision,recall,f1  (seed 'all': pooled over the seeds)
    per_seed.csv      seed,kind,tp,fp,fn,precision,recall,f1       (kind 'all': every type)
    models/<subject>_seed<k>/spotter.json, spotter.npz   the fitted spotters (plain arrays, no pickle)
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from merkit._io import write_json, write_text
from merkit.data.frames import ImageFiles, VideoFile
from merkit.data.longvideo import LongVideo
from merkit.errors import ConfigError
from merkit.evaluation.spotting import Interval, SpotCounts, SpottingReport, evaluate_spotting
from merkit.motion.spotting import SpotConfig, spot_video
from merkit.motion.spotting.learnt import LabelledVideo, LearntSpotConfig, LearntSpotter, fit_spotter
from merkit.motion.spotting.learnt_features import VideoFeatures, features_from_video

__all__ = ["SpottingRun", "LosoSpottingRun", "spot_long_videos", "spot_long_videos_loso", "video_features",
           "write_spotting_run", "write_loso_run"]


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


def _frames_of(v: LongVideo):
    return VideoFile(v.video_file, fps=v.fps, color="gray") if v.video_file else \
        ImageFiles(v.frame_paths, fps=v.fps, color="gray", name=v.video_key)


def video_features(videos: Sequence[LongVideo], config: SpotConfig | None = None, *,
                   on_video: Callable[[LongVideo], None] | None = None) -> dict[str, VideoFeatures]:
    """The learnt spotter's features of each video (streamed from its frames; no label is read).

    Returns:
        video key -> :class:`~merkit.motion.spotting.learnt_features.VideoFeatures`.
    """
    out = {}
    for v in videos:
        if on_video is not None:
            on_video(v)
        out[v.video_key] = features_from_video(_frames_of(v), config, fps=v.fps)
    return out


@dataclass
class LosoSpottingRun:
    """A leave-one-subject-out run of the learnt spotter.

    Attributes:
        predictions: seed -> spotted intervals of every video (each from the fold holding its subject out).
        apexes: seed -> apex frame numbers, in the order of ``predictions[seed]``.
        folds: seed -> the held-out subject key of each prediction.
        truth: the annotated intervals.
        reports: seed -> MEGC breakdown of that seed.
        pooled: the breakdown with the seeds' counts summed.
        config: the features' spotting options.
        learnt: the learnt options.
        minutes: length of all videos, minutes.
        seconds: wall time (features and fitting).
        models: (subject key, seed) -> the fitted spotter of that fold.
        subject_of: video key -> subject key.
    """

    predictions: dict[int, list[Interval]]
    apexes: dict[int, list[int]]
    folds: dict[int, list[str]]
    truth: list[Interval]
    reports: dict[int, SpottingReport]
    pooled: SpottingReport
    config: SpotConfig
    learnt: LearntSpotConfig
    minutes: float
    seconds: float
    models: dict[tuple[str, int], LearntSpotter] = field(default_factory=dict)
    subject_of: dict[str, str] = field(default_factory=dict)

    def per_fold(self) -> dict[tuple[str, str, str], SpotCounts]:
        """(fold, seed or ``'all'``, kind or ``'all'``) -> counts of the held-out subject's videos."""
        out: dict[tuple[str, str, str], SpotCounts] = {}
        for seed, report in self.reports.items():
            for (video, kind), c in report.per_video.items():
                fold = self.subject_of.get(video, "")
                for key in ((fold, str(seed), kind), (fold, str(seed), "all"), (fold, "all", kind),
                            (fold, "all", "all")):
                    out.setdefault(key, SpotCounts())
                    out[key] += c
        return out


def sum_reports(reports: Sequence[SpottingReport]) -> SpottingReport:
    """One report whose counts are the sums of ``reports``' counts (pooling over seeds)."""
    def add(target: dict, source: dict) -> None:
        for key, c in source.items():
            target.setdefault(key, SpotCounts())
            target[key] += c

    per_video: dict = {}
    per_kind: dict = {}
    per_dataset: dict = {}
    overall = SpotCounts()
    for r in reports:
        add(per_video, r.per_video)
        add(per_kind, r.per_kind)
        add(per_dataset, r.per_dataset)
        overall += r.overall
    return SpottingReport(per_video, per_kind, per_dataset, overall)


def spot_long_videos_loso(videos: Sequence[LongVideo], config: SpotConfig | None = None,
                          learnt: LearntSpotConfig | None = None, *,
                          features: dict[str, VideoFeatures] | None = None,
                          on_video: Callable[[LongVideo], None] | None = None) -> LosoSpottingRun:
    """Leave-one-subject-out evaluation of the learnt spotter (module docstring).

    For each subject and seed a spotter is fitted on the *other* subjects' videos (their
    features and intervals); the held-out subject's videos are spotted from their features
    only: their intervals are read solely to score the predictions afterwards.

    Args:
        videos: long videos with ground truth, at least two subjects.
        config: spotting options of the features (flow, crop, head motion, scales, ``max_fps``).
        learnt: learnt options (regressor, seeds, threshold choice).
        features: video key -> features already extracted with ``config`` (else computed here).
        on_video: called before each video's features (progress).

    Returns:
        :class:`LosoSpottingRun`.

    Raises:
        ConfigError: fewer than two subjects; and as :func:`~merkit.motion.spotting.learnt.fit_spotter`.
    """
    config = config or SpotConfig()
    learnt = learnt or LearntSpotConfig()
    start = time.perf_counter()
    subjects = sorted({v.subject_key for v in videos})
    if len(subjects) < 2:
        raise ConfigError(f"leave-one-subject-out needs at least two subjects; got {subjects!r}.")
    feats = dict(features) if features is not None else video_features(videos, config, on_video=on_video)
    spot_options = asdict(config)
    preds: dict[int, list[Interval]] = {s: [] for s in learnt.seeds}
    apexes: dict[int, list[int]] = {s: [] for s in learnt.seeds}
    folds: dict[int, list[str]] = {s: [] for s in learnt.seeds}
    models = {}
    for subject in subjects:
        train = [LabelledVideo(feats[v.video_key], tuple((v.frame_index(i.onset), v.frame_index(i.offset), i.kind)
                                                         for i in v.intervals), v.subject_key)
                 for v in videos if v.subject_key != subject]
        held_out = [v for v in videos if v.subject_key == subject]
        for seed in learnt.seeds:
            model = fit_spotter(train, learnt, seed=seed, spot=spot_options)
            models[(subject, seed)] = model
            for v in held_out:
                for i in model.spot(feats[v.video_key]):
                    preds[seed].append(Interval(v.video_key, v.frame_numbers[i.onset], v.frame_numbers[i.offset],
                                                i.kind, score=i.strength, dataset=v.dataset))
                    apexes[seed].append(v.frame_numbers[i.apex])
                    folds[seed].append(subject)
    truth = [Interval(v.video_key, i.onset, i.offset, i.kind, dataset=v.dataset) for v in videos for i in v.intervals]
    reports = {seed: evaluate_spotting(p, truth) for seed, p in preds.items()}
    minutes = sum(v.n_frames / v.fps for v in videos) / 60
    return LosoSpottingRun(preds, apexes, folds, truth, reports, sum_reports(list(reports.values())), config,
                           learnt, minutes, time.perf_counter() - start, models,
                           {v.video_key: v.subject_key for v in videos})


def _count_row(c: SpotCounts) -> list[object]:
    return [c.tp, c.fp, c.fn, round(c.precision, 4), round(c.recall, 4), round(c.f1, 4)]


def seed_summary(run: LosoSpottingRun) -> dict[str, dict[str, float]]:
    """kind (``micro``, ``macro``, ``overall``) -> mean and sd (ddof 0) over the seeds of the pooled F1."""
    out = {}
    for kind in ("micro", "macro", "overall"):
        values = [(r.overall if kind == "overall" else r.per_kind.get(kind, SpotCounts())).f1
                  for r in run.reports.values()]
        out[kind] = {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values)), 4)}
    return out


def write_loso_run(run: LosoSpottingRun, out_dir: str | os.PathLike, dataset: str = "") -> dict[str, Path]:
    """Write the LOSO files of the module docstring (atomically); returns ``{name: path}``."""
    out = Path(out_dir)
    names = ("predictions.csv", "metrics.csv", "per_video.csv", "per_fold.csv", "per_seed.csv", "run.json")
    paths = {name: out / name for name in names}
    rows = [["vid", "pred_onset", "pred_offset", "type", "subject", "dataset", "apex", "strength", "seed", "fold"]]
    for seed, preds in run.predictions.items():
        for p, apex, fold in zip(preds, run.apexes[seed], run.folds[seed]):
            _, subject, vid = p.video.split("/", 2)
            rows.append([vid, p.onset, p.offset, p.kind, subject, p.dataset, apex, round(p.score, 3), seed, fold])
    write_text(paths["predictions.csv"], _csv(rows))
    metrics = run.pooled.rows()
    write_text(paths["metrics.csv"], _csv([list(metrics[0])] + [list(r.values()) for r in metrics]))
    per_video = [["video", "kind", "seed", "tp", "fp", "fn"]]
    for seed, report in run.reports.items():
        per_video += [[v, k, seed, c.tp, c.fp, c.fn] for (v, k), c in sorted(report.per_video.items())]
    write_text(paths["per_video.csv"], _csv(per_video))
    header = ["tp", "fp", "fn", "precision", "recall", "f1"]
    per_fold = [["fold", "seed", "kind", *header]]
    per_fold += [[f, s, k, *_count_row(c)] for (f, s, k), c in sorted(run.per_fold().items())]
    write_text(paths["per_fold.csv"], _csv(per_fold))
    per_seed = [["seed", "kind", *header]]
    for seed, report in run.reports.items():
        per_seed += [[seed, k, *_count_row(c)] for k, c in sorted(report.per_kind.items())]
        per_seed.append([seed, "all", *_count_row(report.overall)])
    write_text(paths["per_seed.csv"], _csv(per_seed))
    for (subject, seed), model in sorted(run.models.items()):
        model.save(out / "models" / f"{subject.replace('/', '_')}_seed{seed}")
    write_json(paths["run.json"], {
        "dataset": dataset, "config": asdict(run.config), "learnt": asdict(run.learnt),
        "videos": len({i.video for i in run.truth}), "subjects": len(set(run.subject_of.values())),
        "minutes": round(run.minutes, 3), "seconds": round(run.seconds, 2),
        "seconds_per_minute": round(run.seconds / max(run.minutes, 1e-9), 2),
        "overall_f1": round(run.pooled.overall.f1, 4), "seeds": list(run.reports), "f1_over_seeds": seed_summary(run),
        "protocol": "leave-one-subject-out: per held-out subject and seed, a spotter fitted and its thresholds "
                    "chosen on the other subjects' videos only"})
    return {k.split(".")[0]: v for k, v in paths.items()}
