"""Spotting on SynthME long videos: MEGC F1 (IoU >= 0.5) per type and overall, and time per minute of video.

Time per minute of video is the wall time of ``spot_frames`` (face tracking, both curves,
intervals) on frames already decoded, on the machine as it was (shared cores).

Generates (or reuses, ``--data``) a SynthME long-video set in the CAS(ME)^2 layout (or
SAMM-LV with ``--layout samm_lv``), loads it with the matching loader, spots every video with each method and scores the
predictions with :func:`merkit.evaluation.spotting.evaluate_spotting`. Reference rows:

* ``no intervals``: a spotter that never reports anything (F1 = 0 by definition);
* ``random``: per video, as many intervals of each type as the ground truth has, of the
  ground truth's lengths, placed uniformly at random (mean over 20 draws).

Usage::

    python -m benchmarks.perf.spotting                      # 4 subjects x 1 video x 60 s at 30 fps
    python -m benchmarks.perf.spotting --subjects 2 --videos 1 --frames 600 --set extent=height
    python -m benchmarks.perf.spotting --layout samm_lv --subjects 2 --frames 6000 --set max_fps=50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from merkit.data.longvideo import load_long_videos
from merkit.evaluation.spotting import Interval, SpotCounts, evaluate_spotting
from merkit.motion.spotting import SpotConfig, spot_frames
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="existing SynthME long-video output (else a temporary one)")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--videos", type=int, default=1)
    parser.add_argument("--frames", type=int, default=1800, help="frames per video")
    parser.add_argument("--layout", choices=["casme_sq", "samm_lv"], default="casme_sq")
    parser.add_argument("--fps", type=float, help="frame rate of the generated videos (default: the layout's real one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="flow_roi,lbp_diff")
    parser.add_argument("--set", action="append", default=[], help="SpotConfig override, e.g. extent=height")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.data or Path(tmp) / "long"
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
        print(f"{len(videos)} videos, {minutes:.1f} min, {n_micro} micro + {len(truth) - n_micro} macro intervals")
        print("\n| method | micro F1 | macro F1 | overall F1 | TP/FP/FN | s per min of video |")
        print("|---|---|---|---|---|---|")
        overrides = _parse_set(args.set)
        for method in args.methods.split(","):
            config = replace(SpotConfig(method=method), **overrides)
            preds, seconds = [], 0.0
            for v in videos:
                import cv2

                frames = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in v.frame_paths]
                result = spot_frames(frames, v.fps, config, name=v.video_key)
                seconds += result.seconds
                preds += [Interval(v.video_key, v.frame_numbers[i.onset], v.frame_numbers[i.offset], i.kind,
                                   score=i.strength) for i in result.intervals]
            print(_row(method, evaluate_spotting(preds, truth), seconds / minutes))
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
        if overrides:
            print(f"\noverrides: {overrides}")


if __name__ == "__main__":
    main()
