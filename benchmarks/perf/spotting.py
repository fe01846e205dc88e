"""Spotting on SynthME long videos: MEGC F1 (IoU >= 0.5) per type and overall, and time per minute of video.

Time per minute of video is the wall time of ``spot_frames`` (face tracking, both curves,
intervals) on frames already decoded, on the machine as it was (shared cores).

Generates (or reuses, ``--data``) a SynthME long-video set in the CAS(ME)^2 layout (or
SAMM-LV with ``--layout samm_lv``), loads it with the matching loader, spots every video with each method and scores the
predictions with :func:`merkit.evaluation.spotting.evaluate_spotting`. Reference rows:

* ``no intervals``: a spotter that never reports anything (F1 = 0 by definition);
* ``random``: per video, as many intervals of each type as the ground truth has, of the
  ground truth's lengths, placed uniformly at random (mean over 20 draws).

``learnt`` in ``--methods`` runs the learnt spotter leave-one-subject-out
(:func:`merkit.evaluation.spotting_run.spot_long_videos_loso`, ``--learnt-set`` for
:class:`~merkit.motion.spotting.learnt.LearntSpotConfig` options): one row pooled over the seeds
and the mean +- sd of the seeds' F1. ``--data`` may be given several times as ``NAME=PATH``
(e.g. ``realistic=/tmp/lv_realistic clean=/tmp/lv_clean``) to print the rows of each set side by side.

Usage::

    python -m benchmarks.perf.spotting                      # 4 subjects x 1 video x 60 s at 30 fps
    python -m benchmarks.perf.spotting --subjects 2 --videos 1 --frames 600 --set extent=height
    python -m benchmarks.perf.spotting --layout samm_lv --subjects 2 --frames 6000 --set max_fps=50
    python -m benchmarks.perf.spotting --data realistic=/tmp/lv_realistic --data clean=/tmp/lv_clean \
        --methods flow_roi,lbp_diff,learnt
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from merkit._options import parse_value
from merkit.data.longvideo import load_long_videos
from merkit.evaluation.spotting import Interval, SpotCounts, evaluate_spotting
from merkit.evaluation.spotting_run import seed_summary, spot_long_videos_loso, video_features
from merkit.motion.spotting import SpotConfig, spot_frames
from merkit.motion.spotting.learnt import LearntSpotConfig
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos


def _truth(videos) -> list[Interval]:
    return [Interval(v.video_key, i.onset, i.offset, i.kind, dataset=v.dataset) for v in videos for i in v.intervals]


def _random(videos, rng: np.random.Generator) -> list[Interval]:
    out = []
    for v in videos:
        first, last = v.frame_numbers[0], v.frame_numbers[-1]
        for i in v.intervals:
            start = int(rng.integers(first, last - i.n_frames + 2))
            out.append(Interval(v.video_key, start, start + i.n_frames - 1, i.kind))
    return out


def _row(name: str, report, seconds_per_min: float | None) -> str:
    k = report.per_kind
    cells = [f"{k['micro'].f1:.3f}", f"{k['macro'].f1:.3f}", f"{report.overall.f1:.3f}",
             f"{report.overall.tp}/{report.overall.fp}/{report.overall.fn}",
             f"{seconds_per_min:.1f}" if seconds_per_min is not None else "-"]
    return f"| {name} | " + " | ".join(cells) + " |"


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, value = item.split("=", 1)
        field = SpotConfig.__dataclass_fields__[key]
        out[key] = value if field.type in ("str", str) else (
            value.lower() == "true" if field.type in ("bool", bool)
            else float(value) if "float" in str(field.type) else int(value))
    return out


def _learnt_rows(name: str, videos, overrides: dict, learnt: LearntSpotConfig, minutes: float) -> list[str]:
    t0 = time.perf_counter()
    config = replace(SpotConfig(), **overrides)
    run = spot_long_videos_loso(videos, config, learnt, features=video_features(videos, config))
    sd = seed_summary(run)
    seconds = (time.perf_counter() - t0) / minutes
    label = f"{name}, LOSO, {learnt.regressor}, pooled over seeds {list(learnt.seeds)}"
    spread = (f"| {name}, LOSO, {learnt.regressor}, mean +- sd over seeds | "
              + " | ".join(f"{sd[k]['mean']:.3f} +- {sd[k]['sd']:.3f}" for k in ("micro", "macro", "overall"))
              + " | - | - |")
    return [_row(label, run.pooled, seconds), spread]


def _one_set(label: str, out: Path, args, overrides: dict, learnt: LearntSpotConfig) -> None:
    folder = "CASME_sq" if args.layout == "casme_sq" else "SAMM_LV"
    if not (out / folder).is_dir():
        t0 = time.perf_counter()
        generate_long_videos(out, LongVideoConfig(layout=args.layout, n_subjects=args.subjects,
                                                  videos_per_subject=args.videos, n_frames=args.frames,
                                                  fps=args.fps, n_micro=6, n_macro=3, n_blinks=5,
                                                  n_head_moves=3), seed=args.seed)
        print(f"generated in {time.perf_counter() - t0:.1f} s")
    videos = load_long_videos(args.layout, out / folder, **({"fps": args.fps} if args.fps else {}))
    truth = _truth(videos)
    minutes = sum(v.n_frames / v.fps for v in videos) / 60
    n_micro = sum(i.kind == "micro" for i in truth)
    print(f"\n{label}: {len(videos)} videos, {minutes:.1f} min, {n_micro} micro + {len(truth) - n_micro} macro "
          f"intervals")
    print("\n| method | micro F1 | macro F1 | overall F1 | TP/FP/FN | s per min of video |")
    print("|---|---|---|---|---|---|")
    for method in args.methods.split(","):
        if method == "learnt":
            for line in _learnt_rows(method, videos, overrides, learnt, minutes):
                print(line, flush=True)
            continue
        config = replace(SpotConfig(method=method), **overrides)
        preds, seconds = [], 0.0
        for v in videos:
            import cv2  # deferred: only the fixed-threshold rows decode frames here

            frames = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in v.frame_paths]
            result = spot_frames(frames, v.fps, config, name=v.video_key)
            seconds += result.seconds
            preds += [Interval(v.video_key, v.frame_numbers[i.onset], v.frame_numbers[i.offset], i.kind,
                               score=i.strength) for i in result.intervals]
        print(_row(method, evaluate_spotting(preds, truth), seconds / minutes), flush=True)
    print(_row("no intervals (reference)", evaluate_spotting([], truth), None))
    rng = np.random.default_rng(0)
    reports = [evaluate_spotting(_random(videos, rng), truth) for _ in range(20)]
    mean = {k: np.mean([r.per_kind[k].f1 for r in reports]) for k in ("micro", "macro")}
    overall = np.mean([r.overall.f1 for r in reports])
    pooled = SpotCounts()
    for r in reports:
        pooled += r.overall
    print(f"| random, same count and lengths as the truth (mean of 20) | {mean['micro']:.3f} | "
          f"{mean['macro']:.3f} | {overall:.3f} | "
          f"{pooled.tp / 20:.1f}/{pooled.fp / 20:.1f}/{pooled.fn / 20:.1f} | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", default=[],
                        help="existing SynthME long-video output, PATH or NAME=PATH, repeatable (else a temporary one)")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--videos", type=int, default=1)
    parser.add_argument("--frames", type=int, default=1800, help="frames per video")
    parser.add_argument("--layout", choices=["casme_sq", "samm_lv"], default="casme_sq")
    parser.add_argument("--fps", type=float, help="frame rate of the generated videos (default: the layout's real one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="flow_roi,lbp_diff")
    parser.add_argument("--set", action="append", default=[], help="SpotConfig override, e.g. extent=height")
    parser.add_argument("--learnt-set", action="append", default=[],
                        help="LearntSpotConfig override, e.g. regressor=ridge or seeds=[0,1,2]")
    args = parser.parse_args()
    overrides = _parse_set(args.set)
    learnt = LearntSpotConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in
                                 ((i.split("=", 1)[0], parse_value(i.split("=", 1)[1])) for i in args.learnt_set)})
    with tempfile.TemporaryDirectory() as tmp:
        sets = [(d.split("=", 1) if "=" in d else (d, d)) for d in args.data] or [("generated", Path(tmp) / "long")]
        for label, path in sets:
            _one_set(label, Path(path), args, overrides, learnt)
    if overrides:
        print(f"\noverrides: {overrides}")


if __name__ == "__main__":
    main()
