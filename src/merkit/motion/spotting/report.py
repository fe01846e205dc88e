"""Files of a spotting run: the MEGC CSV, interval and per-frame tables, a score plot, a summary.

``write_spot_outputs(result, out_dir, vid)`` writes, atomically (:mod:`merkit._io`)::

    <vid>_megc.csv        vid,pred_onset,pred_offset,type       (the MEGC submission format)
    <vid>_intervals.csv   onset,apex,offset,kind,score,strength,duration_s
    <vid>_frames.csv      frame,name,face_present,face_detected,face_confidence,score_micro,score_macro,in_interval
    <vid>_score.png       the score curves, threshold-free, intervals shaded and numbered (micro orange,
                          macro blue: each curve in its kind's colour), no-face stretches grey
    <vid>_spot.json       options, frame rate, comparison distances, no-face stretches, timing

Frame numbers in the files are 0-based positions plus ``first_frame`` (default 1:
``img1.jpg`` of CAS(ME)^2 and ``006_1_0001.jpg`` of SAMM-LV are frame 1).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from merkit._io import atomic_path, write_json, write_text
from merkit.motion.spotting.spot import SpotResult

__all__ = ["KIND_COLORS", "NO_FACE_COLOR", "fit_under_labels", "kind_legend", "plot_scores", "score_figure",
           "stagger_labels", "write_spot_outputs"]


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


#: Colour of each kind: its score curve, its intervals and their legend entries share it.
KIND_COLORS = {"micro": "tab:orange", "macro": "tab:blue"}
#: Colour of no-face stretches.
NO_FACE_COLOR = "grey"


def stagger_labels(ax: Any, texts: Sequence[Any], *, top: float = 0.97, pad_px: float = 3.0
                   ) -> tuple[int, float]:
    """Give interval labels rows so that no two overlap.

    ``texts`` are matplotlib text artists placed at their interval's apex (x in data units, y in
    axes units through ``ax.get_xaxis_transform()``, ``va="top"``). Greedy, in order of x: each
    label goes into the highest row where it keeps ``pad_px`` pixels from every label already
    there; rows step down by the tallest label's height. Call after the axes have their final
    size (``tight_layout``): the layout is computed in pixels.

    Returns:
        ``(rows, floor)``: rows used and the axes fraction under the lowest row (``top`` when none).
    """
    if not texts:
        return 0, top
    renderer = ax.figure.canvas.get_renderer()
    for t in texts:
        t.set_y(top)
    boxes = [t.get_window_extent(renderer) for t in texts]
    step = (max(b.height for b in boxes) + pad_px) / ax.get_window_extent(renderer).height
    rows: list[list[tuple[float, float]]] = []
    for k in sorted(range(len(texts)), key=lambda j: boxes[j].x0):
        span = (boxes[k].x0 - pad_px, boxes[k].x1 + pad_px)
        row = next((r for r, used in enumerate(rows) if all(span[1] <= a or span[0] >= b for a, b in used)),
                   len(rows))
        if row == len(rows):
            rows.append([])
        rows[row].append(span)
        texts[k].set_y(top - row * step)
    return len(rows), top - len(rows) * step


def fit_under_labels(ax: Any, floor: float, data_top: float) -> None:
    """Raise the y limit so that ``data_top`` (data units) sits just under ``floor`` (axes fraction)."""
    room = max(0.2, floor - 0.03)
    bottom = ax.get_ylim()[0]
    ax.set_ylim(bottom, bottom + (data_top - bottom) / room)


def kind_legend(ax: Any, curves: dict[str, str], extra: Sequence[tuple[str, str, float]] = ()) -> Any:
    """Legend: one line per curve (``scale -> label``), a patch per interval kind, then ``extra`` patches.

    ``extra`` holds ``(label, colour, alpha)``, e.g. the no-face stretches.
    """
    from matplotlib.lines import Line2D  # deferred: matplotlib costs ~180 ms; only the plots need it
    from matplotlib.patches import Patch  # deferred: as above

    handles = [Line2D([], [], color=KIND_COLORS.get(s, "black"), lw=1.2, label=label) for s, label in curves.items()]
    handles += [Patch(color=c, alpha=0.25, label=f"{k} interval") for k, c in KIND_COLORS.items()]
    handles += [Patch(color=c, alpha=a, label=label) for label, c, a in extra]
    return ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def score_figure(result: SpotResult, first_frame: int = 1) -> Any:
    """The figure of :func:`plot_scores` (matplotlib, Agg), for callers that want to draw on it.

    Curves and intervals of a kind share :data:`KIND_COLORS`; each interval is labelled with its
    row number in ``<vid>_intervals.csv`` (1, 2, ...), staggered so that labels never overlap.
    """
    import matplotlib  # deferred: matplotlib costs ~180 ms; only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above, once the Agg backend is chosen

    x = np.arange(result.n_frames) + first_frame
    fig, ax = plt.subplots(figsize=(12, 3.2), dpi=100)
    for scale, curve in result.curves.items():
        ax.plot(x, curve, lw=0.8, color=KIND_COLORS.get(scale, "black"))
    for i in result.intervals:
        ax.axvspan(i.onset + first_frame, i.offset + first_frame, color=KIND_COLORS[i.kind], alpha=0.25, lw=0)
    stretches = result.track.no_face_stretches()
    for a, b in stretches:
        ax.axvspan(a + first_frame, b + first_frame, color=NO_FACE_COLOR, alpha=0.4, lw=0)
    ax.set_xlim(first_frame - 0.5, first_frame + result.n_frames - 0.5)  # fixed before labels are laid out
    ax.set_xlabel("frame")
    ax.set_ylabel(f"{result.config.method} score")
    ax.set_title(f"{Path(result.name).name}: {len(result.intervals)} intervals")
    kind_legend(ax, {s: f"{s} score (k={result.ks[s]})" for s in result.curves},
                [("no face", NO_FACE_COLOR, 0.4)] if stretches else [])
    data_top = np.nanmax([np.nanmax(c) for c in result.curves.values() if np.isfinite(c).any()] or [1.0])
    fig.tight_layout()
    texts = [ax.text(i.apex + first_frame, 0.97, str(n), transform=ax.get_xaxis_transform(), ha="center",
                     va="top", fontsize=8, color=KIND_COLORS[i.kind]) for n, i in enumerate(result.intervals, 1)]
    fit_under_labels(ax, stagger_labels(ax, texts)[1], float(data_top))
    return fig


def plot_scores(result: SpotResult, path: str | os.PathLike, first_frame: int = 1) -> Path:
    """PNG of the score curves with the spotted intervals shaded and numbered and no-face stretches greyed."""
    import matplotlib.pyplot as plt  # deferred: matplotlib costs ~180 ms; only the plot needs it

    fig = score_figure(result, first_frame)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def write_spot_outputs(
    result: SpotResult, out_dir: str | os.PathLike, vid: str, first_frame: int = 1
) -> dict[str, Path]:
    """Write the files of the module docstring; returns ``{kind: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{vid}_{name}" for name in ("megc.csv", "intervals.csv", "frames.csv", "score.png",
                                                     "spot.json")}
    megc = [["vid", "pred_onset", "pred_offset", "type"]] + [list(r) for r in result.megc_rows(vid, first_frame)]
    write_text(paths["megc.csv"], _csv(megc))
    rows = [["onset", "apex", "offset", "kind", "score", "strength", "duration_s"]]
    rows += [[i.onset + first_frame, i.apex + first_frame, i.offset + first_frame, i.kind, round(i.score, 6),
              round(i.strength, 3), round((i.offset - i.onset + 1) / result.fps, 4)] for i in result.intervals]
    write_text(paths["intervals.csv"], _csv(rows))
    table = result.per_frame()
    table["frame"] = table["frame"] + first_frame
    with atomic_path(paths["frames.csv"]) as tmp:
        table.to_csv(tmp, index=False)
    plot_scores(result, paths["score.png"], first_frame)
    stretches = [[a + first_frame, b + first_frame] for a, b in result.track.no_face_stretches()]
    write_json(paths["spot.json"], {"video": result.name, "vid": vid, "fps": result.fps, "n_frames": result.n_frames,
                                    "first_frame": first_frame, "k": result.ks, "config": asdict(result.config),
                                    "n_intervals": len(result.intervals), "no_face_stretches": stretches,
                                    "face_present_fraction": float(result.track.present.mean()),
                                    "seconds": round(result.seconds, 3)})
    return {k.split(".")[0]: p for k, p in paths.items()}
