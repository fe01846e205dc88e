"""SynthME generation time per preset, against its time budget and an encode-and-write floor.

Usage:
    .venv/bin/python -m benchmarks.perf.synth --preset full --workers 2

Prints wall time, frames written, ms per frame, the ratio to the preset's budget (``full`` must
generate in under 300 s on 2 cores, ``small``, the demo's, in 60 s) and the ratio to a floor: encoding and
atomically writing the same number of frames (same sizes and formats) without rendering.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from merkit._io import write_bytes
from merkit.synth import generate, get_preset

BUDGET_S = {"tiny": 10.0, "small": 60.0, "full": 300.0}


def _floor(out: Path, frames: dict[str, int], preset: str, workers: int) -> float:
    """Seconds to encode and atomically write the same frames, split over ``workers`` (ideal speed-up)."""
    cfg = get_preset(preset)
    start = time.perf_counter()
    for source, n in frames.items():
        cam = cfg.sources[source].camera
        w, h = cam.frame_size
        img = np.full((h, w) if cam.grayscale else (h, w, 3), 128, np.uint8)
        ext = ".jpg" if cam.image_format == "jpg" else ".bmp"
        params = [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg_quality] if ext == ".jpg" else []
        for i in range(n):
            write_bytes(out / source / f"{i // 100}" / f"{i}{ext}", cv2.imencode(ext, img, params)[1].tobytes())
    return (time.perf_counter() - start) / workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="full", choices=sorted(BUDGET_S))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    try:
        start = time.perf_counter()
        m = generate(tmp / "synth", args.preset, args.seed, workers=args.workers)
        seconds = time.perf_counter() - start
        frames: dict[str, int] = {}
        for r in m.clips:
            frames[r["dataset"]] = frames.get(r["dataset"], 0) + r["last_frame"] - r["first_frame"] + 1
        size = sum(p.stat().st_size for p in (tmp / "synth").rglob("*") if p.is_file())
        floor = _floor(tmp / "floor", frames, args.preset, args.workers)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = sum(frames.values())
    print(f"preset {args.preset}, seed {args.seed}, workers {args.workers}: {m.n_clips} clips, {n} frames, "
          f"{size / 1e6:.0f} MB")
    print("| preset | workers | clips | frames | wall s | ms/frame | budget s | ratio to budget | "
          "encode+write floor s | ratio to floor |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.preset} | {args.workers} | {m.n_clips} | {n} | {seconds:.1f} | {1000 * seconds / n:.2f} | "
          f"{BUDGET_S[args.preset]:.0f} | {seconds / BUDGET_S[args.preset]:.2f} | {floor:.1f} | "
          f"{seconds / floor:.1f} |")


if __name__ == "__main__":
    main()
