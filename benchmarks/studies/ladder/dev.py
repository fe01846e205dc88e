"""Try a change of an amplitude-ladder entry on a development tree whose subjects the ladder never scores.

The ladder (:mod:`.run`) scores every entry on SynthME trees of generator seed 0.
A schedule or option chosen by looking at those LOSO scores is chosen on the test subjects. This
script runs the same composite LOSO (same entry config, ``--set`` changes merged over it) on a tree
of another generator seed (``--synth-seed``, default 1: other identities, clips, labels and
nuisance motion, same preset and amplitude), so changes can be compared there and only the chosen
one is then run on the ladder's own trees.

    python -m benchmarks.studies.ladder.dev --out /tmp/ladder_dev --entry "MOL (onset + apex, landmark head)" \\
        --rung 8 [--set train.steps=300 ...] [--seeds 0 1]

Each run appends one row per seed to ``OUT/dev.csv`` (entry, the changes, rung, seed, UF1, UAR, CPU
seconds) and prints the mean next to the development tree's own permutation chance (95th percentile).
``--out`` must not be the ladder's folder (the trees and caches would mix).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from . import report
from . import run as ladder
from .train_fit import entry_parser, settings_config


def dev_config(out: Path, rung: float, entry: str, seeds: list[int], workers: int, settings: list[str],
               synth_seed: int) -> dict:
    """The run config of ``entry`` with ``settings`` (``--set`` texts) on the tree of generator seed ``synth_seed``."""
    extra = settings_config(settings, {"data": {"synth_seed": synth_seed}})
    changes = " ".join(settings) or "(ladder schedule)"
    raw = ladder.build(out, rung, entry, seeds, workers, extra=extra)
    raw["data"]["synth_root"] += f"_seed{synth_seed}"
    raw["run"]["out_dir"] += ("__" + ladder.slug(changes)[:80] + f"__tree{synth_seed}__seeds"
                              + "_".join(map(str, seeds)))
    return raw


def main() -> None:
    parser = entry_parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--synth-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.synth_seed == 0:
        parser.error("--synth-seed 0 is the ladder's own tree; a development tree needs another seed")
    if (args.out / "ladder.csv").exists():
        parser.error(f"{args.out} holds a ladder table; give the development runs their own folder")
    # merkit's experiment runner imports torch: loaded once the arguments are checked (device.py imports dev_config)
    from merkit.experiments.config import config_from_dict
    from merkit.experiments.run import run_experiment

    changes = " ".join(args.settings) or "(ladder schedule)"
    raw = dev_config(args.out, args.rung, args.entry, args.seeds, args.workers, args.settings, args.synth_seed)
    start, cpu_start = time.perf_counter(), ladder.cpu_seconds()
    result = run_experiment(config_from_dict(raw, source=f"dev {args.entry} {changes}"))
    cpu = ladder.cpu_seconds() - cpu_start
    frame = result.metrics_frame("seed")
    rows = pd.DataFrame({"entry": args.entry, "changes": changes, "rung": args.rung, "synth_seed": args.synth_seed,
                         "seed": frame["seed"], "uf1": frame["uf1"], "uar": frame["uar"],
                         "wall_s": time.perf_counter() - start, "cpu_s": cpu, "run_dir": str(result.run_dir)})
    table = args.out / "dev.csv"
    done = pd.read_csv(table) if table.exists() else pd.DataFrame()
    tmp = table.with_suffix(".tmp.csv")
    pd.concat([done, rows], ignore_index=True).to_csv(tmp, index=False)
    tmp.replace(table)
    _, p95 = report.chance_uf1(str(result.run_dir))
    print(f"{args.entry} {args.rung:g}x {changes} (tree seed {args.synth_seed}): UF1 "
          + " ".join(f"{u:.3f}" for u in frame["uf1"]) + f", mean {frame['uf1'].mean():.3f}; chance p95 {p95:.3f} "
          f"({cpu:.0f} CPU-s)", flush=True)


if __name__ == "__main__":  # the fold workers are spawned processes: they must not run main() again
    main()
