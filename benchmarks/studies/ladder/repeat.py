"""Does a ladder entry repeat exactly when run twice on this machine, in this environment?

Runs one entry of :mod:`.run` at one rung twice through the same composite LOSO,
each time into a fresh run directory under ``--out/repeat`` (the tree and feature cache of ``--out`` are
reused), with ``--set`` changes (a short schedule: ``train.steps=100 train.eval_every=100`` or
``train.epochs=2``; the same syntax as :mod:`.train_fit`), and prints both runs' UF1 per seed and
whether every prediction is identical. A gap between two sessions' rows of the same entry is then
either this machine's non-determinism (if the two runs here differ) or the environment's (if they
do not; ``environment.json`` of each run directory records it).

    python -m benchmarks.studies.ladder.repeat --out /tmp/ladder --rung 8 \
        --entry "MOL (onset + apex), 1000 steps, creases 0.8" --set train.steps=100 train.eval_every=100
"""

from __future__ import annotations

import shutil

from . import run as ladder
from .train_fit import entry_parser, settings_config


def main() -> None:
    parser = entry_parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.entry not in ladder.ENTRIES and args.entry not in ladder.ABLATIONS:
        parser.error(f"unknown entry {args.entry!r}; known: {[*ladder.ENTRIES, *ladder.ABLATIONS]}")
    # merkit's experiment runner imports torch: loaded once the arguments are checked
    from merkit.experiments.config import config_from_dict
    from merkit.experiments.run import run_experiment

    predictions, scores = [], []
    for attempt in (1, 2):
        out_dir = args.out / "repeat" / f"{ladder.slug(args.entry)}_{ladder.rung_name(args.rung)}_{attempt}"
        shutil.rmtree(out_dir, ignore_errors=True)  # a fresh run each time: nothing resumed
        extra = settings_config(args.settings, {"run": {"out_dir": str(out_dir)}})
        raw = ladder.build(args.out, args.rung, args.entry, args.seeds, args.workers, extra=extra)
        result = run_experiment(config_from_dict(raw, source=f"repeat {attempt}"))
        frame = result.metrics_frame("seed")
        scores.append(dict(zip(frame["seed"], frame["uf1"])))
        predictions.append(result.to_frame().sort_values(["seed", "sample_key"]).reset_index(drop=True))
        print(f"run {attempt}: UF1 per seed {', '.join(f'{s}: {u:.4f}' for s, u in scores[-1].items())} ({out_dir})",
              flush=True)
    same = predictions[0].equals(predictions[1])
    print(f"identical predictions: {same}; identical UF1: {scores[0] == scores[1]}")


if __name__ == "__main__":  # the fold workers are spawned processes: they must not run main() again
    main()
