"""Does seed 002's Keras-style L2 leave the network's output depending on its input? (one LOSO fold)

Trains the Table 2 "ShuffleNetV2" row (flow pre-training + hinge SVM head) on one fold of
SynthME `small` with the method ``flow_pretrain_finetune`` at the reduced scale of
``benchmarks/shufflenet_table2_synthme.sh`` (64 px, 10 + 10 epochs, batch 16, fixed schedule, one
thread) once per ``--l2`` value and prints, label-free:
the training loss of each phase at the first and last epoch (data term + penalty) and the
standard deviation of the predicted probabilities across the fold's test samples (0 = the
same output for every input). No test label is read.

    .venv/bin/python benchmarks/bench_shufflenet_l2_collapse.py --l2 0.2 0 --cache /tmp/s10/t2/cache
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l2", type=float, nargs="+", default=[0.2, 0.0])
    parser.add_argument("--synth", default="data/synthme_small")
    parser.add_argument("--cache", default="", help="feature cache root ('' -> merkit's default)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of each phase")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from merkit.evaluation.protocols import create_protocol
    from merkit.evaluation.runner import FoldTask
    from merkit.training.config import load_config
    from merkit.training.experiment import load_table
    from merkit.training.methods import create_method

    print("| l2 | fold | pre-training loss first -> last | fine-tuning loss first -> last | prob. std over test samples | CPU s |")
    print("|---:|---|---|---|---:|---:|")
    for l2 in args.l2:
        opts = (f"{{pretrain: true, head: hinge, size: {args.size}, mask: mer, flow_image: hsv, "
                f"pretrain_epochs: {args.epochs}, pretrain_lr: 0.001, l2: {l2}}}")
        cfg = load_config("configs/seed002_shufflenet.toml", [
            "data.source=synth", f"data.synth_root={args.synth}", f"features.cache_dir={args.cache}",
            "features.workers=1", f"train.epochs={args.epochs}", "train.batch_size=16", "train.schedule=fixed",
            "train.threads=1", "train.progress=false", f"method.options={opts}"])
        table, _ = load_table(cfg.data, 1)
        protocol = create_protocol(cfg.protocol.name, label_set=cfg.protocol.label_set, **cfg.protocol.options)
        prepared = protocol.prepare(table)
        method = create_method(cfg)
        method.prepare(prepared)
        fold = max(protocol.folds(prepared), key=lambda f: len(f.test_idx))  # the most test samples
        task = FoldTask(fold, 0, fold.train_idx, np.zeros(0, dtype=np.int64), protocol.classes)
        start = time.process_time()
        probs = method.fit_predict(prepared, task)
        pre, fine = method.histories[-1][2]["pretrain"], method.histories[-1][2]["finetune"]
        print(f"| {l2:g} | {fold.name} ({len(fold.test_idx)} test) | {pre.train_loss[0]:.2f} -> {pre.train_loss[-1]:.2f} "
              f"| {fine.train_loss[0]:.2f} -> {fine.train_loss[-1]:.2f} | {probs.std(0).mean():.4f} "
              f"| {time.process_time() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
