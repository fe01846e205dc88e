"""Score curves built frame by frame, as frames and their face-track landmarks arrive in order.

:class:`FrameScorer` is the per-frame work of both :func:`~merkit.motion.spotting.spot_video`
and :class:`~merkit.motion.spotting.StreamingSpotter`: it is fed each tracked frame once
(:class:`~merkit.face.track.TrackedFrame`) and gives back, per scale, the scores of the
positions that became known, in order; memory holds ``2k + 1`` frames at most.

Two ways to crop (``crops``, :class:`~merkit.motion.spotting.SpotConfig`):

* ``"per_frame"``: every frame is warped once into a face crop (``eye_line``, 128 px) and kept
  in a ring buffer. The alignment is that of the track's landmarks, held while they stay within
  ``realign_px`` crop pixels (mean) of where their own alignment would put them: a new sub-pixel
  warp for every frame adds resampling noise to the flow between two crops (on SynthME it doubles
  the resting score's MAD), a held one does not. One flow per frame and scale,
  crop ``t - k`` -> crop ``t``, serves twice: as the *before* side of ``t`` (measured in the
  ROIs of frame ``t - k``, on whose grid the flow lies) and as the *after* side of ``t - k``
  (flow ``t - k`` -> ``t`` on frame ``t - k``'s grid). The crops follow the track, so what is
  left of the head's motion between two crops (the track is linear between detections) is
  removed by the affine fit (``head_motion``), computed with a precomputed pseudo-inverse
  and evaluated only at the ROI pixels. ``lbp_diff`` keeps each crop's block histograms, so
  ``C(t)`` costs one LBP per frame. Per frame: one warp, one flow per scale.
* ``"triplet"``: frames ``t - k``, ``t``, ``t + k`` warped with frame ``t``'s alignment and two
  flows ``t -+ k -> t`` per frame and scale, exactly :func:`~merkit.motion.spotting.flow_roi_curve`
  and :func:`~merkit.motion.spotting.lbp_difference_curve` (three warps and two flows per frame
  and scale; kept for comparison, ``docs/spotting.md``).

A score needs the frames ``t - k`` and ``t + k`` to have a face (``present``); elsewhere,
and in the first and last ``k`` frames, it is NaN. ``flow_roi`` knows position ``t`` once
frame ``t + k`` is in (:attr:`FrameScorer.delays`), ``lbp_diff`` once frame ``t + 2k`` is
(its contrast uses ``C(t + k)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from merkit.errors import ConfigError
from merkit.face import AlignConfig, compute_alignment, eye_mask
from merkit.face.track import TrackedFrame
from merkit.motion.flow import FlowMethod
from merkit.motion.spotting.scores import (
    _NOSE_BRIDGE,
    ROI_LANDMARKS,
    flow_roi_triplet,
    lbp_blocks,
    lbp_contrast,
    lbp_distance,
)

__all__ = ["CROP_MODES", "FrameScorer"]

#: Ways to crop the frames (module docstring).
CROP_MODES = ("per_frame", "triplet")

_ALIGN = dict(mode="eye_line", margin=0.1, border="replicate")  # the crop of scores._crop_triplets
_PINV: dict[int, tuple[np.ndarray, np.ndarray]] = {}
# (8, 68) averaging matrix: row r averages the landmarks of ROI r (scores.roi_boxes' centres as one product)
_ROI_MEAN = np.zeros((len(ROI_LANDMARKS), 68))
for _r, _idx in enumerate(ROI_LANDMARKS.values()):
    _ROI_MEAN[_r, list(_idx)] = 1.0 / len(_idx)


def _affine_design(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(design (S*S, 3), pinv (3, S*S) float32)`` of :func:`merkit.motion.global_motion.fit_global_motion`'s
    affine fit (the same least-squares solution, as one product)."""
    if size not in _PINV:
        yy, xx = np.mgrid[0:size, 0:size]
        design = np.stack([np.ones(size * size), (xx.ravel() - (size - 1) / 2) / size,
                           (yy.ravel() - (size - 1) / 2) / size], axis=1)
        _PINV[size] = (design.astype(np.float32), np.linalg.pinv(design).astype(np.float32))
    return _PINV[size]


def _eye_mask(lm: np.ndarray, size: int, margin: float = 0.4) -> np.ndarray:
    """:func:`merkit.face.eye_mask` on a square crop, each eye's distance transform run in a window around it.

    The chamfer distance to the hull only follows paths inside the box spanned by a pixel and its
    nearest hull pixel, so a window holding the hull and everything within ``margin`` eye widths
    of it gives the same mask (tested) at a fraction of the cost.
    """
    pts = np.asarray(lm, np.float64)
    out = np.zeros((size, size), bool)
    for first in (36, 42):
        eye = pts[first:first + 6]
        grow = margin * float(np.hypot(*(eye[3] - eye[0])))
        x0, y0 = np.floor(eye.min(0) - grow).astype(int) - 2
        x1, y1 = np.ceil(eye.max(0) + grow).astype(int) + 3
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(size, x1), min(size, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        hull = np.zeros((y1 - y0, x1 - x0), np.uint8)
        # the fixed-point polygon of masks._fill_hull, moved by a whole number of pixels
        corners = cv2.convexHull(np.round(eye * 16).astype(np.int32) - np.array([x0, y0], np.int32) * 16)
        cv2.fillConvexPoly(hull, corners, 1, lineType=cv2.LINE_8, shift=4)
        dist = cv2.distanceTransform((hull == 0).astype(np.uint8), cv2.DIST_L2, 5)
        out[y0:y1, x0:x1] |= dist <= grow
    return out


def _roi_boxes(lm: np.ndarray, size: int, half_iod: float = 0.3) -> list[tuple[slice, slice]]:
    """:func:`~merkit.motion.spotting.scores.roi_boxes` on a square crop, vectorised."""
    pts = np.asarray(lm, np.float64)
    iod = float(np.hypot(*(pts[36:42].mean(0) - pts[42:48].mean(0))))
    r = max(2, int(round(half_iod * iod)))
    centres = np.round(_ROI_MEAN @ pts).astype(int)
    return [(slice(max(0, cy - r), min(size, cy + r + 1)), slice(max(0, cx - r), min(size, cx + r + 1)))
            for cx, cy in centres]


@dataclass
class _Crop:
    """One frame in the ring: its crop, crop landmarks and what scoring needs of them."""

    present: bool
    crop: np.ndarray | None = None
    lm: np.ndarray | None = None
    roi_pixels: np.ndarray | None = None   # flat pixel indices in the ROIs (eyes left out)
    roi_ids: np.ndarray | None = None      # ROI number of each of those pixels
    roi_design: np.ndarray | None = None   # their rows of the affine design
    hist: np.ndarray | None = None         # lbp block histograms
    frame: np.ndarray | None = None        # triplet: the frame itself
    landmarks: np.ndarray | None = None    # triplet: frame landmarks


class FrameScorer:
    """Per-frame scores of every scale from tracked frames pushed in order (module docstring).

    Args:
        ks: scale -> comparison distance ``k`` in frames.
        method: ``"flow_roi"`` or ``"lbp_diff"``.
        crops: ``"per_frame"`` or ``"triplet"``.
        flow: flow method (``flow_roi``).
        size: crop side, pixels.
        head_motion, measure, pooling: ``flow_roi`` options (:func:`~merkit.motion.spotting.flow_roi_curve`).
        mask_eyes: leave the eyes out (both methods).
        lbp_grid: ``lbp_diff`` blocks per side.
        realign_px: ``per_frame``: realign when the landmarks move this far from the held alignment
            (crop pixels, mean over the 68 points); 0 aligns every frame on its own landmarks.
        on_score: called as ``on_score(scale, position)`` for every position ``k <= t < n - k``
            scored (progress bars).
    """

    def __init__(self, ks: dict[str, int], *, method: str = "flow_roi", crops: str = "per_frame",
                 flow: FlowMethod | None = None, size: int = 128, head_motion: str = "affine",
                 measure: str = "main_direction", pooling: str = "max", mask_eyes: bool = True, lbp_grid: int = 6,
                 realign_px: float = 0.0, on_score: Callable[[str, int], None] | None = None) -> None:
        if crops not in CROP_MODES:
            raise ConfigError(f"crops must be one of {list(CROP_MODES)!r}; got {crops!r}.")
        if method not in ("flow_roi", "lbp_diff"):
            raise ConfigError(f"method must be 'flow_roi' or 'lbp_diff'; got {method!r}.")
        if method == "flow_roi" and flow is None:
            raise ConfigError("flow_roi needs a flow method (merkit.motion.flow.create_flow).")
        self.ks, self.method, self.crops, self.flow = dict(ks), method, crops, flow
        self.size, self.head_motion, self.measure, self.pooling = size, head_motion, measure, pooling
        self.mask_eyes, self.grid, self.on_score = mask_eyes, lbp_grid, on_score
        self._align = AlignConfig(size=size, **_ALIGN)
        self.realign_px = float(realign_px)
        self._held = None  # per_frame: the alignment in use (kept while the face stays within realign_px)
        self._kmax = max(self.ks.values())
        self._ring: dict[int, _Crop] = {}
        self._side: dict[str, dict[int, float]] = {s: {} for s in self.ks}    # flow_roi per_frame: v(t)
        self._raw: dict[str, dict[int, float]] = {s: {} for s in self.ks}     # lbp_diff: C(t)
        self._next = {s: 0 for s in self.ks}                                  # next position to give out
        self._n = 0

    @property
    def delays(self) -> dict[str, int]:
        """Scale -> frames after ``t`` that must be in before position ``t`` is scored."""
        return {s: (k if self.method == "flow_roi" else 2 * k) for s, k in self.ks.items()}

    @property
    def n_buffered(self) -> int:
        """Frames and per-frame values held (at most ``2 * max(k) + 1`` frames and ``3 * max(k) + 1`` values
        per scale, whatever the stream's length)."""
        return len(self._ring) + sum(len(d) for d in self._side.values()) + sum(len(d) for d in self._raw.values())

    def push(self, tracked: TrackedFrame) -> dict[str, list[tuple[int, float]]]:
        """Add the next tracked frame; returns scale -> ``[(position, score), ...]`` now known, in order."""
        if tracked.index != self._n:
            raise ConfigError(f"FrameScorer expected frame {self._n}, got frame {tracked.index}: push tracked "
                              f"frames in order, each once.")
        i = self._n
        self._n += 1
        self._ring[i] = self._prepare(tracked)
        for scale, k in self.ks.items():
            if self.method == "flow_roi" and self.crops == "per_frame":
                self._side[scale][i] = self._flow_side(i - k, i)
            elif self.method == "flow_roi":
                pass  # triplet: scored from the ring when frame t + k is in (below)
            elif i - k >= 0:
                self._raw[scale][i - k] = self._lbp_raw(i - 2 * k, i - k, i, k)
        out = {s: self._give(s, i - d) for s, d in self.delays.items()}
        self._forget(i)
        return out

    def close(self) -> dict[str, list[tuple[int, float]]]:
        """End of stream: the remaining positions (NaN where frames after them are missing)."""
        last = self._n - 1
        return {s: self._give(s, last, final=True) for s in self.ks}

    # -- per frame ---------------------------------------------------------------------------------

    def _prepare(self, tracked: TrackedFrame) -> _Crop:
        if not tracked.present:
            return _Crop(False)
        if tracked.frame is None:
            raise ConfigError(f"frame {tracked.index}: FrameScorer needs the frames (FaceTracker keep_frames=True).")
        if self.crops == "triplet":
            return _Crop(True, frame=tracked.frame, landmarks=tracked.landmarks)
        own = compute_alignment(tracked.landmarks, tracked.frame.shape, self._align)
        align = self._held
        if align is None or float(np.abs(align.points(tracked.landmarks) - own.points(tracked.landmarks)).max(
                1).mean()) > self.realign_px:
            align = self._held = own
        crop = align.warp(tracked.frame)
        lm = align.points(tracked.landmarks)
        item = _Crop(True, crop=crop, lm=lm)
        if self.method == "flow_roi":
            keep = ~_eye_mask(lm, self.size) if self.mask_eyes else np.ones(crop.shape[:2], bool)
            pixels, ids = [], []
            flat_index = np.arange(crop.size).reshape(crop.shape[:2])
            for r, box in enumerate(_roi_boxes(lm, self.size)):
                chosen = flat_index[box][keep[box]]
                pixels.append(chosen)
                ids.append(np.full(chosen.size, r))
            item.roi_pixels, item.roi_ids = np.concatenate(pixels), np.concatenate(ids)
            if self.head_motion == "affine":
                item.roi_design = _affine_design(self.size)[0][item.roi_pixels]
        else:
            if self.mask_eyes:
                crop = crop.copy()
                crop[_eye_mask(lm, self.size)] = 128
            item.hist = lbp_blocks(crop, self.grid)
        return item

    def _flow_side(self, a: int, b: int) -> float:
        """Pooled ROI score of the flow crop ``a`` -> crop ``b`` in frame ``a``'s ROIs (NaN without both faces)."""
        first, second = self._ring.get(a), self._ring.get(b)
        if a < 0 or first is None or second is None or not (first.present and second.present):
            return float("nan")
        field = self.flow(first.crop, second.crop).reshape(-1, 2)
        values = field[first.roi_pixels]
        if self.head_motion == "affine":
            values -= first.roi_design @ (_affine_design(self.size)[1] @ field)
        elif self.head_motion == "median":
            values -= np.median(field, axis=0)
        elif self.head_motion == "nose":
            values -= self._nose(field, first.lm)
        return self._pool(values, first.roi_ids, len(ROI_LANDMARKS))

    def _nose(self, field: np.ndarray, lm: np.ndarray) -> np.ndarray:
        """Median flow of the nose-bridge patch, as scores._remove_head's ``nose`` mode."""
        cx, cy = np.round(lm[list(_NOSE_BRIDGE)].mean(0)).astype(int)
        iod = float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))
        r = max(2, int(round(0.2 * iod)))
        grid = field.reshape(self.size, self.size, 2)
        return np.median(grid[max(0, cy - r):cy + r + 1, max(0, cx - r):cx + r + 1].reshape(-1, 2), axis=0)

    def _pool(self, values: np.ndarray, ids: np.ndarray, n_roi: int) -> float:
        """Per-ROI main-direction (or plain) mean magnitude, pooled over the ROIs; an empty ROI scores 0."""
        mag = np.hypot(values[:, 0], values[:, 1])
        if self.measure == "mean":
            counts = np.bincount(ids, minlength=n_roi).astype(np.float64)
            sums = np.bincount(ids, weights=mag, minlength=n_roi)
            per_roi = np.divide(sums, counts, out=np.zeros(n_roi), where=counts > 0)
        else:
            angle = np.arctan2(values[:, 1], values[:, 0])
            bins = ((angle + np.pi) / (2 * np.pi) * 8).astype(int) % 8
            cell = ids * 8 + bins
            per_bin = np.bincount(cell, minlength=8 * n_roi).reshape(n_roi, 8)
            sums = np.bincount(cell, weights=mag, minlength=8 * n_roi).reshape(n_roi, 8)
            main = per_bin.argmax(1)
            top = per_bin[np.arange(n_roi), main].astype(np.float64)
            per_roi = np.divide(sums[np.arange(n_roi), main], top, out=np.zeros(n_roi), where=top > 0)
        return float(per_roi.max() if self.pooling == "max" else per_roi.mean())

    def _lbp_raw(self, a: int, t: int, b: int, k: int) -> float:
        """``C(t)`` from frames ``a = t - k``, ``t``, ``b = t + k`` (NaN without all three faces or before ``k``)."""
        items = [self._ring.get(j) if j >= 0 else None for j in (a, t, b)]
        if a < 0 or any(it is None or not it.present for it in items):
            return float("nan")
        if self.crops == "per_frame":
            return lbp_distance(items[0].hist, items[1].hist, items[2].hist)
        before, now, after, lm = self._triplet(items, 1)
        if self.mask_eyes:
            eyes = eye_mask(lm, now.shape[:2], margin=0.4)
            for crop in (before, now, after):
                crop[eyes] = 128
        return lbp_distance(lbp_blocks(before, self.grid), lbp_blocks(now, self.grid), lbp_blocks(after, self.grid))

    def _triplet(self, items: list[_Crop], centre: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The three frames cropped with the centre frame's alignment, and its crop landmarks."""
        mid = items[centre]
        align = compute_alignment(mid.landmarks, mid.frame.shape, self._align)
        return (align.warp(items[0].frame), align.warp(items[1].frame), align.warp(items[2].frame),
                align.points(mid.landmarks))

    # -- scores out --------------------------------------------------------------------------------

    def _score(self, scale: str, t: int, final: bool) -> float:
        k = self.ks[scale]
        if t < k or (final and t >= self._n - k):
            return float("nan")
        if self.method == "lbp_diff":
            raw = self._raw[scale]
            return lbp_contrast(raw.get(t - k, np.nan), raw.get(t, np.nan), raw.get(t + k, np.nan))
        if self.crops == "per_frame":
            side = self._side[scale]
            before, after = side.get(t, np.nan), side.get(t + k, np.nan)
            return float(min(before, after)) if np.isfinite(before) and np.isfinite(after) else float("nan")
        items = [self._ring.get(j) for j in (t - k, t, t + k)]
        if any(it is None or not it.present for it in items):
            return float("nan")
        before, now, after, lm = self._triplet(items, 1)
        return flow_roi_triplet(before, now, after, lm, self.flow, head_motion=self.head_motion,
                                measure=self.measure, pooling=self.pooling, mask_eyes=self.mask_eyes)

    def _give(self, scale: str, upto: int, final: bool = False) -> list[tuple[int, float]]:
        out = []
        k = self.ks[scale]
        while self._next[scale] <= upto:
            t = self._next[scale]
            out.append((t, self._score(scale, t, final)))
            if self.on_score is not None and k <= t < (self._n - k if final else t + 1):
                self.on_score(scale, t)
            self._next[scale] += 1
        return out

    def _forget(self, i: int) -> None:
        """Drop what no later position needs: frames ``2 * max(k)`` back (``max(k)`` for per-frame flow)."""
        frames_back = self._kmax if (self.method, self.crops) == ("flow_roi", "per_frame") else 2 * self._kmax
        self._ring.pop(i - frames_back - 1, None)
        for table in self._side.values():
            table.pop(i - self._kmax - 1, None)
        for table in self._raw.values():
            table.pop(i - 3 * self._kmax - 1, None)
