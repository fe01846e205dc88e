"""Seed 003 nested grid search, measured once: wall time, the settings chosen per fold, and what the search saw.

For each outer fold of the MEGC2019-style composite LOSO over SynthME
``small`` (the first ``--folds`` folds, in the protocol's order), the
phase-2 settings (batch size x learning rate x epochs) are chosen by
:class:`~merkit.training.grid_search.GridSearchFitPredict` on inner
subject folds of the training subjects, the winner is retrained on all
training subjects and predicts the test subject.

Two checks that the test subject is never used in selection:

* the whole fold (search, refit, prediction) runs on a copy of the table
  whose test-subject labels are replaced by ``"HIDDEN"``; any use of them
  (encoding, scoring) would raise;
* the inner jobs go through the fold executor (a one-worker
  :class:`~merkit.experiments.executors.ProcessPoolFoldExecutor` here) wrapped
  so that every task it is handed is recorded; the script asserts that no
  recorded task holds a test-subject row, and prints the subjects each
  inner fold trained and scored on.

Phase 1 (macro pre-training) runs once per seed before the folds, in the
method's ``prepare`` (as ``merkit train`` does).

    .venv/bin/python -m benchmarks.studies.grid_search --folds 4 --size 64 --batch-size 16 32 \\
        --lr 0.001 0.007 --epochs 10 --out runs/grid_search/grid.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from merkit._io import write_json
from merkit.evaluation.metrics import compute_metrics
from merkit.evaluation.protocols import create_protocol, inner_validation_split
from merkit.evaluation.runner import FoldTask, fold_seed, seed_everything
from merkit.experiments.config import DataConfig
from merkit.experiments.executors import ProcessPoolFoldExecutor
from merkit.experiments.sources import load_table
from merkit.inputs.config import FeatureConfig
from merkit.training.grid_search import GridSearchFitPredict
from merkit.training.methods.macro_transfer import MacroTransferMethod, MacroTransferOptions
from merkit.training.settings import GridConfig, TrainConfig


class RecordingExecutor:
    """The fold executor, plus a record of every (candidate, task) it is handed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.tasks: list = []

    def map(self, fn, tasks):
        self.tasks.extend(tasks)
        return self.inner.map(fn, tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-root", default="data/synthme_small")
    parser.add_argument("--macro-root", default="data/synthme_macro")
    parser.add_argument("--macro-subjects", type=int, default=48)
    parser.add_argument("--model", default="mobilevit_xxs_me")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=4, help="outer folds run (the first N in protocol order)")
    parser.add_argument("--macro-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--lr", type=float, nargs="+", default=[0.001, 0.007])
    parser.add_argument("--epochs", type=int, nargs="+", default=[10])
    parser.add_argument("--inner-folds", type=int, default=3)
    parser.add_argument("--out", default="runs/grid_search.json")
    args = parser.parse_args()

    start = time.perf_counter()
    table, _ = load_table(DataConfig(source="synth", synth_root=args.synth_root, synth_preset="small"), 1)
    protocol = create_protocol("megc2019_composite", label_set="megc3")
    prepared = protocol.prepare(table)
    folds = protocol.folds(prepared)[: args.folds]
    opts = {"input_size": [args.size, args.size]}
    micro = TrainConfig(epochs=args.epochs[0], batch_size=args.batch_size[0], lr=args.lr[0], optimizer="adam",
                        weight_decay=0.01, imbalance="balanced_sampler", max_shift=0.05, max_rotation=0.0, threads=1,
                        device="cpu", progress=False)
    macro = {"epochs": args.macro_epochs, "batch_size": 32, "lr": 0.001, "optimizer": "adam",
             "patience": args.macro_epochs, "threads": 1, "device": "cpu", "progress": False}
    options = MacroTransferOptions(head="softmax", size=args.size, macro=macro, macro_data={
        "synth_root": args.macro_root, "synth_subjects": args.macro_subjects})
    method = MacroTransferMethod(args.model, opts, options, micro, FeatureConfig(workers=1), progress=False)
    t0 = time.perf_counter()
    method.prepare(prepared, (args.seed,))  # inputs, then phase 1 (memoised in the feature cache)
    p1 = method.phase1[args.seed]
    phase1 = {"best_epoch": p1["best_epoch"], "val_accuracy": p1["val_accuracy"],
              "seconds": round(time.perf_counter() - t0, 1)}
    print(f"inputs + phase 1: macro val acc {phase1['val_accuracy']:.3f} ({phase1['seconds']:.0f} s)", flush=True)

    grid = GridConfig(batch_size=tuple(args.batch_size), lr=tuple(args.lr), epochs=tuple(args.epochs),
                    inner_folds=args.inner_folds)
    subjects = prepared["subject_key"].astype(str).to_numpy()
    rows, truth, pred = [], [], []
    for fold in folds:
        t_fold = time.perf_counter()
        fs = fold_seed(args.seed, fold.name)
        seed_everything(fs)
        fit_idx, val_idx = inner_validation_split(prepared, fold.train_idx, 0.2, seed=fs)
        task = FoldTask(fold, args.seed, fit_idx, val_idx, protocol.classes)
        blind = prepared.copy()
        blind.loc[blind.index[fold.test_idx], "label"] = "HIDDEN"  # any use of the test labels raises
        executor = RecordingExecutor(ProcessPoolFoldExecutor(workers=1, threads=1))
        search = GridSearchFitPredict(method, grid, executor=executor)
        probs = search(blind, task)
        test_subjects = set(subjects[fold.test_idx])
        inner = {}
        for _, t in executor.tasks:
            seen = set(subjects[t.fit_idx]) | set(subjects[t.test_idx])
            if seen & test_subjects:
                raise AssertionError(f"fold {fold.name}: an inner task used the test subject {test_subjects}")
            inner[t.fold.name] = {"train": sorted(set(subjects[t.fit_idx])), "score": sorted(set(subjects[t.test_idx]))}
        params, scores = search.choices[-1][2], search.choices[-1][3]
        fold_truth = prepared["label"].to_numpy()[fold.test_idx].tolist()
        fold_pred = [protocol.classes[i] for i in probs.argmax(1)]
        truth += fold_truth
        pred += fold_pred
        row = {"fold": fold.name, "test_subject": sorted(test_subjects), "chosen": params,
               "inner_uf1": [round(s, 4) for s in scores], "inner_tasks": len(executor.tasks),
               "inner_folds": inner, "test_correct": int(np.sum(np.array(fold_truth) == np.array(fold_pred))),
               "test_n": len(fold_truth), "seconds": round(time.perf_counter() - t_fold, 1)}
        rows.append(row)
        print(f"fold {fold.name}: chose {params} inner UF1 {row['inner_uf1']} "
              f"({row['inner_tasks']} inner jobs, test subject never seen; {row['seconds']:.0f} s)", flush=True)
        for name, part in inner.items():
            print(f"    {name}: train {part['train']} score {part['score']}", flush=True)
    rep = compute_metrics(truth, pred, protocol.classes)
    total = time.perf_counter() - start
    print(f"\n{len(folds)} outer folds x {len(grid.candidates())} candidates x {args.inner_folds} inner folds; "
          f"pooled UF1 over these folds {rep.uf1:.4f}; total {total:.0f} s", flush=True)
    write_json(Path(args.out), {"args": vars(args), "candidates": grid.candidates(), "phase1": phase1,
                                "folds": rows, "pooled_uf1": rep.uf1, "seconds": round(total, 1)})


if __name__ == "__main__":
    main()
