"""Key frames of a clip, and the apex estimate for clips without an annotated apex.

Frame selections (0-based positions into a sample's ``frame_paths``):

* :func:`onset_apex_indices`: the onset -> apex pair, the input of most MER
  models (STSTNet, OFF-ApexNet, HTNet, MiER-CvT).
* :func:`uniform_indices`: ``k`` frames evenly spaced from onset to offset
  (both included), for clip models.
* :func:`consecutive_pairs`: ``(i, j)`` pairs of neighbours in a selection, for
  per-step flows of clip models (``k`` frames -> ``k - 1`` flows).

Apex estimation (:func:`motion_curve`, :func:`estimate_apex_index`,
:class:`MotionPeakApex`): the apex is the frame that moved *most relative to
the onset frame*. For every frame ``t`` in ``[onset, offset]`` a motion score
``m(t)`` compares frame ``t`` with the onset frame; the curve is smoothed with
a centred moving average (``smooth`` frames, edges use the available
neighbours) and the apex is its arg-max (the earliest on a tie). Scores
(``measure=``):

* ``"strain"`` (default): mean optical strain of the flow onset -> ``t``.
  Strain is zero for rigid translation and to first order for small
  rotation, so slight head motion does not pull the peak; a facial
  deformation does.
* ``"magnitude"``: mean flow magnitude onset -> ``t`` (follows head motion too).
* ``"intensity"``: mean absolute grey-level difference after a Gaussian blur
  (sigma 1.5 px); no flow, fastest, most sensitive to lighting flicker.

Frames are read in grayscale and resized so the longer side is ``max_side``
pixels (128 by default) before scoring: micro-movements of a few pixels at
full size stay visible, and DIS flow at that size costs about a millisecond.
The default flow is DIS ``ultrafast``.

:class:`MotionPeakApex` is an apex policy (:mod:`merkit.data.apex`): importing
:mod:`merkit.motion` registers ``MotionPeakApex()`` as ``"motion_peak"``, so
loaders accept ``apex_policy="motion_peak"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from merkit.data.apex import register_apex_policy
from merkit.data.sample import Sample
from merkit.errors import ConfigError, FrameReadError, ShapeError
from merkit.motion.flow import FlowMethod, create_flow, to_gray_uint8
from merkit.motion.strain import flow_magnitude, optical_strain

__all__ = [
    "APEX_MEASURES",
    "onset_apex_indices",
    "uniform_indices",
    "consecutive_pairs",
    "motion_curve",
    "estimate_apex_index",
    "MotionPeakApex",
]

APEX_MEASURES = ("strain", "magnitude", "intensity")


def onset_apex_indices(sample: Sample) -> tuple[int, int]:
    """Return ``(onset_index, apex_index)``, 0-based positions in ``sample.frame_paths``."""
    return sample.onset_index, sample.apex_index


def uniform_indices(start: int, stop: int, k: int) -> np.ndarray:
    """``k`` positions evenly spaced from ``start`` to ``stop``, both included, rounded to integers.

    With ``k`` larger than ``stop - start + 1`` some positions repeat (the clip
    is stretched, not padded), so the output always has ``k`` entries.

    Args:
        start: first position (e.g. ``sample.onset_index``).
        stop: last position (e.g. ``sample.offset_index``), ``>= start``.
        k: number of positions, ``>= 1`` (``k == 1`` gives ``[start]``).

    Returns:
        int64 array ``(k,)``, non-decreasing.

    Example:
        >>> uniform_indices(0, 10, 3).tolist()
        [0, 5, 10]
    """
    if k < 1:
        raise ConfigError(f"k must be >= 1 frames; got {k}.")
    if stop < start:
        raise ConfigError(f"stop ({stop}) must be >= start ({start}) to sample frames between them.")
    if k == 1:
        return np.array([start], dtype=np.int64)
    return np.rint(np.linspace(start, stop, k)).astype(np.int64)


def consecutive_pairs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """``[(i0, i1), (i1, i2), ...]`` for a frame selection; empty for fewer than two frames."""
    idx = [int(i) for i in indices]
    return list(zip(idx[:-1], idx[1:]))


def _prepare_frames(frames: Sequence[np.ndarray | str | os.PathLike], max_side: int) -> list[np.ndarray]:
    out = []
    for i, frame in enumerate(frames):
        if isinstance(frame, (str, os.PathLike)):
            image = cv2.imread(os.fspath(frame), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise FrameReadError(
                    f"cannot read frame {os.fspath(frame)!r}; expected an image file OpenCV can decode.")
        else:
            image = to_gray_uint8(frame, name=f"frame {i}")
        h, w = image.shape
        scale = max_side / max(h, w)
        if scale < 1:
            image = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        out.append(image)
    shapes = {f.shape for f in out}
    if len(shapes) > 1:
        raise ShapeError(f"all frames of a clip must have the same size; got sizes {sorted(shapes)}.")
    return out


def motion_curve(
    frames: Sequence[np.ndarray | str | os.PathLike],
    measure: str = "strain",
    flow: str | FlowMethod = "dis",
    max_side: int = 128,
    **flow_overrides: Any,
) -> np.ndarray:
    """Motion of every frame relative to the first one (the onset).

    Args:
        frames: the clip from onset to offset: arrays ``(H, W)`` / ``(H, W, 3)``
            BGR (uint8, or float in [0, 1]) or image file paths.
        measure: one of :data:`APEX_MEASURES`.
        flow: flow method name or instance for the flow-based measures
            (``"dis"`` defaults to preset ``ultrafast`` here).
        max_side: frames are downscaled so their longer side is at most this.
        **flow_overrides: parameters for the flow method.

    Returns:
        float64 ``(T,)`` raw (unsmoothed) scores; ``scores[0] == 0``.
    """
    if measure not in APEX_MEASURES:
        raise ConfigError(f"apex measure must be one of {list(APEX_MEASURES)!r}; got {measure!r}.")
    if len(frames) == 0:
        raise ShapeError("motion_curve needs at least one frame; got an empty clip.")
    images = _prepare_frames(frames, max_side)
    if measure == "intensity":
        blurred = [cv2.GaussianBlur(f.astype(np.float32), (0, 0), 1.5) for f in images]
        return np.array([float(np.abs(b - blurred[0]).mean()) for b in blurred])
    if isinstance(flow, str):
        if flow == "dis" and not flow_overrides:
            flow_overrides = {"preset": "ultrafast"}
        flow = create_flow(flow, **flow_overrides)
    scores = [0.0]
    for image in images[1:]:
        f = flow(images[0], image)
        score = optical_strain(f) if measure == "strain" else flow_magnitude(f)
        scores.append(float(score.mean()))
    return np.array(scores)


def _smooth(curve: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(curve) < 3:
        return curve
    half = window // 2
    csum = np.concatenate([[0.0], np.cumsum(curve)])
    lo = np.clip(np.arange(len(curve)) - half, 0, len(curve))
    hi = np.clip(np.arange(len(curve)) + half + 1, 0, len(curve))
    return (csum[hi] - csum[lo]) / (hi - lo)


def estimate_apex_index(
    frames: Sequence[np.ndarray | str | os.PathLike],
    measure: str = "strain",
    smooth: int = 3,
    flow: str | FlowMethod = "dis",
    max_side: int = 128,
    **flow_overrides: Any,
) -> int:
    """0-based position (into ``frames``, onset first) of the motion peak relative to the onset.

    Args:
        frames: the clip from onset to offset (see :func:`motion_curve`).
        measure: one of :data:`APEX_MEASURES`.
        smooth: centred moving-average window in frames (1 = none).
        flow: flow method for the flow-based measures.
        max_side: downscale limit in pixels.
        **flow_overrides: parameters for the flow method.

    Returns:
        The arg-max of the smoothed curve; 0 for a one-frame clip.
    """
    if smooth < 1:
        raise ConfigError(f"smooth must be >= 1 frames; got {smooth}.")
    curve = motion_curve(frames, measure=measure, flow=flow, max_side=max_side, **flow_overrides)
    return int(np.argmax(_smooth(curve, smooth)))


class MotionPeakApex:
    """Apex policy: the frame of peak motion relative to the onset (see module docstring).

    Usable wherever a loader takes an apex policy: it is called with a
    context holding ``frame_numbers`` and ``frame_paths`` of the frames on
    disk within ``[onset, offset]`` (onset first) and returns the apex as a
    dataset frame number.

    Args:
        measure: one of :data:`APEX_MEASURES`.
        smooth: moving-average window in frames.
        flow: flow method name for the flow-based measures.
        max_side: downscale limit in pixels.
    """

    def __init__(self, measure: str = "strain", smooth: int = 3, flow: str = "dis", max_side: int = 128) -> None:
        if measure not in APEX_MEASURES:
            raise ConfigError(f"apex measure must be one of {list(APEX_MEASURES)!r}; got {measure!r}.")
        self.measure, self.smooth, self.flow, self.max_side = measure, smooth, flow, max_side

    def __repr__(self) -> str:
        return (f"MotionPeakApex(measure={self.measure!r}, smooth={self.smooth}, flow={self.flow!r}, "
                f"max_side={self.max_side})")

    def __call__(self, context: Any) -> int:
        """Return the estimated apex frame number for ``context`` (an apex-policy context)."""
        numbers = list(context.frame_numbers)
        paths = list(context.frame_paths)
        if not numbers or len(numbers) != len(paths):
            raise ShapeError(
                f"sample {getattr(context, 'sample_key', '?')!r}: apex estimation needs parallel, non-empty "
                f"frame_numbers and frame_paths; got {len(numbers)} numbers and {len(paths)} paths."
            )
        index = estimate_apex_index(paths, self.measure, self.smooth, self.flow, self.max_side)
        return numbers[index]


# Selectable by name in every loader (``apex_policy="motion_peak"``) once merkit.motion is imported.
register_apex_policy("motion_peak", MotionPeakApex())
