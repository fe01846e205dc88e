"""Seed 003 ablations on SynthME: transfer vs no transfer, SVM (svc) vs softmax, honest LOSO, several seeds.

For each run seed: phase 1 on a SynthME macro set (disjoint identities),
then the MEGC2019-style composite LOSO over SynthME ``small`` with phase 2
trained once per fold and configuration (transfer on/off); each trained
network is scored with both heads (softmax, and an SVC on its embeddings
whose C is chosen on validation subjects drawn from the training subjects,
``inner_validation_split``). The test subject is used for nothing but
scoring. Metrics are pooled over folds per seed (MEGC2019 definition); the
table shows mean +- std over seeds and the difference of each row to the
reference row (no transfer, softmax).

CPU scale (docs/models/mobilevit_me.md states the one run): the apex crop side (``--size``) and the
epochs are reduced from the paper's 256 px / 100 epochs so three seeds fit
in a shared 2-core machine.

    .venv/bin/python -m benchmarks.studies.transfer_ablation --model mobilevit_xxs_me --size 64 --seeds 0 1 2 \\
        --macro-epochs 20 --micro-epochs 20 --macro-optimizer adam --macro-lr 0.001 --threads 1 --workers 1 \\
        --out runs/transfer_ablation.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from merkit._io import write_json
from merkit.evaluation.metrics import compute_metrics
from merkit.evaluation.protocols import create_protocol, inner_validation_split
from merkit.evaluation.runner import FoldTask, fold_seed, seed_everything
from merkit.experiments.config import DataConfig
from merkit.experiments.sources import load_table
from merkit.inputs.config import FeatureConfig
from merkit.training.methods.fitted import TorchClassifier
from merkit.training.methods.macro_transfer import MacroTransferMethod, MacroTransferOptions, fit_svc_head
from merkit.training.settings import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-root", default="data/synthme_small")
    parser.add_argument("--macro-root", default="data/synthme_macro")
    parser.add_argument("--macro-subjects", type=int, default=48, help="identities of the SynthME macro set")
    parser.add_argument("--model", default="mobilevit_s_me")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--macro-epochs", type=int, default=8)
    parser.add_argument("--micro-epochs", type=int, default=12)
    parser.add_argument("--micro-lr", type=float, default=0.001)
    parser.add_argument("--macro-optimizer", default="sgd", help="paper: sgd (momentum 0.9)")
    parser.add_argument("--macro-lr", type=float, default=0.01, help="paper: 0.01")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="processes for face detection")
    parser.add_argument("--out", default="runs/transfer_ablation.json")
    parser.add_argument("--combine", nargs="+", default=[],
                        help="only print the table of earlier --out files (one seed each, run in parallel)")
    args = parser.parse_args()
    if args.combine:
        rows: dict[str, list[dict]] = {}
        for path in args.combine:
            for name, entry in json.loads(Path(path).read_text())["summary"].items():
                rows.setdefault(name, []).extend(entry["runs"])
        print_table(rows, f"combined {args.combine}")
        return

    start = time.perf_counter()
    table, _ = load_table(DataConfig(source="synth", synth_root=args.synth_root, synth_preset="small"), args.workers)
    protocol = create_protocol("megc2019_composite", label_set="megc3")
    prepared = protocol.prepare(table)
    folds = protocol.folds(prepared)
    micro = TrainConfig(epochs=args.micro_epochs, batch_size=32, lr=args.micro_lr, optimizer="adam", weight_decay=0.01,
                        imbalance="balanced_sampler", max_shift=0.05, max_rotation=0.0, threads=args.threads,
                        device="cpu", progress=False)
    macro = {"epochs": args.macro_epochs, "batch_size": 32, "lr": args.macro_lr, "optimizer": args.macro_optimizer,
             "patience": args.macro_epochs, "threads": args.threads, "device": "cpu", "progress": False}
    options = MacroTransferOptions(head="softmax", size=args.size, macro=macro, macro_data={
        "synth_root": args.macro_root, "synth_subjects": args.macro_subjects})
    opts = {"input_size": [args.size, args.size]}
    method = MacroTransferMethod(args.model, opts, options, micro, FeatureConfig(workers=args.workers), progress=False)
    method.prepare(prepared, tuple(args.seeds))  # inputs, then phase 1 per seed (memoised in the feature cache)
    print(f"micro: {len(prepared)} samples, {len(folds)} folds; inputs {args.size}px; phase 1 of {len(args.seeds)} "
          f"seed(s) ({time.perf_counter() - start:.0f} s)", flush=True)
    no_transfer = MacroTransferMethod(args.model, opts, dataclasses.replace(options, transfer=False), micro,
                                      method.features, progress=False)
    no_transfer.inputs = method.inputs
    x = method.inputs.take(prepared["sample_key"].to_numpy())

    rows: dict[str, list[dict]] = {}
    phase1 = []
    for seed in args.seeds:
        p1 = method.phase1[seed]
        phase1.append({"seed": seed, "best_epoch": p1["best_epoch"], "val_accuracy": p1["val_accuracy"]})
        print(f"seed {seed} phase 1: best epoch {p1['best_epoch']}, macro val acc {p1['val_accuracy']:.3f}", flush=True)
        for transfer, runner in ((True, method), (False, no_transfer)):
            preds = {"softmax": [], "svc": []}
            truth = []
            t0 = time.perf_counter()
            for fold in folds:
                fs = fold_seed(seed, fold.name)
                seed_everything(fs)
                fit_idx, val_idx = inner_validation_split(prepared, fold.train_idx, 0.2, seed=fs)
                task = FoldTask(fold, seed, fit_idx, val_idx, protocol.classes)
                fitted = runner.fit(prepared, task)  # one softmax-trained network per fold, scored with both heads
                svc = fit_svc_head(fitted.model, x, prepared, task, options.svc_C, fs)
                heads = {"softmax": fitted, "svc": TorchClassifier(fitted.model, fitted.classes, args.model, opts, svc)}
                for head, clf in heads.items():
                    probs = clf.predict_proba(x[fold.test_idx])
                    preds[head] += [protocol.classes[i] for i in probs.argmax(1)]
                truth += prepared["label"].to_numpy()[fold.test_idx].tolist()
            for head, pred in preds.items():
                rep = compute_metrics(truth, pred, protocol.classes)
                name = f"{'transfer' if transfer else 'no transfer'} + {head}"
                rows.setdefault(name, []).append(
                    {"seed": seed, "uf1": rep.uf1, "uar": rep.uar, "accuracy": rep.accuracy})
                print(f"seed {seed} {name:24s} UF1 {rep.uf1:.4f} UAR {rep.uar:.4f} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)

    summary = print_table(rows, f"{args.model} at {args.size}px, seeds {args.seeds}, macro {args.macro_epochs} ep "
                                f"({args.macro_optimizer} {args.macro_lr}), micro {args.micro_epochs} ep")
    print(f"total {time.perf_counter() - start:.0f} s")
    write_json(Path(args.out), {"args": vars(args), "phase1": phase1, "summary": summary})


def print_table(rows: dict[str, list[dict]], title: str) -> dict:
    """Mean +- std over seeds per configuration, and the difference to 'no transfer + softmax'."""
    ref = rows["no transfer + softmax"]
    print(f"\n{title}; mean +- std over seeds; diff vs 'no transfer + softmax'")
    print(f"{'configuration':26s} {'UF1':>16s} {'UAR':>16s} {'dUF1':>7s} {'dUAR':>7s}  seeds")
    summary = {}
    for name, runs in rows.items():
        uf1, uar = np.array([r["uf1"] for r in runs]), np.array([r["uar"] for r in runs])
        d_uf1 = uf1.mean() - np.mean([r["uf1"] for r in ref])
        d_uar = uar.mean() - np.mean([r["uar"] for r in ref])
        summary[name] = {"uf1_mean": uf1.mean(), "uf1_std": uf1.std(ddof=1) if len(uf1) > 1 else 0.0,
                         "uar_mean": uar.mean(), "uar_std": uar.std(ddof=1) if len(uar) > 1 else 0.0, "runs": runs}
        print(f"{name:26s} {uf1.mean():.4f} +- {summary[name]['uf1_std']:.4f} {uar.mean():.4f} +- "
              f"{summary[name]['uar_std']:.4f} {d_uf1:+7.4f} {d_uar:+7.4f}  {[r['seed'] for r in runs]}")
    return summary


if __name__ == "__main__":
    main()
