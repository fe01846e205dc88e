"""How learnable are seed 003's inputs? HOG + logistic regression on ``gray_apex_masked`` crops, subject-held-out.

A sanity reference for the MobileViT numbers: the same eye-masked, aligned
grayscale crops the network sees, described by HOG (scikit-image) and
classified by a linear model (scikit-learn), every subject held out in
turn. Rows:

* macro: the SynthME macro set, leave-one-subject-out (``GroupKFold`` over
  its identities);
* micro: the apex frames of SynthME ``small`` under the MEGC2019-style
  composite LOSO (the ablation's protocol).

Every ``C`` of the list is reported; none is selected (no row is tuned on
test subjects).

    .venv/bin/python benchmarks/bench_apex_probe.py --size 64
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _hog(x: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    return np.stack([hog(img[0], orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)) for img in x])


def _loso(features: np.ndarray, labels: np.ndarray, folds, classes, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from merkit.evaluation.metrics import compute_metrics

    pred = np.empty(len(labels), dtype=object)
    for train_idx, test_idx in folds:
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, class_weight="balanced"))
        pred[test_idx] = clf.fit(features[train_idx], labels[train_idx]).predict(features[test_idx])
    return compute_metrics(list(labels), list(pred), classes)


def main() -> None:
    from merkit.evaluation.protocols import create_protocol
    from merkit.training.apex_gray import GrayApexConfig, GrayApexProvider
    from merkit.training.config import DataConfig
    from merkit.training.experiment import load_table
    from merkit.training.methods.macro_data import MacroDataConfig, load_macro_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-root", default="data/synthme_small")
    parser.add_argument("--macro-root", default="data/synthme_macro")
    parser.add_argument("--macro-subjects", type=int, default=48)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--C", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    args = parser.parse_args()

    start = time.perf_counter()
    provider = GrayApexProvider(GrayApexConfig(size=args.size))
    protocol = create_protocol("megc2019_composite", label_set="megc3")
    macro_table = load_macro_table(MacroDataConfig(synth_root=args.macro_root, synth_subjects=args.macro_subjects))
    macro_x, kept = provider.for_images(macro_table)
    subjects = kept["subject_key"].to_numpy()
    macro_folds = [(np.flatnonzero(subjects != s), np.flatnonzero(subjects == s)) for s in sorted(set(subjects))]
    table, _ = load_table(DataConfig(source="synth", synth_root=args.synth_root, synth_preset="small"), 1)
    prepared = protocol.prepare(table)
    micro_x = provider.for_samples(prepared).take(prepared["sample_key"].to_numpy())
    micro_folds = [(f.train_idx, f.test_idx) for f in protocol.folds(prepared)]
    rows = [("macro", _hog(macro_x.take(kept["image_key"])), kept["label"].to_numpy(), macro_folds),
            ("micro apex", _hog(micro_x), prepared["label"].to_numpy(), micro_folds)]
    print(f"HOG + logistic regression on {args.size} px gray_apex_masked crops, every subject held out in turn")
    print(f"{'set':12s} {'samples':>7s} {'subjects':>8s} {'C':>6s} {'UF1':>6s} {'UAR':>6s}")
    for name, feats, labels, folds in rows:
        for c in args.C:
            rep = _loso(feats, labels, folds, protocol.classes, c)
            print(f"{name:12s} {len(labels):7d} {len(folds):8d} {c:6g} {rep.uf1:6.3f} {rep.uar:6.3f}", flush=True)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
