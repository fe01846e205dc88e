"""Figures of the SynthME amplitude ladder (:mod:`.report`): matplotlib only, no state.

``stats`` is the ladder's cell table (one row per entry x rung: ``entry``, ``rung``, ``seeds``,
``uf1_mean``, ``uf1_std``); chance is drawn as a grey band up to the permutation 95th percentile.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

AMPLITUDE_LABEL = "SynthME amplitude_scale (class-AU peak, x the micro default 0.3-2.5 px)"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")  # legends and labels reach past the axes
    tmp.replace(path)


def draw_ladder(stats: pd.DataFrame, mains: list[str], ablations: dict[str, str], chance_mean: float,
                chance_p95: float, path: Path) -> None:
    """UF1 vs amplitude: one panel for ``mains``, one for ``ablations`` (name -> the entry it changes, dashed)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if ablations else 1, figsize=(16 if ablations else 7.5, 6.5), squeeze=False)
    for ax, names, title in ((axes[0, 0], mains, "one entry per method"),
                             *(((axes[0, 1], list(ablations), "ablations (dashed: the entry they change)"),)
                               if ablations else ())):
        for k, name in enumerate(names):  # tab20: more entries than the default 10-colour cycle
            part = stats[stats["entry"] == name].sort_values("rung")
            line = ax.errorbar(part["rung"], part["uf1_mean"], yerr=part["uf1_std"], marker="os^D"[k // 20 % 4],
                               capsize=3, label=name, color=plt.cm.tab20(2 * k % 20 + k // 10 % 2))
            if name in ablations:
                base = stats[stats["entry"] == ablations[name]].sort_values("rung")
                ax.plot(base["rung"], base["uf1_mean"], ls="--", color=line[0].get_color(), alpha=0.6)
        ax.axhspan(0, chance_p95, color="0.9", zorder=0)
        ax.axhline(chance_mean, color="0.5", lw=1, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(stats["rung"].unique()), [f"{r:g}x" for r in sorted(stats["rung"].unique())])
        ax.set_xlabel(AMPLITUDE_LABEL)
        ax.set_ylabel("composite LOSO UF1 (mean ± std over 3 seeds)")
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.suptitle("SynthME amplitude ladder (grey band: permutation chance up to its 95th percentile)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def draw_directions(stats: pd.DataFrame, directions: dict[str, list[str]], rung: float, chance_mean: float,
                    chance_p95: float, path: Path) -> None:
    """The seeds' ablation directions at ``rung``: per group, its entries top to bottom in the paper's order
    (expected lowest first), mean UF1 ± seed std; a cell with one seed has no bar."""
    plt = _pyplot()
    cells = stats[stats["rung"] == rung].set_index("entry")
    rows = [(group, name) for group, names in directions.items() for name in names]
    fig, ax = plt.subplots(figsize=(9, 0.24 * (len(rows) + 1.6 * len(directions)) + 1.2))
    y, ticks, labels = 0.0, [], []
    for g, (group, names) in enumerate(directions.items()):
        ax.text(0.005, y, group, fontsize=8, fontweight="bold", va="center", transform=ax.get_yaxis_transform())
        y -= 1
        for name in names:
            if name in cells.index:
                cell = cells.loc[name]
                one = cell["seeds"] < 2
                ax.errorbar(cell["uf1_mean"], y, xerr=None if one else cell["uf1_std"], marker="o" if not one else "x",
                            capsize=3, color=plt.cm.tab10(g % 10))
                name = f"{name} ({int(cell['seeds'])} seed{'s' if not one else ''})"
            else:
                name = f"{name} (not run)"
            ticks.append(y)
            labels.append(name)
            y -= 1
        y -= 0.6
    ax.axvspan(0, chance_p95, color="0.9", zorder=0)
    ax.axvline(chance_mean, color="0.5", lw=1, ls=":")
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_ylim(y + 0.4, 0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"composite LOSO UF1 at {rung:g}x (mean ± std over seeds)")
    ax.set_title("The seeds' ablation directions on SynthME (each group top to bottom: the paper's order, "
                 "lowest first; grey: chance)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
