"""Files of a spotting run: the MEGC CSV, interval and per-frame tables, a score plot, a summary.

``write_spot_outputs(result, out_dir, vid)`` writes, atomically (:mod:`merkit._io`)::

    <vid>_megc.csv        vid,pred_onset,pred_offset,type       (the MEGC submission format)
    <vid>_intervals.csv   onset,apex,offset,kind,score,strength,duration_s
    <vid>_frames.csv      frame,name,face_present,face_detected,face_confidence,score_micro,score_macro,in_interval
    <vid>_score.png       the score curves, threshold-free, intervals shaded (micro orange, macro blue)
    <vid>_spot.json       options, frame rate, comparison distances, no-face stretches, timing

Frame numbers in the files are 0-based positions plus ``first_frame`` (default 1:
``img1.jpg`` of CAS(ME)^2 and ``006_1_0001.jpg`` of SAMM-LV are frame 1).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from merkit._io import atomic_path, write_json, write_text
from merkit.motion.spotting.spot import SpotResult

__all__ = ["write_spot_outputs", "plot_scores"]


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def plot_scores(result: SpotResult, path: str | os.PathLike, first_frame: int = 1) -> Path:
    """PNG of the score curves with the spotted intervals shaded and no-face stretches greyed."""
    import matplotlib  # deferred: matplotlib costs ~180 ms; only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above, once the Agg backend is chosen

    x = np.arange(result.n_frames) + first_frame
    fig, ax = plt.subplots(figsize=(12, 3.2), dpi=100)
    for scale, curve in result.curves.items():
        ax.plot(x, curve, lw=0.8, label=f"{scale} (k={result.ks[scale]})")
    for i in result.intervals:
        ax.axvspan(i.onset + first_frame, i.offset + first_frame, color="tab:orange" if i.kind == "micro" else
                   "tab:blue", alpha=0.25)
    for a, b in result.track.no_face_stretches():
        ax.axvspan(a + first_frame, b + first_frame, color="grey", alpha=0.4)
    ax.set_xlabel("frame")
    ax.set_ylabel(f"{result.config.method} score")
    ax.set_title(f"{Path(result.name).name}: {len(result.intervals)} intervals "
                 "(orange micro, blue macro, grey no face)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
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
