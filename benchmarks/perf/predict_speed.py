"""Per-frame speed of spotting on a 640x480 30 fps face video: the earlier whole-file pipeline versus the streaming one.

Generates (or takes ``--video``) a 640x480 30 fps mp4 of a SynthME face (a long video of the
``full`` camera preset, 320x240, resized to 640x480, H.264 through PyAV), then in one run:

* **(a) earlier**: :func:`merkit.motion.spotting.spot_video` with the options as they were before
  the per-frame scorer (``SpotConfig(crops="triplet", detect_mode="full")``: the video decoded
  three times (frame count, track, scores), three warps and two flows per frame and scale,
  detection on the whole frame);
* **(b) streaming**: :class:`merkit.motion.spotting.StreamingSpotter` fed by the decoder, with the
  default options (``crops="per_frame"``, ``detect_mode="near_last"``, ``realign_px=8``; ``--set``
  changes them);
* **(c)** :func:`spot_video` with the same options as (b) (what ``merkit predict FILE`` runs).

Per stage (each stage's own time over the decoded frames, for (a) and (b) with their ratio):
decode (PyAV, grey), detect/track (:class:`~merkit.face.track.FaceTracker`), align (warps into
the crop, ROI pixels), flow (DIS on crops), score (head motion removed, ROI pooling), intervals
(online noise level, peaks, scale merge; for (a) too, the whole-file peaks being a negligible
cost). Every figure is given twice: frames/s of wall time, and frames per CPU-second of the process
(all its threads: OpenCV runs ``--threads`` of them), which other jobs sharing the machine disturb
less; on a quiet machine the wall figure is the throughput. Classification
of the few intervals is :func:`merkit.deploy.video.predict_stream`'s: with ``--model BUNDLE`` it
is timed end to end as its own row. Peak RSS (VmHWM of a fresh process decoding and
streaming) at 1 and 10 minutes of video: the 10 minutes are the 1-minute video decoded ten times
in a row through one spotter (the face jumps back at each seam, like a cut).

Usage::

    python -m benchmarks.perf.predict_speed                    # 60 s generated video, 2 OpenCV threads
    python -m benchmarks.perf.predict_speed --video face.mp4 --set flow_preset=ultrafast --no-rss
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
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
    cfg = LongVideoConfig(n_subjects=1, n_frames=n, camera_preset="full", n_micro=max(1, n // 200),
                          n_macro=max(1, n // 450), n_blinks=max(1, n // 150), n_head_moves=max(1, n // 300))
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
    """Wall and process CPU seconds spent inside wrapped callables, by stage (outermost call only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self._depth: dict[str, int] = {}

    def wrap(self, stage: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            if self._depth.get(stage):
                return fn(*args, **kwargs)
            self._depth[stage] = 1
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth[stage] = 0
                spent = self.seconds.setdefault(stage, [0.0, 0.0])
                spent[0] += time.perf_counter() - wall
                spent[1] += time.process_time() - cpu
        return timed


def _timed(fn: Callable, *args, **kwargs) -> tuple[list[float], object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return [time.perf_counter() - wall, time.process_time() - cpu], out


def stream_stages(frames: list[np.ndarray], config: SpotConfig) -> tuple[dict[str, list[float]], int]:
    """Each stage's [wall, cpu] seconds in one streaming pass over decoded frames; and the number of intervals."""
    spotter = StreamingSpotter(config, 30.0)
    clock = _Clock()
    tracker, scorer = spotter._tracker, spotter._scorer
    tracker.push = clock.wrap("detect/track", tracker.push)
    tracker.close = clock.wrap("detect/track", tracker.close)
    scorer._prepare = clock.wrap("align", scorer._prepare)
    scorer._triplet = clock.wrap("align", scorer._triplet)    # triplet: the three warps of each position
    if scorer.flow is not None:
        scorer.flow = clock.wrap("flow", scorer.flow)
    scorer.push = clock.wrap("scorer", scorer.push)
    scorer.close = clock.wrap("scorer", scorer.close)
    spotter._score = clock.wrap("intervals", spotter._score)
    spotter._merger.release = clock.wrap("intervals", spotter._merger.release)
    n = sum(len(spotter.push(f)) for f in frames) + len(spotter.close())
    s = clock.seconds
    total = s.pop("scorer", [0.0, 0.0])
    s["score"] = [total[i] - s.get("align", [0, 0])[i] - s.get("flow", [0, 0])[i] for i in (0, 1)]
    return s, n


def stream_end_to_end(video: Path, config: SpotConfig) -> int:
    """Decode and spot in one pass; the number of intervals."""
    spotter = StreamingSpotter(config, 30.0)
    n_iv = sum(len(spotter.push(frame)) for frame in VideoFile(video, color="gray"))
    return n_iv + len(spotter.close())


def _rss_child(video: str, config: SpotConfig, loops: int, threads: int, queue) -> None:
    cv2.setNumThreads(threads)
    spotter = StreamingSpotter(config, 30.0)
    for _ in range(loops):
        for frame in VideoFile(video, color="gray"):
            spotter.push(frame)
    spotter.close()
    queue.put((_peak_rss_mib(), spotter.n_frames, spotter.n_buffered))


def _peak_rss_mib() -> float:
    """This process's peak resident memory, MiB: VmHWM on Linux (ru_maxrss there keeps the parent's peak
    from before the exec of a spawned child), ru_maxrss elsewhere."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    # ru_maxrss counts bytes on macOS, kB elsewhere
    unit = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit


def peak_rss_mb(video: Path, config: SpotConfig, loops: int, threads: int) -> tuple[float, int, int]:
    """(peak RSS MiB, frames pushed, spotter.n_buffered) of a fresh process streaming the video ``loops`` times."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_rss_child, args=(str(video), config, loops, threads, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


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
    ap.add_argument("--set", nargs="*", default=[], help="SpotConfig options of (b) and (c), key=value")
    ap.add_argument("--model", type=Path, help="a model bundle: time merkit.deploy.video.predict_stream too")
    ap.add_argument("--no-rss", action="store_true", help="skip the 1 / 10 minute peak RSS runs")
    args = ap.parse_args(argv)
    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or make_video(Path(tmp) / "face.mp4", args.seconds)
        old = SpotConfig(crops="triplet", detect_mode="full")
        new = replace(SpotConfig(), **_parse_set(args.set))
        decode, frames = _timed(lambda: list(VideoFile(video, color="gray")))
        n = len(frames)
        stages = {"(a)": stream_stages(frames, old), "(b)": stream_stages(frames, new)}
        whole_old, result_old = _timed(spot_video, video, old)
        whole_new, result_new = _timed(spot_video, video, new)
        streamed, n_stream = _timed(stream_end_to_end, video, new)
        load = os.getloadavg()[0]

        def fps(seconds: list[float]) -> str:
            return f"{n / max(seconds[0], 1e-9):.0f} | {n / max(seconds[1], 1e-9):.0f}"

        print(f"{n} frames of {frames[0].shape[1]}x{frames[0].shape[0]} at 30 fps, {args.threads} OpenCV threads, "
              f"{os.cpu_count()} CPUs, load average {load:.1f} at the end; (b)/(c) options: "
              f"{' '.join(args.set) or 'defaults'}\n")
        print("| stage | (a) frames/s wall | (a) per CPU-s | (b) frames/s wall | (b) per CPU-s | (b)/(a) CPU |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| decode (once) | {fps(decode)} | {fps(decode)} | 1.00 |")
        for stage in ("detect/track", "align", "flow", "score", "intervals"):
            a_s, b_s = stages["(a)"][0].get(stage, [0.0, 0.0]), stages["(b)"][0].get(stage, [0.0, 0.0])
            print(f"| {stage} | {fps(a_s)} | {fps(b_s)} | {a_s[1] / max(b_s[1], 1e-9):.2f} |")
        print("\n| end to end (decode included) | frames/s wall | per CPU-s | intervals |\n|---|---:|---:|---:|")
        rows = [("(a) spot_video, earlier options", whole_old, len(result_old.intervals)),
                ("(b) StreamingSpotter", streamed, n_stream),
                ("(c) spot_video, options of (b)", whole_new, len(result_new.intervals))]
        if args.model:
            from merkit.deploy.bundle import load_model  # deferred: only with --model (torch/onnx)
            from merkit.deploy.video import predict_stream  # deferred: with --model only

            model = load_model(args.model)
            spent, n_rows = _timed(lambda: sum(1 for _ in predict_stream(model, VideoFile(video, color="rgb"), 30.0,
                                                                        spot_config=new)))
            rows.append(("(b) + classification (predict_stream)", spent, n_rows))
        for name, seconds, count in rows:
            print(f"| {name} | {fps(seconds)} | {count} |")
        print(f"\nspeed-up end to end, CPU: (b)/(a) {whole_old[1] / streamed[1]:.2f}x, "
              f"(c)/(a) {whole_old[1] / whole_new[1]:.2f}x; wall: (b)/(a) {whole_old[0] / streamed[0]:.2f}x")
        if not args.no_rss:
            minute = max(1, round(1800 / n))
            for loops in (minute, 10 * minute):
                rss, pushed, held = peak_rss_mb(video, new, loops, args.threads)
                print(f"peak RSS, (b) decoding and streaming {pushed} frames ({pushed / 1800:.0f} min): "
                      f"{rss:.0f} MiB; spotter.n_buffered {held}")


if __name__ == "__main__":
    main()
