"""Run a model bundle on a user's own video: spot, then classify each spotted interval.

``merkit predict VIDEO --model BUNDLE`` and ``LoadedModel.predict_video(path)``:

1. spot micro- and macro-expressions in the whole video
   (:func:`merkit.motion.spotting.spot_video`; face re-detected along the video,
   per-frame scores, intervals with onset, apex, offset, score, micro/macro);
2. for each interval, take the frames from its onset to its offset at full
   resolution and hand them to :meth:`LoadedModel.predict` with the spotted
   apex: the bundle's own method computes the inputs exactly as in training
   (faces aligned on the interval's own onset, the card's flow backend, sizes
   and frames), so nothing is re-implemented here;
3. one row per interval: onset, apex, offset (frame numbers), kind, spotting
   score and strength, the predicted class and one probability column per class.

Intervals shorter than 2 frames cannot give an onset -> apex input and are
reported with empty class columns (``status``), never silently dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merkit._io import atomic_path
from merkit.data.frames import open_frames
from merkit.errors import ConfigError, FaceNotFoundError, FrameReadError, ShapeError
from merkit.motion.spotting import SpotConfig, spot_video

__all__ = ["predict_video", "plot_video_predictions", "write_video_predictions"]


def predict_video(
    model: Any,
    source: str | os.PathLike,
    *,
    spot_config: Any = None,
    fps: float | None = None,
    backend: str = "torch",
    first_frame: int = 1,
) -> tuple[pd.DataFrame, Any]:
    """Spot and classify (module docstring).

    Args:
        model: a :class:`~merkit.deploy.bundle.LoadedModel`.
        source: a video file or a folder of frames.
        spot_config: :class:`merkit.motion.spotting.SpotConfig` (default options).
        fps: frame rate (needed for frame folders; overrides a video's own rate).
        backend: ``"torch"`` or ``"onnx"``.
        first_frame: number of the first frame in the output (1: ``img1.jpg`` is frame 1).

    Returns:
        ``(table, spot_result)``: one row per spotted interval, and the spotting result.

    Raises:
        DatasetNotFoundError, FrameReadError: the file is missing or unreadable.
        FaceNotFoundError: no face in the whole video. ShapeError: a video too short to spot.
    """
    if backend != "torch" and ("onnx" not in model.card or (backend == "onnx-int8"
                                                            and "int8" not in model.card["onnx"])):
        # a setup error: say so before spotting a long video
        raise ConfigError(f"bundle {str(model.path)!r} has no {backend} graph; run `merkit export {model.path} "
                          f"--format onnx{' --int8' if backend == 'onnx-int8' else ''}` first, or use backend 'torch'.")
    result = spot_video(source, spot_config or SpotConfig(), fps=fps)
    frames = open_frames(source, fps=fps, color="rgb")
    classes = list(model.classes)
    rows = []
    for interval in result.intervals:
        row: dict[str, Any] = {
            "onset": interval.onset + first_frame, "apex": interval.apex + first_frame,
            "offset": interval.offset + first_frame, "kind": interval.kind,
            "spot_score": round(float(interval.score), 6), "spot_strength": round(float(interval.strength), 3),
        }
        if interval.offset - interval.onset < 1:
            row.update({"status": "too short (1 frame)", "class": None, **{f"prob_{c}": np.nan for c in classes}})
            rows.append(row)
            continue
        clip = np.stack([frames[i] for i in range(interval.onset, interval.offset + 1)])
        try:
            p = model.predict(clip, onset=0, apex=interval.apex - interval.onset,
                              offset=interval.offset - interval.onset, fps=float(result.fps), backend=backend)
        except (FaceNotFoundError, FrameReadError, ShapeError) as exc:  # this interval's frames: reported on its row
            row.update({"status": f"not classified: {exc}", "class": None,
                        **{f"prob_{c}": np.nan for c in classes}})
        else:
            row.update({"status": "ok", "class": str(p.idxmax()), **{f"prob_{c}": float(p[c]) for c in classes}})
        rows.append(row)
    columns = ["onset", "apex", "offset", "kind", "spot_score", "spot_strength", "status", "class",
               *[f"prob_{c}" for c in classes]]
    return pd.DataFrame(rows, columns=columns), result


def plot_video_predictions(table: pd.DataFrame, result: Any, path: str | os.PathLike, first_frame: int = 1) -> Path:
    """PNG: the spotting score curves with each interval shaded and labelled with its predicted class."""
    import matplotlib  # deferred: matplotlib costs ~180 ms; only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: as above, once the Agg backend is chosen

    x = np.arange(result.n_frames) + first_frame
    fig, ax = plt.subplots(figsize=(12, 3.4), dpi=100)
    for scale, curve in result.curves.items():
        ax.plot(x, curve, lw=0.8, label=f"{scale} score")
    top = np.nanmax([np.nanmax(c) for c in result.curves.values() if np.isfinite(c).any()] or [1.0])
    for _, row in table.iterrows():
        ax.axvspan(row["onset"], row["offset"], color="tab:orange" if row["kind"] == "micro" else "tab:blue",
                   alpha=0.25)
        label = row["class"] if isinstance(row["class"], str) else "?"
        ax.text(row["apex"], top * 1.06, label, ha="center", va="bottom", fontsize=8)
    ax.set_ylim(top=top * 1.25)
    ax.set_xlabel("frame")
    ax.set_ylabel("motion score")
    ax.set_title(f"{Path(result.name).name}: {len(table)} intervals (orange micro, blue macro), predicted classes")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def write_video_predictions(table: pd.DataFrame, result: Any, out_dir: str | os.PathLike, vid: str,
                            first_frame: int = 1) -> dict[str, Path]:
    """Write ``<vid>_predictions.csv`` and ``<vid>_predictions.png`` atomically; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / f"{vid}_predictions.csv", out / f"{vid}_predictions.png"
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    plot_video_predictions(table, result, png_path, first_frame)
    return {"csv": csv_path, "png": png_path}
