"""How much a run's predictions vary across test samples (a collapse check for the seed-002 Table 2 runs).

For each run directory and seed: the share of test samples given the most frequent predicted
class (pooled over folds), and the standard deviation of the predicted probabilities across the
test samples of one fold (one trained network), averaged over classes and folds (folds with at
least 2 test samples). A network whose scores no longer depend on its input gives every sample of
its fold the same probabilities (spread 0).

    .venv/bin/python benchmarks/bench_shufflenet_prediction_spread.py NAME=RUN_DIR [NAME=RUN_DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def spread(run_dir: Path) -> list[tuple[int, float, float]]:
    """``(seed, top-class share, mean within-fold probability std)`` per seed of a run directory."""
    frames = [pd.read_csv(f) for f in sorted((run_dir / "predictions").glob("seed*/*.csv"))]
    if not frames:
        raise SystemExit(f"no prediction files under {run_dir / 'predictions'}; is it a merkit run directory?")
    table = pd.concat(frames, ignore_index=True)
    probs = [c for c in table.columns if c.startswith("prob_")]
    rows = []
    for seed, part in table.groupby("seed"):
        share = part["pred_label"].value_counts(normalize=True).iloc[0]
        within = [fold[probs].std(ddof=0).mean() for _, fold in part.groupby("fold") if len(fold) > 1]
        rows.append((int(seed), float(share), float(sum(within) / len(within))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    args = parser.parse_args()
    print("| run | seed | top predicted class share | prob. std within a fold |")
    print("|---|---:|---:|---:|")
    for spec in args.runs:
        name, path = spec.split("=", 1)
        for seed, share, std in spread(Path(path)):
            print(f"| {name} | {seed} | {share:.2f} | {std:.4f} |")


if __name__ == "__main__":
    main()
