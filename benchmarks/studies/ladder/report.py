"""The amplitude ladder's table, cost, ablation directions and plots, from its recorded and fresh cells.

Shows the cells measured in ``--out`` (the per-seed ``ladder*.csv`` files :mod:`.run` and
:mod:`.device` write) over those recorded in ``benchmarks/results/amplitude_ladder.csv`` (every cell
run so far: seeds, UF1 mean and std, per-seed UF1 where kept, cost, machine, commit), so the table and
plot can be redrawn without rerunning hours of folds; ``--record`` writes the merged cells back (the
file also feeds the ladder tables of BENCHMARKS.md, ``python -m benchmarks.tables``). The oldest
recorded cells have no per-seed values or UAR, and their entry's cost sits on its lowest rung.

It also prints each step of the seeds' ablation claims (:data:`.run.DIRECTIONS`) at 8x with a
verdict read from the seed spreads, and ``--directions-plot`` draws them.

    python -m benchmarks.studies.ladder.report --out /tmp/ladder [--plot docs/img/amplitude_ladder.png] \\
        [--directions-plot docs/img/ladder_directions.png] [--record] [--no-recorded]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from .plots import draw_directions, draw_ladder
from .run import ABLATIONS, CPU, DIRECTION_RUNG, DIRECTIONS, ENTRIES, current_commit

#: The cells of every run so far (one row per entry x rung: seeds, UF1 mean and std, cost, machine, chance,
#: commit), so that ``report`` can redraw the table and plot without rerunning them; ``--record`` rewrites it.
RECORDED = Path(__file__).resolve().parents[2] / "results" / "amplitude_ladder.csv"
CELL_COLUMNS = ["entry", "rung", "seeds", "uf1_mean", "uf1_std", "uar_mean", "uar_std", "uf1_per_seed", "wall_s",
                "cpu_s", "device", "chance_mean", "chance_p95", "commit"]


def chance_uf1(run_dir: str, draws: int = 2000) -> tuple[float, float]:
    """Mean and 95th percentile of UF1 for permutations of the composite's true labels (read from ``run_dir``)."""
    # merkit only where fresh run directories are read; the recorded cells carry their chance level
    from merkit.evaluation.metrics import compute_metrics
    from merkit.evaluation.rundir import RunDirectory

    labels = RunDirectory(Path(run_dir)).read_predictions()
    labels = labels[labels["seed"] == labels["seed"].min()]["true_label"].to_numpy()
    rng = np.random.default_rng(0)
    classes = sorted(set(labels))
    scores = np.array([compute_metrics(labels, rng.permutation(labels), classes).uf1 for _ in range(draws)])
    return float(scores.mean()), float(np.quantile(scores, 0.95))


def measured_cells(out: Path) -> pd.DataFrame | None:
    """One row per entry x rung of the per-seed results files in ``out`` (``ladder*.csv``); None if there are none."""
    paths = sorted(out.glob("ladder*.csv"))
    if not paths:
        return None
    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    if "device" not in table:
        table["device"] = CPU
    table["device"] = table["device"].fillna(CPU)  # rows of the accelerator machine name it (device.py)
    if "commit" not in table:
        table["commit"] = None
    table["commit"] = table["commit"].fillna(current_commit())  # results files written before rows kept it
    table = table.sort_values(["entry", "rung", "seed"])
    stats = table.groupby(["entry", "rung"]).agg(
        uf1_mean=("uf1", "mean"), uf1_std=("uf1", "std"), uar_mean=("uar", "mean"), uar_std=("uar", "std"),
        seeds=("seed", "count"), device=("device", "first"), commit=("commit", "last"),
        uf1_per_seed=("uf1", lambda v: " ".join(f"{x:.4f}" for x in v))).reset_index()
    # every seed row of one run repeats that run's cost; seeds added by a later run add theirs
    runs = table.drop_duplicates(["entry", "rung", "wall_s", "cpu_s"])
    cost = runs.groupby(["entry", "rung"])[["wall_s", "cpu_s"]].sum().reset_index()
    stats = stats.merge(cost, on=["entry", "rung"])
    stats["chance_mean"], stats["chance_p95"] = chance_uf1(table["run_dir"].iloc[0])  # the same 67 labels everywhere
    return stats


def summary(out: Path | None, recorded: Path | None = None) -> tuple[pd.DataFrame, float, float]:
    """Cells measured in ``out`` over those ``recorded`` (a cell measured in both: ``out``'s), with chance.

    Returns ``(cells, chance mean, chance 95th percentile)``; ``cells`` has :data:`CELL_COLUMNS` and
    ``above_chance`` (mean UF1 minus its seed std above the 95th percentile).
    """
    parts = [frame for frame in ((measured_cells(out) if out is not None else None),) if frame is not None]
    if recorded is not None and recorded.exists():
        old = pd.read_csv(recorded)
        if parts:
            fresh = pd.MultiIndex.from_frame(parts[0][["entry", "rung"]])
            old = old[~pd.MultiIndex.from_frame(old[["entry", "rung"]]).isin(fresh)]
        parts.insert(0, old)
    if not parts:
        raise SystemExit(f"no results: no ladder*.csv in {out}" + ("" if recorded is None else f" and no {recorded}")
                         + "; run the ladder first (`python -m benchmarks.studies.ladder.run --out ...`).")
    stats = pd.concat(parts, ignore_index=True).reindex(columns=CELL_COLUMNS)
    mean, p95 = float(stats["chance_mean"].iloc[-1]), float(stats["chance_p95"].iloc[-1])
    stats["chance_mean"], stats["chance_p95"] = mean, p95
    stats["above_chance"] = stats["uf1_mean"] - stats["uf1_std"] > p95
    return stats, mean, p95


def record(stats: pd.DataFrame, path: Path) -> None:
    """Write the cells (:data:`CELL_COLUMNS`) to ``path`` through a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    stats[CELL_COLUMNS].to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(path)


def step_verdict(low: pd.Series, high: pd.Series, chance_p95: float) -> str:
    """Whether the cell ``high`` is above ``low``, as the paper claims, judged on their seed spreads."""
    if min(low["seeds"], high["seeds"]) < 2:
        order = "in" if high["uf1_mean"] > low["uf1_mean"] else "against"
        return f"not judged (one seed; means {order} the paper's order)"
    if max(low["uf1_mean"] - low["uf1_std"], high["uf1_mean"] - high["uf1_std"]) <= chance_p95:
        return "both at chance: no direction"
    if high["uf1_mean"] - high["uf1_std"] > low["uf1_mean"] + low["uf1_std"]:
        return "reproduced (spreads apart)"
    if high["uf1_mean"] > low["uf1_mean"]:
        return "paper's order, within spread"
    if low["uf1_mean"] - low["uf1_std"] > high["uf1_mean"] + high["uf1_std"]:
        return "reversed (spreads apart)"
    return "reversed, within spread"


def uf1_text(cell: pd.Series) -> str:
    """``"0.642 ± 0.012"``, or the mean alone for a one-seed cell."""
    return f"{cell['uf1_mean']:.3f}" + ("" if cell["seeds"] < 2 else f" ± {cell['uf1_std']:.3f}")


def directions(stats: pd.DataFrame, chance_p95: float, rung: float = DIRECTION_RUNG) -> list[tuple[str, str, str]]:
    """``(group, "low < high", verdict)`` for every step of :data:`DIRECTIONS` at ``rung``."""
    cells = stats[stats["rung"] == rung].set_index("entry")
    out = []
    for group, names in DIRECTIONS.items():
        for low, high in zip(names, names[1:]):
            missing = [n for n in (low, high) if n not in cells.index]
            if missing:
                out.append((group, f"{low} < {high}", f"not run: {', '.join(missing)}"))
                continue
            a, b = cells.loc[low], cells.loc[high]
            out.append((group, f"{low} {uf1_text(a)} < {high} {uf1_text(b)}", step_verdict(a, b, chance_p95)))
    return out


def entry_order(stats: pd.DataFrame) -> list[str]:
    """The entries of ``stats`` in the order of :data:`ENTRIES`, then :data:`ABLATIONS`."""
    present = set(stats["entry"])
    return [n for n in [*ENTRIES, *ABLATIONS] if n in present]


def table_lines(stats: pd.DataFrame, names: list[str] | None = None, provenance: bool = False) -> list[str]:
    """The ladder table as Markdown lines: one row per entry, one column per rung, bold where above chance.

    ``provenance`` adds the machine and the commit(s) of each row's cells (BENCHMARKS.md); without it
    a row measured on another machine than :data:`CPU` is marked with a dagger.
    """
    names = entry_order(stats) if names is None else names
    rungs = sorted(stats["rung"].unique())
    head = "| entry | " + " | ".join(f"{r:g}x" for r in rungs) + " | first rung above chance | wall s | CPU-s |"
    rule = "|---|" + "---:|" * len(rungs) + "---|---:|---:|"
    if provenance:
        head, rule = head + " machine | commit |", rule + "---|---|"
    lines = [head, rule]
    for name in names:
        part = stats[stats["entry"] == name].set_index("rung")
        cells = []
        for r in rungs:
            if r not in part.index:
                cells.append("–")
                continue
            row = part.loc[r]
            if row["seeds"] < 2:  # no spread: the chance rule cannot judge it
                cells.append(f"{row['uf1_mean']:.3f} ({row['seeds']} seed)")
                continue
            mark = "**" if row["above_chance"] else ""
            cells.append(f"{mark}{row['uf1_mean']:.3f} ± {row['uf1_std']:.3f}{mark}")
        above = part.index[part["above_chance"]]
        first = f"{min(above):g}x" if len(above) else "none"
        if not len(above) and (part["seeds"] < 2).any():
            first = "not judged (one seed)"
        unrun = [r for r in rungs if r < (min(above) if len(above) else float("inf")) and r not in part.index]
        if unrun:  # "first" is only the first of the rungs run
            first += f" (not run: {', '.join(f'{r:g}x' for r in unrun)})"
        line = f" | {first} | {part['wall_s'].sum():.0f} | {part['cpu_s'].sum():.0f} |"
        if provenance:
            machines = part["device"].str.split(",").str[0].unique()  # "NVIDIA H200, 12 workers" -> "NVIDIA H200"
            commits = [c for c in part["commit"].dropna().unique()]
            line += f" {', '.join(machines)} | {', '.join(f'`{c}`' for c in commits)} |"
            lines.append(f"| {name} | " + " | ".join(cells) + line)
        else:
            mark = "" if (part["device"] == CPU).all() else " †"
            lines.append(f"| {name}{mark} | " + " | ".join(cells) + line)
    return lines


def report(out: Path, plot: Path | None, recorded: Path | None = None, write_record: bool = False,
           directions_plot: Path | None = None) -> None:
    stats, chance_mean, chance_p95 = summary(out, recorded)
    if write_record and recorded is not None:
        record(stats, recorded)
        print(f"recorded cells: {recorded}")
    order = entry_order(stats)
    print(f"Chance (label permutations): UF1 mean {chance_mean:.3f}, 95th percentile {chance_p95:.3f}\n")
    print("\n".join(table_lines(stats, order)))
    machines = stats["device"].str.split(",").str[0]
    for machine, part in stats.groupby(machines, sort=False):
        label = "All runs" if machine == CPU else "† runs"
        print(f"\n{label} on {machine}: {part['wall_s'].sum() / 60:.1f} min wall, "
              f"{part['cpu_s'].sum() / 60:.1f} CPU-min")
    print(f"\nAblation directions at {DIRECTION_RUNG:g}x (the paper's order: each entry claimed below the next)\n")
    print("| claim | cells (UF1) | verdict |\n|---|---|---|")
    for group, step, verdict in directions(stats, chance_p95):
        print(f"| {group} | {step} | {verdict} |")
    if plot is not None:
        draw_ladder(stats, [n for n in order if n in ENTRIES], {n: ABLATIONS[n][0] for n in order if n in ABLATIONS},
                    chance_mean, chance_p95, plot)
        print(f"plot: {plot}")
    if directions_plot is not None:
        draw_directions(stats, DIRECTIONS, DIRECTION_RUNG, chance_mean, chance_p95, directions_plot)
        print(f"directions plot: {directions_plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/amplitude_ladder"),
                        help="the ladder's output folder (its ladder*.csv files)")
    parser.add_argument("--plot", type=Path, default=None, help="UF1 vs amplitude PNG")
    parser.add_argument("--directions-plot", type=Path, default=None,
                        help="PNG of the seeds' ablation directions at 8x")
    parser.add_argument("--recorded", type=Path, default=RECORDED,
                        help="cells recorded by earlier runs, shown where --out has no results for them")
    parser.add_argument("--no-recorded", action="store_true",
                        help="only the cells of --out (a smoke run on another preset, say)")
    parser.add_argument("--record", action="store_true",
                        help="rewrite --recorded with every cell shown (those of --out replacing theirs)")
    args = parser.parse_args()
    report(args.out, args.plot, None if args.no_recorded else args.recorded, args.record, args.directions_plot)


if __name__ == "__main__":
    main()
