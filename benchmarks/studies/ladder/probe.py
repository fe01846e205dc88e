"""How much of a SynthME expression can a classifier see in one apex image? LOSO probes, per rung.

The amplitude ladder's apex-image methods (ResNet-18 RGB apex, seeds 002 and 003) sit at chance on
rungs where the flow methods do not. This script measures the information ceiling of their input
with fixed, untuned linear probes under the same composite leave-one-subject-out split (3 classes):

* ``hog``: HOG of the aligned grey apex (9 orientations, cells of size/16 px, at least 4) + a
  standardised ridge classifier (alpha = 1, classes balanced; closed form, no iteration to tune);
* ``hog_diff``: HOG of the apex minus HOG of the onset of the same clip (the onset is the
  subject's neutral face; an apex-only model never sees it);
* ``hog_subject``: HOG of the apex minus the mean apex HOG of that subject's clips, a transductive
  per-subject centring that uses no label (the test subject's own clips are centred on themselves);
* ``hog_masked``: HOG of seed 003's own input, the eye-masked grey apex (``gray_apex_masked``);
* ``hog_seed002``: HOG of seed 002's own fine-tuning input, the grey apex with its mask
  (``--seed002-mask``, default ``"mer"``; :mod:`merkit.inputs.masked_face_flow`, the
  ladder's ``tvl1_fast`` flow settings, so its feature cache is reused); ``masked`` is the share
  of its pixels that are 0 (masked; a face pixel is almost never black).

Nothing is trained on a test subject; every probe is fixed before it is scored. The aligned crops
come from the ladder's feature pipeline (``rgb_apex``: eye-line alignment on the onset, one
transform for onset and apex) at each ``--size``.

    python -m benchmarks.studies.ladder.probe --out /tmp/ladder --rungs 1 4 8 --sizes 32 64 128 [--creases 0.1] \\
        [--seed002-mask eyes]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from merkit.evaluation.metrics import compute_metrics
from merkit.experiments.config import config_from_dict
from merkit.experiments.sources import load_table
from merkit.inputs.gray_apex import GrayApexConfig, GrayApexProvider
from merkit.inputs.masked_face_flow import MaskedFaceFlowConfig, prepare_masked_face_flows

from . import run as ladder
from .train_fit import CLASSES

ENTRY = "ResNet-18 (RGB apex)"


def aligned_onset_apex(table, size: int) -> np.ndarray:
    """``(N, 2, size, size)`` grey onset and apex crops, aligned as the ``rgb_apex`` features are."""
    from merkit.data.frames import ImageFiles
    from merkit.data.sample import table_to_samples
    from merkit.face import AlignConfig, align_clip

    out = []
    for sample in table_to_samples(table):
        files = [sample.frame_paths[sample.onset_index], sample.frame_paths[sample.apex_index]]
        source = ImageFiles(files, fps=sample.fps, name=sample.key, color="rgb")
        out.append(align_clip(source, AlignConfig(mode="eye_line", size=size, color="gray")).frames)
    return np.stack(out).astype(np.float32) / 255.0


def hog_of(images: np.ndarray, size: int) -> np.ndarray:
    from skimage.feature import hog

    cell = max(4, size // 16)
    return np.stack([hog(im, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2)) for im in images])


def loso_uf1(x: np.ndarray, y: np.ndarray, subjects: np.ndarray) -> float:
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1.0, class_weight="balanced"))
    pred = cross_val_predict(probe, x, y, groups=subjects, cv=LeaveOneGroupOut())
    return compute_metrics(y, pred, list(range(len(CLASSES)))).uf1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the ladder's output folder (its trees are reused)")
    parser.add_argument("--rungs", nargs="*", type=float, default=[1.0, 4.0, 8.0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[32, 64, 128])
    parser.add_argument("--creases", type=float, default=0.0, help="SynthME appearance_contrast of the trees")
    parser.add_argument("--seed002-mask", default="mer", help="mask of the hog_seed002 column: mer, eyes or none")
    args = parser.parse_args()
    print("| rung | creases | size | hog | hog_diff | hog_subject | hog_masked | hog_seed002 | masked |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rung in args.rungs:
        creases = {"data": {"synth_overrides": {"appearance_contrast": args.creases}}} if args.creases else None
        raw = ladder.build(args.out, rung, ENTRY, [0], 1, extra=creases)
        cfg = config_from_dict(raw)
        table, _ = load_table(cfg.data)
        table = table[table["label"].isin(CLASSES)].reset_index(drop=True)
        y = np.array([CLASSES.index(label) for label in table["label"]])
        subjects = table["subject_key"].to_numpy()
        for size in args.sizes:
            frames = aligned_onset_apex(table, size)
            onset, apex = hog_of(frames[:, 0], size), hog_of(frames[:, 1], size)
            centred = apex.copy()
            for s in np.unique(subjects):
                centred[subjects == s] -= apex[subjects == s].mean(0)
            masked = GrayApexProvider(GrayApexConfig(size=size)).for_samples(table).take(table["sample_key"].to_numpy())
            masked = hog_of(masked[:, 0], size)
            seed002 = prepare_masked_face_flows(table, MaskedFaceFlowConfig(
                size=size, flow=cfg.features.flow, mask=args.seed002_mask, cache_dir=cfg.features.cache_dir)).faces
            masked_share = float((seed002 == 0).mean())
            seed002 = hog_of(seed002.astype(np.float32) / 255.0, size)
            scores = [loso_uf1(f, y, subjects) for f in (apex, apex - onset, centred, masked, seed002)]
            print(f"| {rung:g}x | {args.creases:g} | {size} | " + " | ".join(f"{s:.3f}" for s in scores)
                  + f" | {masked_share:.3f} |", flush=True)


if __name__ == "__main__":
    main()
