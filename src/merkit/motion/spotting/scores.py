"""Per-frame motion scores of a face video: optical flow in facial ROIs, and LBP feature difference.

Both compare frame ``t`` with frames ``t - k`` and ``t + k``, cropped by one alignment
(the face track's landmarks at ``t``), so a head that moved over the video stays in the
crop. ``k`` is about half an expression's duration at the video's frame rate.

* :func:`flow_roi_curve` (in the spirit of MDMD / main-directional optical flow, Wang
  et al. 2017, and the MEGC optical-flow baselines): dense flow ``t-k -> t`` and
  ``t+k -> t`` on the face crop; head motion removed (``head_motion``: the median flow
  of the nose-bridge region, the one facial region no expression moves, or an affine fit
  over the crop); the eyes masked (blinks); in each region of interest (brows, nose sides,
  mouth corners, upper lip, chin) the *main-direction mean* magnitude (the pixels of the
  most populated of 8 direction bins) or the plain mean; ROIs pooled by max or mean. The
  frame's score is the smaller of its two sides, so a lasting change (the head moved and
  stayed, a slow drift) scores on one side only and is not mistaken for an expression.
  Units: pixels of the crop.
* :func:`lbp_difference_curve` (the MEGC spotting baseline of Li et al. 2018, after
  Moilanen et al. 2014): uniform LBP histograms (8 neighbours, radius 1, 10 bins) in a
  grid of blocks; per block the chi-squared distance between frame ``t`` and the mean of
  frames ``t - k`` and ``t + k``; the mean of the largest third of the blocks is ``C(t)``;
  the score is the contrast ``C(t) - (C(t-k) + C(t+k)) / 2`` clipped at 0. Dimensionless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from skimage.feature import local_binary_pattern

from merkit.errors import ConfigError
from merkit.face import AlignConfig, compute_alignment, eye_mask
from merkit.face.track import FaceTrack
from merkit.motion.flow import FlowMethod
from merkit.motion.global_motion import remove_global_motion

__all__ = ["ROI_LANDMARKS", "HEAD_MOTION_MODES", "ROI_MEASURES", "ROI_POOLINGS", "flow_roi_curve",
           "flow_roi_triplet", "lbp_contrast", "lbp_difference_curve", "lbp_distance", "lbp_blocks", "roi_boxes"]

#: Regions of interest: name -> landmark indices (iBUG 68) whose mean is the ROI centre.
ROI_LANDMARKS: dict[str, tuple[int, ...]] = {
    "right_brow": (18, 19, 20), "left_brow": (23, 24, 25), "right_nose_side": (31, 32),
    "left_nose_side": (34, 35), "right_mouth_corner": (48,), "left_mouth_corner": (54,),
    "upper_lip": (50, 51, 52), "chin": (57, 8),
}
HEAD_MOTION_MODES = ("nose", "affine", "median", "none")
ROI_MEASURES = ("main_direction", "mean")
ROI_POOLINGS = ("max", "mean")
_NOSE_BRIDGE = (27, 28, 29)


def _choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {sorted(choices)!r}; got {value!r}.")


def roi_boxes(landmarks: np.ndarray, shape: tuple[int, int], half_iod: float = 0.3) -> dict[str, tuple[slice, slice]]:
    """Square ROIs of half-side ``half_iod`` x IOD around :data:`ROI_LANDMARKS` (crop pixels)."""
    iod = float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)))
    r = max(2, int(round(half_iod * iod)))
    h, w = shape
    out = {}
    for name, idx in ROI_LANDMARKS.items():
        cx, cy = np.round(landmarks[list(idx)].mean(0)).astype(int)
        out[name] = (slice(max(0, cy - r), min(h, cy + r + 1)), slice(max(0, cx - r), min(w, cx + r + 1)))
    return out


def _remove_head(flow: np.ndarray, landmarks: np.ndarray, mode: str) -> np.ndarray:
    if mode == "none":
        return flow
    if mode == "nose":
        cx, cy = np.round(landmarks[list(_NOSE_BRIDGE)].mean(0)).astype(int)
        iod = float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)))
        r = max(2, int(round(0.2 * iod)))
        patch = flow[max(0, cy - r):cy + r + 1, max(0, cx - r):cx + r + 1].reshape(-1, 2)
        return flow - np.median(patch, axis=0)
    return remove_global_motion(flow, mode)


def _roi_value(flow: np.ndarray, keep: np.ndarray, measure: str) -> float:
    mag = np.hypot(flow[..., 0], flow[..., 1])[keep]
    if mag.size == 0:
        return 0.0
    if measure == "mean":
        return float(mag.mean())
    angle = np.arctan2(flow[..., 1], flow[..., 0])[keep]
    bins = ((angle + np.pi) / (2 * np.pi) * 8).astype(int) % 8
    main = np.bincount(bins, minlength=8).argmax()
    return float(mag[bins == main].mean())


def _crop_triplets(frames: Sequence[np.ndarray], track: FaceTrack, k: int, size: int,
                   on_frame: Callable[[int], None] | None = None):
    """Yield (t, crop t-k, crop t, crop t+k, crop landmarks at t) for every scorable t."""
    config = AlignConfig(mode="eye_line", size=size, margin=0.1, border="replicate")
    n = len(frames)
    for t in range(k, n - k):
        if on_frame is not None:
            on_frame(t)
        if not (track.present[t - k] and track.present[t] and track.present[t + k]):
            continue
        align = compute_alignment(track.landmarks[t], frames[t].shape, config)
        yield t, align.warp(frames[t - k]), align.warp(frames[t]), align.warp(frames[t + k]), \
            align.points(track.landmarks[t])


def flow_roi_curve(frames: Sequence[np.ndarray], track: FaceTrack, k: int, flow: FlowMethod, *, size: int = 128,
                   head_motion: str = "nose", measure: str = "main_direction", pooling: str = "max",
                   mask_eyes: bool = True, on_frame: Callable[[int], None] | None = None) -> np.ndarray:
    """Optical-flow ROI score per frame (module docstring).

    Args:
        frames: T grey frames (H, W) uint8.
        track: the face track of the video.
        k: comparison distance, frames.
        flow: flow method (e.g. ``create_flow("dis", preset="fast")``).
        size: face crop side, pixels.
        head_motion: ``"nose"``, ``"affine"``, ``"median"`` or ``"none"``.
        measure: ``"main_direction"`` or ``"mean"`` (per ROI).
        pooling: ``"max"`` or ``"mean"`` (over ROIs).
        mask_eyes: leave the eyes out of every ROI (blinks).
        on_frame: called with each frame position as it is scored (progress bars).

    Returns:
        (T,) float64 score in crop pixels; NaN where the frame or its neighbours have no face,
        and in the first and last ``k`` frames.
    """
    _choice("head_motion", head_motion, HEAD_MOTION_MODES)
    _choice("measure", measure, ROI_MEASURES)
    _choice("pooling", pooling, ROI_POOLINGS)
    score = np.full(len(frames), np.nan)
    for t, before, now, after, lm in _crop_triplets(frames, track, k, size, on_frame):
        score[t] = flow_roi_triplet(before, now, after, lm, flow, head_motion=head_motion, measure=measure,
                                    pooling=pooling, mask_eyes=mask_eyes)
    return score


def flow_roi_triplet(before: np.ndarray, now: np.ndarray, after: np.ndarray, lm: np.ndarray, flow: FlowMethod, *,
                     head_motion: str = "nose", measure: str = "main_direction", pooling: str = "max",
                     mask_eyes: bool = True) -> float:
    """:func:`flow_roi_curve`'s score of one frame from its three crops (the streaming spotter uses it too).

    Args:
        before, now, after: (S, S) uint8 crops of frames ``t - k``, ``t``, ``t + k``, all cut with
            frame ``t``'s alignment.
        lm: (68, 2) landmarks of frame ``t`` in crop pixels.
        flow, head_motion, measure, pooling, mask_eyes: as :func:`flow_roi_curve`.

    Returns:
        The smaller side's pooled ROI score, crop pixels.
    """
    keep = ~eye_mask(lm, now.shape[:2], margin=0.4) if mask_eyes else np.ones(now.shape[:2], bool)
    boxes = roi_boxes(lm, now.shape[:2])
    sides = []
    for other in (before, after):
        field = _remove_head(flow(other, now), lm, head_motion)
        values = [_roi_value(field[b], keep[b], measure) for b in boxes.values()]
        sides.append(max(values) if pooling == "max" else float(np.mean(values)))
    return min(sides)


def lbp_blocks(crop: np.ndarray, grid: int) -> np.ndarray:
    """(grid * grid, 10) uniform-LBP histograms (P=8, R=1), each block normalised to sum 1."""
    codes = local_binary_pattern(crop, 8, 1, method="uniform").astype(int)
    h, w = codes.shape
    ys = np.linspace(0, h, grid + 1).astype(int)
    xs = np.linspace(0, w, grid + 1).astype(int)
    out = np.empty((grid * grid, 10))
    for i in range(grid):
        for j in range(grid):
            hist = np.bincount(codes[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].ravel(), minlength=10)[:10].astype(float)
            out[i * grid + j] = hist / max(hist.sum(), 1.0)
    return out


def lbp_difference_curve(frames: Sequence[np.ndarray], track: FaceTrack, k: int, *, size: int = 128,
                         grid: int = 6, top_fraction: float = 1 / 3, mask_eyes: bool = True,
                         on_frame: Callable[[int], None] | None = None) -> np.ndarray:
    """LBP feature-difference score per frame (module docstring).

    Args:
        frames: T grey frames (H, W) uint8.
        track: the face track.
        k: comparison distance, frames.
        size: face crop side, pixels.
        grid: blocks per side.
        top_fraction: share of the blocks (largest differences) averaged into ``C(t)``.
        mask_eyes: grey out the eyes in all three crops (blinks change LBP codes there).
        on_frame: called with each frame position as it is scored (progress bars).

    Returns:
        (T,) float64 contrasted difference (>= 0), NaN where it cannot be computed.
    """
    if not 0 < top_fraction <= 1 or grid < 1:
        raise ConfigError(f"top_fraction must be in (0, 1] and grid >= 1; got {top_fraction!r}, {grid!r}.")
    n = len(frames)
    raw = np.full(n, np.nan)
    for t, before, now, after, lm in _crop_triplets(frames, track, k, size, on_frame):
        if mask_eyes:
            eyes = eye_mask(lm, now.shape[:2], margin=0.4)
            for crop in (before, now, after):
                crop[eyes] = 128
        raw[t] = lbp_distance(lbp_blocks(before, grid), lbp_blocks(now, grid), lbp_blocks(after, grid),
                              top_fraction)
    score = np.full(n, np.nan)
    for t in range(k, n - k):
        score[t] = lbp_contrast(raw[t - k], raw[t], raw[t + k])
    return score


def lbp_distance(before: np.ndarray, now: np.ndarray, after: np.ndarray, top_fraction: float = 1 / 3) -> float:
    """``C(t)`` of :func:`lbp_difference_curve` from the block histograms of frames ``t - k``, ``t``, ``t + k``.

    Args:
        before, now, after: (B, 10) block histograms (:func:`lbp_blocks`), each row summing to 1.
        top_fraction: share of the blocks (largest distances) averaged.

    Returns:
        Mean chi-squared distance of the largest ``top_fraction`` of the blocks (dimensionless).
    """
    m = max(1, int(round(top_fraction * len(now))))
    ref = 0.5 * (before + after)
    chi2 = ((now - ref) ** 2 / (now + ref + 1e-12)).sum(1)
    return float(np.sort(chi2)[-m:].mean())


def lbp_contrast(before: float, now: float, after: float) -> float:
    """:func:`lbp_difference_curve`'s score from ``C(t - k)``, ``C(t)``, ``C(t + k)`` (NaN where unknown).

    ``C(t) - (C(t-k) + C(t+k)) / 2`` clipped at 0; with one neighbour unknown the other stands for
    both, with neither the score is 0, and without ``C(t)`` it is NaN.
    """
    if not np.isfinite(now):
        return float("nan")
    if np.isfinite(before) and np.isfinite(after):
        return max(0.0, now - 0.5 * (before + after))
    if not (np.isfinite(before) or np.isfinite(after)):
        return 0.0
    return max(0.0, now - (before if np.isfinite(before) else after))
