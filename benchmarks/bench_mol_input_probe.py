"""What do MOL's raw gray frames carry about the class? Linear probes on the MOL preparation, composite LOSO.

MOL (seed 001) classifies raw aligned gray clips; it must find the motion
itself (its flow head is there to teach it). This probe asks how much of
SynthME's class is *linearly* readable from what MOL sees, at MOL's input
sizes, with every subject of the MEGC2019-style composite held out in turn:

* ``apex``: the apex frame;
* ``diff``: apex minus onset, the raw intensity change;
* ``diff_registered``: the same after removing the global translation of the
  apex frame (OpenCV phase correlation, sub-pixel), i.e. without head motion;
* ``flow``: TV-L1 (OpenCV defaults) onset -> apex with the median vector
  subtracted (global motion removed, as the flow pipelines do);
* ``flow_raw``: the same flow without the median subtracted.

Frames come from the MOL preparation (:mod:`merkit.training.mol_data`: every
frame aligned with the onset transform, 144 x 144), area-resized so the
central crop is ``size`` px (the 144 -> 128 ratio of MOL's crop); every
feature is area-pooled to 16 x 16 (per channel), standardised and fed to
a balanced logistic regression. Every ``C`` is reported; none is selected.

    .venv/bin/python benchmarks/bench_mol_input_probe.py --synth-root data/synthme_small --cache runs/cache
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

POOL = 16


def _views(video, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Onset and apex frames, float32, resized so the centre ``size`` crop matches MOL's 128/144 crop."""
    side = video.frames.shape[-1] * size // 128
    off = (side - size) // 2
    out = []
    for index in (video.onset_index, video.apex_index):
        frame = cv2.resize(video.frames[index].astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
        out.append(frame[off : off + size, off : off + size])
    return out[0], out[1]


def _pool(x: np.ndarray) -> np.ndarray:
    return cv2.resize(x, (POOL, POOL), interpolation=cv2.INTER_AREA).ravel()


def _register(onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, float]:
    """Apex frame shifted back onto the onset by phase correlation; returns it and the shift length (px)."""
    window = cv2.createHanningWindow(onset.shape[::-1], cv2.CV_32F)
    # copies: OpenCV 5.0's phaseCorrelate multiplies its inputs by the window in place
    (dx, dy), _ = cv2.phaseCorrelate(onset.copy(), apex.copy(), window)
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    back = cv2.warpAffine(apex, shift, onset.shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return back, float(np.hypot(dx, dy))


def features(videos, size: int, flow_method) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every probe's ``(N, F)`` features for one size, and the global shift of each sample (px)."""
    from merkit.motion import compute_flow

    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("apex", "diff", "diff_registered", "flow", "flow_raw")}
    shifts = []
    for video in videos:
        onset, apex = _views(video, size)
        rows["apex"].append(_pool(apex))
        rows["diff"].append(_pool(apex - onset))
        back, shift = _register(onset, apex)
        shifts.append(shift)
        rows["diff_registered"].append(_pool(back - onset))
        flow = compute_flow(onset.round().astype(np.uint8), apex.round().astype(np.uint8), flow_method)
        rows["flow_raw"].append(_pool(flow))
        rows["flow"].append(_pool(flow - np.median(flow.reshape(-1, 2), axis=0)))
    return {k: np.stack(v) for k, v in rows.items()}, np.array(shifts)


def main() -> None:
    from bench_apex_probe import _loso  # the same subject-held-out linear probe (this folder is on sys.path)

    from merkit.evaluation.protocols import create_protocol
    from merkit.motion import create_flow
    from merkit.training.config import DataConfig
    from merkit.training.experiment import load_table
    from merkit.training.mol_data import MOLDataConfig, prepare_videos

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-root", default="data/synthme_small")
    parser.add_argument("--cache", default="", help="feature cache of the 144x144 MOL preparation (reused if there)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--C", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    cv2.setNumThreads(1)

    start = time.perf_counter()
    protocol = create_protocol("megc2019_composite", label_set="megc3")
    table, _ = load_table(DataConfig(source="synth", synth_root=args.synth_root, synth_preset="small"), 1)
    prepared = protocol.prepare(table)
    videos = prepare_videos(prepared, MOLDataConfig(num_frames=8, max_clips=2, flow="tvl1", cache_dir=args.cache),
                            workers=args.workers).take(prepared["sample_key"].to_numpy())
    labels = prepared["label"].to_numpy()
    folds = [(f.train_idx, f.test_idx) for f in protocol.folds(prepared)]
    print(f"MOL preparation ready in {time.perf_counter() - start:.0f} s: {len(videos)} videos, {len(folds)} folds")
    print(f"linear probe (standardise + balanced logistic regression) on {POOL}x{POOL}-pooled features, "
          "every subject held out in turn")
    print(f"{'size':>4s} {'probe':16s} {'C':>6s} {'UF1':>6s} {'UAR':>6s}")
    flow_method = create_flow("tvl1")
    for size in args.sizes:
        feats, shifts = features(videos, size, flow_method)
        for name, x in feats.items():
            for c in args.C:
                rep = _loso(x, labels, folds, protocol.classes, c)
                print(f"{size:4d} {name:16s} {c:6g} {rep.uf1:6.3f} {rep.uar:6.3f}", flush=True)
        print(f"{size:4d} global onset->apex shift (phase correlation): median {np.median(shifts):.2f} px, "
              f"p90 {np.quantile(shifts, 0.9):.2f} px")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
