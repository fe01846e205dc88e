"""Flow backends: end-point error and speed; apex estimate error; end-to-end prepare time.

Sections (each prints a markdown table; ratios are against OpenCV TV-L1 at
default settings, the reference row):

* ``warp``: a known smooth warp of a real photo (skimage astronaut, face
  region resized to 224x224; Gaussian-bump fields of 1 and 3 px peak plus a
  sub-pixel translation, 3 seeds). EPE is the mean end-point error in pixels
  over the image minus an 8-pixel border.
* ``synth`` (needs ``--synth DIR``, a SynthME output): onset -> apex flow on the
  frames as written to disk (noise, JPEG), against ``_groundtruth``'s exact
  field, on the face box (landmark box + 10 %) of ``--clips`` clips.
* ``apex`` (needs ``--synth``): |estimated - true apex| in frames for the
  motion-peak estimate (each measure) and the midpoint rule, over all clips
  of the composite (``clips.csv`` has the true apex).
* ``prepare`` (needs ``--synth``): ``prepare_features`` over the whole MEGC
  composite of that SynthME output (faces, default flow, strain at 224) into
  an empty temporary cache with ``--workers`` processes, then again (all cached).

Usage::

    python -m benchmarks.perf.flow warp
    merkit synth --preset full --seed 0 --out /tmp/synth-full --workers 2
    python -m benchmarks.perf.flow synth apex prepare --synth /tmp/synth-full [--flows tvl1_fast dis]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from merkit.motion.flow import create_flow
from merkit.motion.warp import smooth_random_flow, warp_pair

BACKENDS = [("tvl1", {}), ("tvl1_fast", {}), ("farneback", {}), ("dis", {}), ("dis", {"preset": "fast"}),
            ("dis", {"preset": "ultrafast"})]


def _label(name: str, params: dict) -> str:
    return name + "".join(f" {k}={v}" for k, v in params.items())


def _run(pairs, name, params, border=8):
    method = create_flow(name, **params)
    method(pairs[0][0], pairs[0][1])  # build the solver outside the timing
    errors = []
    start = time.perf_counter()
    flows = [method(a, b) for a, b, _ in pairs]
    seconds = time.perf_counter() - start
    for est, (_, _, true) in zip(flows, pairs):
        errors.append(float(np.linalg.norm(est - true, axis=2)[border:-border, border:-border].mean()))
    return float(np.mean(errors)), len(pairs) / seconds


def _table(title, rows):
    ref_epe, ref_speed = rows[0][1], rows[0][2]
    print(f"\n### {title}\n")
    print("| backend | EPE (px) | EPE / ref | pairs/s | speed / ref |")
    print("|---|---|---|---|---|")
    for label, epe, speed in rows:
        print(f"| {label} | {epe:.3f} | {epe / ref_epe:.2f} | {speed:.2f} | {speed / ref_speed:.1f} |")


def bench_warp(size: int = 224) -> None:
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    photo = cv2.resize(photo[0:300, 100:400], (size, size), interpolation=cv2.INTER_AREA)
    pairs = []
    for seed in range(3):
        for peak in (1.0, 3.0):
            d = smooth_random_flow(size, size, max_displacement=peak, seed=seed, translation=(0.3 * seed, -0.2 * seed))
            pairs.append(warp_pair(photo, d))
    zero = float(np.mean([np.linalg.norm(f, axis=2)[8:-8, 8:-8].mean() for _, _, f in pairs]))
    rows = [(_label(n, p), *_run(pairs, n, p)) for n, p in BACKENDS]
    _table(f"Smooth warp of a real photo ({size}x{size}, {len(pairs)} pairs; zero-flow EPE {zero:.3f} px)", rows)


def _clips(root: Path):
    with open(root / "_groundtruth" / "clips.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _composite(root: Path):
    from merkit.data.composite import MEGC2019Composite

    return MEGC2019Composite(root, gt_csv=root / "combined_3class_gt.csv", casme2_variant="raw",
                             smic_variant="raw").load()


def _gt_dir(root: Path, row) -> Path:
    return root / "_groundtruth" / row["dataset"] / row["subject"] / row["clip"]


def bench_synth(root: Path, n_clips: int) -> None:
    from merkit.data.sample import table_to_samples

    table = _composite(root)
    samples = table_to_samples(table)
    rng = np.random.default_rng(0)
    picked = [samples[i] for i in sorted(rng.choice(len(samples), size=min(n_clips, len(samples)), replace=False))]
    pairs = []
    for s in picked:
        gt = _find_gt(root, s)
        flow = np.load(gt / "flow_onset_apex.npy")
        marks = np.load(gt / "landmarks.npy")[0]
        onset = cv2.imread(s.frame_paths[s.onset_index], cv2.IMREAD_GRAYSCALE)
        apex = cv2.imread(s.frame_paths[s.apex_index], cv2.IMREAD_GRAYSCALE)
        x0, y0 = marks.min(axis=0)
        x1, y1 = marks.max(axis=0)
        pad = 0.1 * max(x1 - x0, y1 - y0)
        xa, ya = max(int(x0 - pad), 0), max(int(y0 - pad), 0)
        xb, yb = min(int(x1 + pad), onset.shape[1]), min(int(y1 + pad), onset.shape[0])
        pairs.append((onset[ya:yb, xa:xb], apex[ya:yb, xa:xb], flow[ya:yb, xa:xb]))
    zero = float(np.mean([np.linalg.norm(f, axis=2)[8:-8, 8:-8].mean() for _, _, f in pairs]))
    sizes = sorted({a.shape for a, _, _ in pairs})
    rows = [(_label(n, p), *_run(pairs, n, p)) for n, p in BACKENDS]
    _table(f"SynthME true onset->apex displacement ({len(pairs)} clips, face boxes {sizes[0]}..{sizes[-1]}; "
           f"zero-flow EPE {zero:.3f} px)", rows)


def _find_gt(root: Path, sample) -> Path:
    # _groundtruth uses the source dataset's folder names; the composite keeps them in subject/clip
    for dataset in (sample.dataset, sample.dataset.split("_")[0]):
        cand = root / "_groundtruth" / dataset / sample.subject / sample.clip
        if cand.is_dir():
            return cand
    matches = list((root / "_groundtruth").glob(f"*/{sample.subject}/{sample.clip}"))
    if len(matches) != 1:
        raise FileNotFoundError(f"no ground truth for {sample.key} under {root / '_groundtruth'}")
    return matches[0]


def bench_apex(root: Path) -> None:
    import json

    from merkit.data.sample import table_to_samples
    from merkit.motion.keyframes import estimate_apex_index

    samples = table_to_samples(_composite(root))
    truth = []
    for s in samples:
        info = json.loads((_find_gt(root, s) / "clip.json").read_text())
        truth.append(int(info["true_apex"]) if "true_apex" in info else int(info["apex"]))
    results = {}
    start = time.perf_counter()
    for measure in ("strain", "magnitude", "intensity"):
        errs = []
        t0 = time.perf_counter()
        for s, true_apex in zip(samples, truth):
            frames = s.frame_paths[s.onset_index: s.offset_index + 1]
            idx = estimate_apex_index(frames, measure=measure)
            errs.append(abs(s.frame_numbers[s.onset_index + idx] - true_apex))
        results[f"motion peak ({measure})"] = (np.asarray(errs), time.perf_counter() - t0)
    mid = [abs(s.onset + (s.offset - s.onset) // 2 - t) for s, t in zip(samples, truth)]
    results["midpoint rule"] = (np.asarray(mid), 0.0)
    print(f"\n### Apex estimate vs SynthME's true apex ({len(samples)} clips, {time.perf_counter() - start:.0f} s)\n")
    print("| method | mean abs error (frames) | median | within 3 frames | seconds |")
    print("|---|---|---|---|---|")
    for name, (errs, secs) in results.items():
        print(f"| {name} | {errs.mean():.2f} | {np.median(errs):.1f} | {(errs <= 3).mean():.1%} | {secs:.0f} |")


def bench_prepare(root: Path, workers: int, flow: str = "") -> None:
    from merkit.cache import FeatureCache
    from merkit.motion.prepare import PrepareConfig, prepare_features

    table = _composite(root)
    config = PrepareConfig(flow=flow) if flow else PrepareConfig()
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp)
        first = prepare_features(table, config, cache=cache, workers=workers)
        second = prepare_features(table, config, cache=cache, workers=workers)
    print(f"\n### prepare_features, MEGC composite of {root} ({len(table)} clips, flow {config.flow}, "
          f"size {config.size}, channels {list(config.channels)}, {workers} workers)\n")
    print(f"- cold cache: {first.summary()}")
    print(f"- warm cache: {second.summary()}")
    for key, reason in list(first.failed.items())[:5]:
        print(f"  - failed {key}: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="+", choices=["warp", "synth", "apex", "prepare"])
    parser.add_argument("--synth", type=Path, help="SynthME output folder (merkit synth --out)")
    parser.add_argument("--clips", type=int, default=12, help="clips for the synth EPE section")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--flows", nargs="*", default=[""], help="flow methods for the prepare section "
                        "(default: PrepareConfig's default)")
    args = parser.parse_args()
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads")
    for section in args.sections:
        if section != "warp" and args.synth is None:
            parser.error(f"section {section!r} needs --synth DIR")
        if section == "warp":
            bench_warp()
        elif section == "synth":
            bench_synth(args.synth, args.clips)
        elif section == "apex":
            bench_apex(args.synth)
        else:
            for flow in args.flows:
                bench_prepare(args.synth, args.workers, flow)


if __name__ == "__main__":
    main()
