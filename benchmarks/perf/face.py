"""Face pipeline speed on 2 CPU cores: detection, 68 landmarks, alignment, whole clips.

Run:  .venv/bin/python -m benchmarks.perf.face [--repeats 20]

Frames: skimage's astronaut (512x512, 88 px face) and the same photo placed on a
640x480 canvas (the CASME II / SAMM frame size). Reference for each step is the
raw dlib / dlib.get_face_chip call, so the ratio is merkit's overhead.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (model loading, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    cv2.setNumThreads(2)

    import dlib
    from skimage import data

    from merkit.face import AlignConfig, DlibBackend, align_clip, compute_alignment, detect_face
    from merkit.face.backends import face_models_dir

    astronaut = data.astronaut()
    canvas = np.full((480, 640, 3), 40, np.uint8)
    canvas[:, 64:576] = cv2.resize(astronaut, (512, 480))
    hog = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(face_models_dir() / "shape_predictor_68_face_landmarks.dat"))
    rows = []
    for name, img in [("512x512", astronaut), ("640x480", canvas)]:
        b0, b1 = DlibBackend(upsample=0), DlibBackend(upsample=1)
        ref_det0 = _median_ms(lambda: hog(img, 0), args.repeats)
        rows.append((f"detect HOG upsample 0, {name}", _median_ms(lambda: b0.detect(img), args.repeats), ref_det0,
                     "dlib detector(img, 0)"))
        ref_det1 = _median_ms(lambda: hog(img, 1), max(3, args.repeats // 4))
        rows.append((f"detect HOG upsample 1, {name}", _median_ms(lambda: b1.detect(img), max(3, args.repeats // 4)),
                     ref_det1, "dlib detector(img, 1)"))
        box = b0.detect(img)[0]
        rect = dlib.rectangle(int(box.left), int(box.top), int(box.right) - 1, int(box.bottom) - 1)
        rows.append((f"68 landmarks, {name}", _median_ms(lambda: b0.landmarks(img, box), args.repeats * 5),
                     _median_ms(lambda: sp(img, rect), args.repeats * 5), "dlib shape_predictor"))
        lm = detect_face(img, b0).landmarks
        shape = sp(img, rect)
        for size in (224, 128, 28):
            for mode in ("eye_line", "similarity"):
                cfg = AlignConfig(mode=mode, size=size, color="rgb")
                alignment = compute_alignment(lm, img.shape, cfg)
                ours = _median_ms(lambda: alignment.warp(img), args.repeats * 5)
                ref = _median_ms(lambda: dlib.get_face_chip(img, shape, size=size, padding=0.25), args.repeats * 5)
                rows.append((f"warp {mode} {size}px (area), {name}", ours, ref, "dlib.get_face_chip"))
        clip = np.stack([img] * 30)
        total = _median_ms(lambda: align_clip(clip, size=128, backend=b0), max(3, args.repeats // 4))
        rows.append((f"align_clip 30 frames -> 128 gray, per frame, {name}", total / 30, None, ""))
    print(f"{'step':58s} {'merkit ms':>10s} {'ref ms':>8s} {'ratio':>6s}  reference")
    for step, ours, ref, ref_name in rows:
        ratio = f"{ours / ref:6.2f}" if ref else "     -"
        ref_s = f"{ref:8.2f}" if ref else "       -"
        print(f"{step:58s} {ours:10.2f} {ref_s} {ratio}  {ref_name}")


if __name__ == "__main__":
    main()
