"""Why do the SVM baselines score at chance on SynthME? Bi-WOOF and LBP-TOP on known motion.

For every composite sample of a SynthME tree this rebuilds, in the same
aligned face crop the engine uses (dlib eye-line alignment on the onset
frame, ``features.face_size``), three versions of the motion:

* the class action units only (``clip.json`` blobs, noise-free),
* the full ground-truth onset -> apex field (head motion, blinks, habits),
* the engine's prepared TV-L1 flow (what ``merkit train`` sees),

and scores Bi-WOOF + SVM on each under every global-motion model, and
LBP-TOP + SVM on noise-free clips that move by the class AUs only, by the
full ground truth, and on the real frames. The classifier is the engine's
(StandardScaler -> linear SVC, class_weight="balanced", one C), under LOSO
over subject keys (= MEGC2019 composite folds). The reference row is the
class-AU-only field: the ratio says how much of what the descriptor can
see survives the nuisance motion.

    .venv/bin/python benchmarks/bench_baseline_diagnosis.py --synth SYNTH_ROOT --cache CACHE_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def _loso_uf1(x: np.ndarray, y: np.ndarray, groups: np.ndarray, c: float) -> tuple[float, float]:
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    def make():
        return make_pipeline(StandardScaler(), SVC(kernel="linear", C=c, class_weight="balanced"))

    pred = np.zeros(len(y), dtype=int)
    for g in np.unique(groups):
        test = groups == g
        pred[test] = make().fit(x[~test], y[~test]).predict(x[test])
    train_acc = float((make().fit(x, y).predict(x) == y).mean())
    return float(f1_score(y, pred, average="macro")), train_acc


def _to_crop(field: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """A forward field on the frame grid, resampled into the crop and its vectors mapped by the crop's linear part."""
    warped = np.dstack([cv2.warpAffine(field[..., c], matrix, (size, size), flags=cv2.INTER_LINEAR) for c in range(2)])
    return (warped @ matrix[:, :2].T).astype(np.float32)


def main() -> None:
    from merkit.cache import FeatureCache
    from merkit.data.frames import ImageFiles
    from merkit.data.sample import table_to_samples
    from merkit.evaluation.protocols import create_protocol
    from merkit.face import align_clip
    from merkit.motion.descriptors import biwoof, lbp_top
    from merkit.motion.global_motion import remove_global_motion
    from merkit.motion.prepare import load_features
    from merkit.synth.actions import Blob, dense_field
    from merkit.synth.clip import warp_by_flow
    from merkit.training.config import config_from_dict
    from merkit.training.experiment import load_table
    from merkit.training.features import SampleFeatureProvider, prepare_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", required=True, help="SynthME root (generated if missing)")
    parser.add_argument("--cache", required=True, help="feature cache folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--C", type=float, default=1.0, help="SVM C (one value: the diagnosis selects nothing)")
    parser.add_argument("--skip-lbptop", action="store_true", help="Bi-WOOF only (LBP-TOP takes minutes)")
    parser.add_argument("--shuffles", type=int, default=0,
                        help="also score Bi-WOOF (prepared flow, affine) on this many label permutations: chance level")
    args = parser.parse_args()

    cfg = config_from_dict({"data": {"synth_root": args.synth}, "features": {"workers": args.workers,
                                                                            "cache_dir": args.cache}})
    table, _ = load_table(cfg.data, args.workers)
    table = create_protocol("megc2019_composite").prepare(table)
    provider = SampleFeatureProvider(cfg.features, progress=False)
    provider.many(table, ["flow_uv_strain"])  # prepares (and caches) the raw flow
    pcfg, cache = prepare_config(cfg.features), FeatureCache(args.cache)
    y = np.unique(table["label"].to_numpy(), return_inverse=True)[1]
    groups = table["subject_key"].to_numpy()
    fields: dict[str, list] = {"class AUs only (ground truth)": [], "full ground truth": [], "prepared TV-L1 flow": []}
    clips: dict[str, list] = {"class AUs only (noise-free clip)": [], "full ground truth (noise-free clip)": []}
    alphas = np.sin(np.linspace(0, np.pi, 10))  # onset -> apex -> offset, 10 frames as after TIM
    global_shift = []
    for s in table_to_samples(table):
        folder = Path(args.synth) / "_groundtruth" / s.dataset / s.subject / s.clip
        info = json.loads((folder / "clip.json").read_text())
        full = np.load(folder / "flow_onset_apex.npy")
        au = dense_field([Blob((b[0], b[1]), (b[2], b[3]), b[4]) for b in info["au_blobs"]], full.shape[:2])
        matrix = align_clip(ImageFiles([s.frame_paths[s.onset_index]], fps=s.fps, name=s.key), pcfg.align_config(),
                            reference_index=0, cache=cache).matrix
        prepared = load_features(s, pcfg, cache)[..., :2].astype(np.float32)
        global_shift.append(float(np.hypot(*np.median(prepared.reshape(-1, 2), axis=0))))
        for name, f in zip(fields, (au, full, None)):
            fields[name].append(prepared if f is None else _to_crop(f, matrix, pcfg.size))
        if not args.skip_lbptop:
            onset = cv2.imread(str(folder / "onset_clean.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
            for name, f in zip(clips, (au, full)):
                frames = [cv2.warpAffine(warp_by_flow(onset, (a * f).astype(np.float32)), matrix,
                                         (pcfg.size, pcfg.size), flags=cv2.INTER_AREA) for a in alphas]
                clips[name].append(lbp_top(np.stack(frames), length=None))

    print(f"{len(y)} samples, {len(np.unique(groups))} subject keys; median global translation of the prepared "
          f"flow {np.median(global_shift):.2f} px (p10 {np.percentile(global_shift, 10):.2f}, "
          f"p90 {np.percentile(global_shift, 90):.2f}) on {pcfg.size} px crops\n")
    print("| descriptor | motion | global motion removed | LOSO UF1 | ratio to class-AU row | train acc |")
    print("|---|---|---|---:|---:|---:|")
    ref = None
    for name, values in fields.items():
        for model in ("none", "median", "affine"):
            x = np.stack([biwoof(remove_global_motion(f, model)) for f in values])
            uf1, acc = _loso_uf1(x, y, groups, args.C)
            ref = uf1 if ref is None else ref
            print(f"| Bi-WOOF | {name} | {model} | {uf1:.3f} | {uf1 / ref:.2f} | {acc:.2f} |")
    if args.shuffles:
        x = np.stack([biwoof(remove_global_motion(f, "affine")) for f in fields["prepared TV-L1 flow"]])
        chance = [_loso_uf1(x, np.random.default_rng(k).permutation(y), groups, args.C)[0] for k in range(args.shuffles)]
        print(f"\nBi-WOOF (prepared flow, affine) on {args.shuffles} label permutations: LOSO UF1 mean "
              f"{np.mean(chance):.3f}, std {np.std(chance):.3f}, max {np.max(chance):.3f}\n")
    if not args.skip_lbptop:
        clips["real frames (engine)"] = list(provider.many(table, ["lbptop"])["lbptop"].values)
        ref = None
        for name, values in clips.items():
            uf1, acc = _loso_uf1(np.stack(values), y, groups, args.C)
            ref = uf1 if ref is None else ref
            print(f"| LBP-TOP | {name} | - | {uf1:.3f} | {uf1 / ref:.2f} | {acc:.2f} |")


if __name__ == "__main__":
    main()
