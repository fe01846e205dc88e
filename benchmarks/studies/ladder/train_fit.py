"""Can an amplitude-ladder entry fit its own training set? Training data only, one fold.

Trains one entry of :mod:`.run` (optionally with config changes, ``--set``) on the
training subjects of the first composite LOSO fold of a rung, then scores the fitted model on those
same training videos (UF1 and accuracy, next to the majority-class share). No test subject is
scored, so a schedule chosen with this script is chosen on training data only: a method that cannot
fit its training set within its ladder schedule is under-trained (or broken), whatever its test
score says.

    python -m benchmarks.studies.ladder.train_fit --out /tmp/ladder --entry "ResNet-18 (RGB apex)" --rung 8 \\
        [--set train.epochs=40 features.rgb_size=64 ...] [--curve 100]

``--set`` takes dotted config keys with JSON values (``method.options.head="softmax"``); ``--out`` is
the ladder's output folder (its trees and cache are reused).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import run as ladder

CLASSES = ("negative", "positive", "surprise")


def parse_setting(text: str) -> dict:
    """``"a.b.c=1"`` -> ``{"a": {"b": {"c": 1}}}`` (the value read as JSON, else as a string)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--set {text!r}: expected KEY=VALUE, e.g. train.epochs=40")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    for part in reversed(key.split(".")):
        parsed = {part: parsed}
    return parsed


def entry_parser(description: str) -> argparse.ArgumentParser:
    """The arguments shared by the scripts that run one ladder entry with changes: --out, --entry, --rung, --set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--entry", required=True, help="an entry or ablation name of benchmarks.studies.ladder.run")
    parser.add_argument("--rung", type=float, default=8.0)
    parser.add_argument("--set", nargs="*", default=[], dest="settings")
    return parser


def settings_config(settings: list[str], base: dict | None = None) -> dict:
    """``--set`` texts merged into one config-data dict (over ``base``)."""
    extra = dict(base or {})
    for setting in settings:
        extra = ladder.merged(extra, parse_setting(setting))
    return extra


def first_fold_fit(raw: dict, seed: int = 0, fit: bool = True):
    """Prepare ``raw``'s method on its table (3 classes) and fit it on the first LOSO fold's training subjects.

    Returns:
        ``(method, table, y, train, fitted, seconds)``: ``y`` the class index of every row, ``train`` the
        training rows; ``fitted`` is None (and ``seconds`` 0) when ``fit`` is False.
    """
    # merkit's methods import torch: loaded here, so dev/repeat/device import the shared helpers without it
    from merkit.evaluation.protocols import Fold
    from merkit.evaluation.runner import FoldTask, fold_seed, seed_everything
    from merkit.experiments.config import config_from_dict
    from merkit.experiments.sources import load_table
    from merkit.training.methods import create_method

    cfg = config_from_dict(raw, source="train fit")
    table, _ = load_table(cfg.data)
    table = table[table["label"].isin(CLASSES)].reset_index(drop=True)
    method = create_method(cfg, progress=False)
    method.prepare(table, [seed])
    y = np.array([CLASSES.index(label) for label in table["label"]])
    subjects = table["subject_key"].to_numpy()
    train = np.flatnonzero(subjects != subjects[0])
    if not fit:
        return method, table, y, train, None, 0.0
    task = FoldTask(Fold("fit", train, np.flatnonzero(subjects == subjects[0])), seed, train,
                    np.array([], dtype=np.int64), CLASSES)
    seed_everything(fold_seed(seed, "fit"))  # as the fold runner does: initial weights follow the seed
    start = time.perf_counter()
    fitted = method.fit(table, task)
    return method, table, y, train, fitted, time.perf_counter() - start


def print_curve(method, train_videos: list, window: int) -> None:
    """The fit's training-loss parts (``ce``, ``flow``, ``landmarks``) averaged over windows of ``window`` steps.

    For MOL's flow loss, the level of a head that predicts no motion is printed beside it: the mean
    squared flow target per pair over the training clips' centre crops (what ``mol_loss`` scores a zero
    field at), so a flow loss that stays there is a head that has not started to predict flow.
    """
    histories = getattr(method, "histories", [])
    if not histories:
        raise SystemExit(f"--curve: method {type(method).__name__} keeps no per-step losses; it works for MOL "
                         "(multitask_clips).")
    parts = histories[-1][2].parts
    for start in range(0, len(parts), window):
        chunk = parts[start:start + window]
        means = {k: float(np.mean([p[k] for p in chunk])) for k in chunk[0]}
        print(f"steps {start + 1}-{start + len(chunk)}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
    if parts and "flow" in parts[0]:
        crop = method.options.crop_size
        squares = []
        for video in train_videos:
            o = (video.flows.shape[-1] - crop) // 2
            flows = video.flows[..., o:o + crop, o:o + crop].astype(np.float32)
            squares.append((flows**2).mean(axis=(1, 2, 3, 4)) / flows.shape[1])  # per clip, / (T - 1) as the loss
        print("flow loss of a zero field (training clips, centre crops): "
              f"{float(np.mean(np.concatenate(squares))):.4f}")


def main() -> None:
    parser = entry_parser(__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", type=int, default=0, metavar="N",
                        help="also print the training-loss parts averaged over every N steps (MOL)")
    args = parser.parse_args()
    from merkit.evaluation.metrics import compute_metrics

    extra = settings_config(args.settings)
    raw = ladder.build(args.out, args.rung, args.entry, [args.seed], 1, extra=extra)  # a changed tree: its own root
    method, table, y, train, fitted, seconds = first_fold_fit(raw, args.seed)
    pred = fitted.predict_proba(method.inputs.take(table["sample_key"].to_numpy()[train])).argmax(1)
    scores = compute_metrics(y[train], pred, list(range(len(CLASSES))))
    changes = " ".join(args.settings) or "(ladder schedule)"
    print(f"{args.entry} {args.rung:g}x {changes}: training UF1 {scores.uf1:.3f}, accuracy {scores.accuracy:.3f} "
          f"(majority class {np.bincount(y[train]).max() / len(train):.3f}; {len(train)} videos, fit {seconds:.0f} s)")
    if args.curve:
        print_curve(method, method.inputs.take(table["sample_key"].to_numpy()[train]), args.curve)


if __name__ == "__main__":
    main()
