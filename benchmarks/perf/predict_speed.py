"""Per-frame speed of spotting on a 640x480 30 fps face video: the whole-file pipeline versus the streaming one.

Generates (or takes ``--video``) a 640x480 30 fps mp4 of a SynthME face (a long video rendered
at its own size and resized to 640x480, H.264 through PyAV), then in one run:

* **(a) whole file**: :func:`merkit.motion.spotting.spot_video` with the options as they were
  before the per-frame scorer (``SpotConfig(crops="triplet", detect_mode="full")``: three warps
  per frame and scale, detection on the whole frame);
* **(b) streaming**: :class:`merkit.motion.spotting.StreamingSpotter` fed by the decoder, with
  the per-frame options (``--set`` to change them; default ``crops=per_frame``,
  ``detect_mode=near_last``).

Stages of (b), frames per second of video (each stage's own time; the end-to-end row is one
pass with everything): decode (PyAV, grey), detect/track (:class:`~merkit.face.track.FaceTracker`),
align (each frame warped into its crop, ROI pixels), flow (DIS on crops), score (head motion
removed, ROI pooling), intervals (online noise level, peaks, scale merge). Classification of
the few intervals is :func:`merkit.deploy.video.predict_stream`'s; with ``--model BUNDLE`` it
is timed end to end as its own row. Peak RSS (``ru_maxrss`` of a child process) of the
streaming spotter at 1 and 10 minutes of video: the 10 minutes are the 1-minute video's
frames looped forward and backward through the spotter (no jump at the seams).

Usage::

    python -m benchmarks.perf.predict_speed                    # 60 s generated video, 2 CPU threads
    python -m benchmarks.perf.predict_speed --video face.mp4 --threads 2 --set flow_preset=ultrafast
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np

from merkit.data.frames import VideoFile
from merkit.motion.spotting import SpotConfig, StreamingSpotter, spot_video
from merkit.synth.longvideo import LongVideoConfig, generate_long_videos

SIZE = (640, 480)


def make_video(path: Path, seconds: float, seed: int = 0) -> Path:
    """A 640x480 30 fps H.264 mp4 of one SynthME long video (expressions, blinks, head moves)."""
    n = int(round(seconds * 30))
    cfg = LongVideoConfig(n_subjects=1, n_frames=n, n_micro=max(1, n // 200), n_macro=max(1, n // 450),
                          n_blinks=max(1, n // 150), n_head_moves=max(1, n // 300))
    m = generate_long_videos(path.parent / "synth", cfg, seed=seed)
    folder = next((m.root / "rawpic").glob("*/*"))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for i in range(1, n + 1):
            grey = cv2.imread(str(folder / f"img{i}.jpg"), cv2.IMREAD_GRAYSCALE)
            rgb = cv2.cvtColor(cv2.resize(grey, SIZE, interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2RGB)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


class _Clock:
    """Seconds spent inside wrapped callables, by stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, stage: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        return timed


def stream_stages(frames: list[np.ndarray], config: SpotConfig) -> tuple[dict[str, float], int]:
    """Each stage's seconds in one streaming pass over decoded frames; and the number of intervals."""
    spotter = StreamingSpotter(config, 30.0)
    clock = _Clock()
    tracker, scorer = spotter._tracker, spotter._scorer
    tracker.push = clock.wrap("detect/track", tracker.push)
    tracker.close = clock.wrap("detect/track", tracker.close)
    scorer._prepare = clock.wrap("align", scorer._prepare)
    if scorer.flow is not None:
        scorer.flow = clock.wrap("flow", scorer.flow)
    scorer.push = clock.wrap("align+flow+score", scorer.push)
    scorer.close = clock.wrap("align+flow+score", scorer.close)
    spotter._score = clock.wrap("intervals", spotter._score)
    n = sum(len(spotter.push(f)) for f in frames) + len(spotter.close())
    s = clock.seconds
    s["score"] = s.pop("align+flow+score", 0.0) - s.get("align", 0.0) - s.get("flow", 0.0)
    return s, n


def stream_end_to_end(video: Path, config: SpotConfig) -> tuple[float, int, int]:
    """Decode and spot in one pass: (seconds, frames, intervals)."""
    start = time.perf_counter()
    spotter = StreamingSpotter(config, 30.0)
    n_iv, n = 0, 0
    for frame in VideoFile(video, color="gray"):
        n_iv += len(spotter.push(frame))
        n += 1
    n_iv += len(spotter.close())
    return time.perf_counter() - start, n, n_iv


def _rss_child(video: str, config: SpotConfig, loops: int, threads: int, queue) -> None:
    cv2.setNumThreads(threads)
    frames = list(VideoFile(video, color="gray"))
    order = frames + frames[::-1]
    spotter = StreamingSpotter(config, 30.0)
    for i in range(loops * len(frames)):
        spotter.push(order[i % len(order)])
    spotter.close()
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


def peak_rss_mb(video: Path, config: SpotConfig, loops: int, threads: int) -> float:
    """Peak RSS (MiB) of a fresh process that streams ``loops`` times the video's frames (decoded ones held)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_rss_child, args=(str(video), config, loops, threads, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return float(value)


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        field = SpotConfig.__dataclass_fields__[key]
        kind = type(getattr(SpotConfig(), key))
        out[key] = value if field.type in ("str", str) or kind is str else kind(value)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="a 640x480 face video (default: generate one)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the generated video, s")
    ap.add_argument("--threads", type=int, default=2, help="OpenCV threads (the product target: 2 cores)")
    ap.add_argument("--set", nargs="*", default=["crops=per_frame", "detect_mode=near_last"],
                    help="SpotConfig options of the streaming run, key=value")
    ap.add_argument("--model", type=Path, help="a model bundle: time merkit.deploy.video.predict_stream too")
    ap.add_argument("--no-rss", action="store_true", help="skip the 1 / 10 minute peak RSS runs")
    args = ap.parse_args(argv)
    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or make_video(Path(tmp) / "face.mp4", args.seconds)
        old = SpotConfig(crops="triplet", detect_mode="full")
        new = replace(SpotConfig(), **_parse_set(args.set))
        start = time.perf_counter()
        frames = list(VideoFile(video, color="gray"))
        decode = time.perf_counter() - start
        n = len(frames)
        start = time.perf_counter()
        whole = spot_video(video, old)
        t_old = time.perf_counter() - start
        stages, n_iv = stream_stages(frames, new)
        t_new, _, _ = stream_end_to_end(video, new)
        rows = [("decode", decode, None)] + [(k, stages.get(k, 0.0), None) for k in
                                             ("detect/track", "align", "flow", "score", "intervals")]
        rows += [("end to end (a) whole file, old options", t_old, len(whole.intervals)),
                 ("end to end (b) streaming", t_new, n_iv)]
        if args.model:
            from merkit.deploy.bundle import load_model  # deferred: only with --model (torch/onnx)
            from merkit.deploy.video import predict_stream  # deferred: with --model only

            model = load_model(args.model)
            start = time.perf_counter()
            n_rows = sum(1 for _ in predict_stream(model, VideoFile(video, color="rgb"), 30.0, spot_config=new))
            rows.append(("end to end (b) + classification", time.perf_counter() - start, n_rows))
        print(f"{n} frames of {frames[0].shape[1]}x{frames[0].shape[0]} at 30 fps, {args.threads} OpenCV threads; "
              f"streaming options: {' '.join(args.set) or 'defaults'}\n")
        print("| stage | seconds | frames/s | intervals |\n|---|---:|---:|---:|")
        for name, seconds, count in rows:
            print(f"| {name} | {seconds:.2f} | {n / max(seconds, 1e-9):.1f} | {'' if count is None else count} |")
        print(f"\nspeed-up (b)/(a) end to end: {t_old / t_new:.2f}x")
        if not args.no_rss:
            minute = 1800 / n
            one = peak_rss_mb(video, new, max(1, round(minute)), args.threads)
            ten = peak_rss_mb(video, new, max(1, round(10 * minute)), args.threads)
            print(f"peak RSS, streaming (decoded video held in memory as well): 1 min {one:.0f} MiB, "
                  f"10 min {ten:.0f} MiB (frames looped)")


if __name__ == "__main__":
    main()
