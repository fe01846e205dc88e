"""Can MOL's recognition path fit its own training set? Training data only, one fold.

Trains the amplitude ladder's MOL entry (2-frame onset + apex clips, 64 px; ``bench_amplitude_ladder.py``)
on the training subjects of the first composite LOSO fold of a ladder rung and prints the
cross-entropy per quarter of the run and the accuracy on those same training videos. No test
subject is scored, so nothing here can select anything on a test subject. ``--probe`` instead
scores a linear probe (logistic regression, C = 0.01) on the apex - onset pixel differences of
the same 64 px crops under leave-one-subject-out.

    python benchmarks/bench_mol_train_fit.py --out /tmp/ladder --rung 8 [--lr 1e-3] [--steps 300]
        [--lambda-ldm 0] [--variant base|nodrop|zero_pe] [--probe]

``--out`` is the ladder's output folder (its trees and cache are reused).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import bench_amplitude_ladder as ladder  # noqa: E402
from bench_ladder_train_fit import first_fold_fit  # noqa: E402

import merkit.models as models  # noqa: E402
from merkit.training.methods.clip_training import clip_batch  # noqa: E402

ENTRY = "MOL (onset + apex, landmark head)"


def zero_fcc_embeddings(create):
    """``create_model`` whose FCC positional embeddings and mixer biases (the code's N(0, 1) init) start at 0."""
    def wrapped(*args, **kwargs):
        model = create(*args, **kwargs)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "pos_embed" in name or ("mixer" in name and name.endswith(".bias")):
                    p.zero_()
        return model
    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rung", type=float, default=8.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lambda-ldm", type=float, default=0.1)
    parser.add_argument("--variant", choices=["base", "nodrop", "zero_pe"], default="base")
    parser.add_argument("--probe", action="store_true")
    args = parser.parse_args()
    raw = ladder.build(args.out, args.rung, ENTRY, [0], 1, extra={
        "method": {"options": {"lambda_ldm": args.lambda_ldm}}, "train": {"lr": args.lr, "steps": args.steps}})
    if args.variant == "nodrop":
        raw["model"]["options"]["drop_rate"] = 0.0
    if args.variant == "zero_pe":
        models.create_model = zero_fcc_embeddings(models.create_model)
    method, table, y, train, fitted, _ = first_fold_fit(raw, 0, fit=not args.probe)
    subjects = table["subject_key"].to_numpy()
    if args.probe:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import f1_score
        from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict

        x, _, _ = clip_batch(method.inputs.take(table["sample_key"].to_numpy()), [0] * len(table), 64, None)
        diff = (x[:, 1] - x[:, 0]).reshape(len(x), -1).numpy()
        pred = cross_val_predict(LogisticRegression(C=0.01, max_iter=2000), diff, y, groups=subjects,
                                 cv=LeaveOneGroupOut())
        print(f"rung {args.rung:g}x: linear probe on apex - onset, LOSO UF1 {f1_score(y, pred, average='macro'):.3f}")
        return
    ce = np.array([p["ce"] for p in method.histories[-1][2].parts])
    quarters = [round(float(q.mean()), 3) for q in np.array_split(ce, 4)]
    probs = fitted.predict_proba(method.inputs.take(table["sample_key"].to_numpy()[train]))
    print(f"rung {args.rung:g}x {args.variant} lr {args.lr:g} steps {args.steps} lambda_ldm {args.lambda_ldm:g}: "
          f"CE by quarter {quarters}, training accuracy {(probs.argmax(1) == y[train]).mean():.3f} "
          f"(majority class {np.bincount(y[train]).max() / len(train):.3f})")


if __name__ == "__main__":
    main()
