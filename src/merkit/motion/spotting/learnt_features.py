"""Per-frame ROI-flow features of the learnt spotter (``docs/spotting.md``, "Learnt spotter").

For every frame ``t`` and every scale's comparison distance ``k`` (``micro``, ``macro``:
:meth:`~merkit.motion.spotting.SpotConfig.k`), the two flows ``t-k -> t`` and ``t+k -> t``
are computed exactly as :func:`~merkit.motion.spotting.flow_roi_curve` computes them (one
face crop from frame ``t``'s landmarks, head motion removed, eyes masked). In each region of
:data:`~merkit.motion.spotting.ROI_LANDMARKS` and on each side four statistics are kept
(:data:`STATS`): the main-direction mean magnitude (the pixels of the most populated of 8
direction bins), the mean flow ``(u, v)`` of those pixels, and the plain mean magnitude.
Three more regions (:data:`NUISANCE_REGIONS`) describe what a spotter must not report: the
``eyes`` (the masked eye regions: blinks), ``head`` (the head motion that was removed, over the
face) and ``rest`` (the face outside the ROIs and eyes after head-motion removal: what the
head-motion model failed to explain).

:func:`frame_features` turns them into one row per frame: the raw statistics of both sides,
per ROI the smaller side's main-direction magnitude (what flow_roi scores: an expression at
its apex differs from both neighbours, a head that moved and stayed from one) and the cosine
between the two sides' main-direction flows (an apex moves the same way on both sides), and
per scale the flow_roi score itself (the smaller side of the largest ROI value) with the max
and mean over ROIs of the smaller side. Every column but the cosines is divided by a robust
noise level of its own video, ``(x - median) / (1.4826 MAD)`` over the video's frames
(:func:`normalise`): no label is used, and a video filmed noisier or closer does not shift the model's scale.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from merkit.data.frames import FrameSource, open_frames
from merkit.errors import ConfigError, ShapeError
from merkit.face import eye_mask
from merkit.face.masks import face_mask
from merkit.face.track import FaceTrack, track_face
from merkit.motion.flow import FlowMethod, create_flow
from merkit.motion.spotting.scores import HEAD_MOTION_MODES, ROI_LANDMARKS, _crop_triplets, _remove_head, roi_boxes
from merkit.motion.spotting.spot import SpotConfig, WindowFrames, _decodable_length, _Strided

__all__ = ["STATS", "NUISANCE_REGIONS", "REGIONS", "VideoFeatures", "roi_flow_stats", "frame_features", "normalise",
           "extract_features", "features_from_video"]

#: Statistics per ROI and side (module docstring).
STATS = ("main_mag", "main_u", "main_v", "mean_mag")
#: Regions beside the ROIs (module docstring).
NUISANCE_REGIONS = ("eyes", "head", "rest")
#: Every region of the statistics, in order: the ROIs, then the nuisance regions.
REGIONS = (*ROI_LANDMARKS, *NUISANCE_REGIONS)
_SIDES = ("before", "after")


def _roi_stats(field: np.ndarray, keep: np.ndarray) -> tuple[float, float, float, float]:
    u, v = field[..., 0][keep], field[..., 1][keep]
    if u.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    mag = np.hypot(u, v)
    # the same 8 direction bins as flow_roi's main-direction measure, so its curve is one of the columns
    bins = ((np.arctan2(v, u) + np.pi) / (2 * np.pi) * 8).astype(int) % 8
    main = bins == np.bincount(bins, minlength=8).argmax()
    return float(mag[main].mean()), float(u[main].mean()), float(v[main].mean()), float(mag.mean())


def roi_flow_stats(frames: Sequence[np.ndarray], track: FaceTrack, k: int, flow: FlowMethod, *, size: int = 128,
                   head_motion: str = "affine", mask_eyes: bool = True,
                   on_frame: Callable[[int], None] | None = None) -> np.ndarray:
    """ROI flow statistics of every frame at comparison distance ``k`` (module docstring).

    Args:
        frames: T grey frames (H, W) uint8.
        track: the face track of the video.
        k: comparison distance, frames.
        flow: flow method (e.g. ``create_flow("dis", preset="fast")``).
        size: face crop side, pixels.
        head_motion: ``"nose"``, ``"affine"``, ``"median"`` or ``"none"`` (as flow_roi).
        mask_eyes: leave the eyes out of every ROI (blinks).
        on_frame: called with each frame position as it is scored (progress).

    Returns:
        (T, 2, R, 4) float32: side (``t-k``, ``t+k``), region (:data:`REGIONS`: the ROIs in the
        order of ``ROI_LANDMARKS``, then the nuisance regions), statistic (:data:`STATS`) in crop
        pixels; NaN where the frame or its neighbours have no face, and in the first and last
        ``k`` frames.
    """
    if head_motion not in HEAD_MOTION_MODES:
        raise ConfigError(f"head_motion must be one of {sorted(HEAD_MOTION_MODES)!r}; got {head_motion!r}.")
    out = np.full((len(frames), 2, len(REGIONS), len(STATS)), np.nan, np.float32)
    n_roi = len(ROI_LANDMARKS)
    for t, before, now, after, lm in _crop_triplets(frames, track, k, size, on_frame):
        eyes = eye_mask(lm, now.shape[:2], margin=0.4)
        keep = ~eyes if mask_eyes else np.ones(now.shape[:2], bool)
        boxes = list(roi_boxes(lm, now.shape[:2]).values())
        face = face_mask(lm, now.shape[:2])
        rest = face & ~eyes
        for b in boxes:
            rest[b] = False
        for side, other in enumerate((before, after)):
            raw = flow(other, now)
            field = _remove_head(raw, lm, head_motion)
            for r, b in enumerate(boxes):
                out[t, side, r] = _roi_stats(field[b], keep[b])
            out[t, side, n_roi] = _roi_stats(field, eyes)
            out[t, side, n_roi + 1] = _roi_stats(raw - field, face)
            out[t, side, n_roi + 2] = _roi_stats(field, rest)
    return out


def frame_features(stats: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """One feature row per frame from the statistics of each scale (module docstring).

    Args:
        stats: scale -> (T, 2, R, 4) from :func:`roi_flow_stats`.

    Returns:
        ``(values, names)``: (T, F) float64 features (NaN where a scale has no flow) and F names,
        ``<scale>/<region>/<side>/<stat>``, ``<scale>/<region>/min_side``, ``<scale>/<region>/cosine``,
        ``<scale>/flow_roi`` (the flow_roi score: the smaller side of the largest ROI value),
        ``<scale>/max_roi``, ``<scale>/mean_roi`` (largest and mean over the ROIs of the smaller side).
    """
    columns, names = [], []
    rois = list(REGIONS)
    for scale in sorted(stats):
        s = np.asarray(stats[scale], np.float64)
        if s.ndim != 4 or s.shape[1:] != (2, len(rois), len(STATS)):
            raise ShapeError(f"stats[{scale!r}] must be (T, 2, {len(rois)}, {len(STATS)}); got {s.shape}.")
        smaller = s[:, :, :, 0].min(axis=1)  # (T, R)
        ub, vb, ua, va = s[:, 0, :, 1], s[:, 0, :, 2], s[:, 1, :, 1], s[:, 1, :, 2]
        cosine = (ub * ua + vb * va) / (np.hypot(ub, vb) * np.hypot(ua, va) + 1e-6)
        for r, roi in enumerate(rois):
            for side, side_name in enumerate(_SIDES):
                for j, stat in enumerate(STATS):
                    columns.append(s[:, side, r, j])
                    names.append(f"{scale}/{roi}/{side_name}/{stat}")
            columns += [smaller[:, r], cosine[:, r]]
            names += [f"{scale}/{roi}/min_side", f"{scale}/{roi}/cosine"]
        n_roi = len(ROI_LANDMARKS)
        columns += [s[:, :, :n_roi, 0].max(axis=2).min(axis=1), smaller[:, :n_roi].max(axis=1),
                    smaller[:, :n_roi].mean(axis=1)]
        names += [f"{scale}/flow_roi", f"{scale}/max_roi", f"{scale}/mean_roi"]
    return np.stack(columns, axis=1), names


def normalise(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Each column but the cosines as ``(x - median) / sigma`` of its own finite values (no labels).

    ``sigma = 1.4826 * MAD``; where the MAD is 0 (a column resting at one value) the standard
    deviation, and 1 when that is 0 too. NaN stays NaN.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ShapeError(f"values must be (T, {len(names)}); got {values.shape}.")
    out = values.copy()
    for j, name in enumerate(names):
        if name.endswith("/cosine"):
            continue
        col = values[:, j]
        finite = col[np.isfinite(col)]
        if not finite.size:
            continue
        median = float(np.median(finite))
        sigma = 1.4826 * float(np.median(np.abs(finite - median)))
        if sigma <= 1e-9:
            sigma = float(finite.std())
        out[:, j] = (col - median) / (sigma if sigma > 1e-9 else 1.0)
    return out


@dataclass
class VideoFeatures:
    """Normalised per-frame features of one video, on its analysed timeline.

    Attributes:
        name: the video.
        fps: frame rate of the analysed timeline (the video's, divided by ``step``).
        step: every ``step``-th frame of the video was analysed (:attr:`SpotConfig.max_fps`).
        n_video_frames: frames of the video itself.
        values: (T, F) float32 normalised features, T = analysed frames; NaN where unknown.
        names: F column names (:func:`frame_features`).
        ks: scale -> comparison distance on the analysed timeline, frames.
        valid: (T,) bool, the frame has every micro-scale (shortest-scale) feature.
        track: face track of the analysed frames.
    """

    name: str
    fps: float
    step: int
    n_video_frames: int
    values: np.ndarray
    names: list[str]
    ks: dict[str, int]
    valid: np.ndarray
    track: FaceTrack

    @property
    def n_frames(self) -> int:
        return len(self.values)


def extract_features(frames: Sequence[np.ndarray], fps: float, config: SpotConfig | None = None, *,
                     name: str = "video", progress: Callable[[str, int, int], None] | None = None) -> VideoFeatures:
    """Track the face and compute the normalised features of every frame (module docstring).

    Args:
        frames: T grey frames (H, W) uint8.
        fps: frames per second.
        config: the flow options (``scales``, windows, ``crop_size``, ``head_motion``, ``flow``,
            ``mask_eyes``, ``detect_every_s``, ``backend``, ``max_fps``) of :class:`SpotConfig`.
        name: the video, for messages.
        progress: called as ``progress(scale, position, n_frames)`` per frame scored.

    Raises:
        ShapeError: the video is shorter than ``2k + 1`` frames of its largest scale.
        FaceNotFoundError: no face in the whole video.
    """
    config = config or SpotConfig()
    if not fps > 0:
        raise ConfigError(f"fps must be positive; got {fps!r}.")
    n_video = len(frames)
    step = math.ceil(fps / config.max_fps) if config.max_fps and fps > config.max_fps else 1
    seq = _Strided(frames, step) if step > 1 else frames
    rate = fps / step
    ks = {s: config.k(s, rate) for s in config.scales}
    if len(seq) < 2 * max(ks.values()) + 1:
        raise ShapeError(f"video {name!r} has {len(seq)} analysed frames; the learnt spotter's features need at "
                         f"least {2 * max(ks.values()) + 1} (frames t-k, t, t+k with k={max(ks.values())}).")
    track = track_face(seq, max(1, int(round(config.detect_every_s * rate))), config.backend, name)
    flow = create_flow(config.flow, preset=config.flow_preset) if config.flow == "dis" else create_flow(config.flow)
    stats = {}
    for scale, k in ks.items():
        tick = None if progress is None else (lambda t, s=scale: progress(s, t * step, n_video))
        stats[scale] = roi_flow_stats(seq, track, k, flow, size=config.crop_size, head_motion=config.head_motion,
                                      mask_eyes=config.mask_eyes, on_frame=tick)
    values, names = frame_features(stats)
    shortest = min(ks, key=ks.get)
    valid = np.isfinite(stats[shortest]).all(axis=(1, 2, 3))
    return VideoFeatures(name, float(rate), step, n_video, normalise(values, names).astype(np.float32), names, ks,
                         valid, track)


def features_from_video(source: str | os.PathLike | FrameSource | Sequence[str], config: SpotConfig | None = None,
                        *, fps: float | None = None, max_side: int = 640,
                        progress: Callable[[str, int, int], None] | None = None) -> VideoFeatures:
    """:func:`extract_features` of a video file, frame folder or FrameSource, streamed as
    :func:`~merkit.motion.spotting.spot_video` reads it (a bounded window of frames, long side
    at most ``max_side`` pixels).

    Raises:
        ConfigError: no frame rate known; and as :func:`extract_features`.
    """
    config = config or SpotConfig()
    frames = open_frames(source, fps=fps, color="gray")
    rate = fps or frames.fps
    if not rate:
        raise ConfigError(f"{frames.name!r} has no frame rate; pass fps= (CLI --fps), e.g. 30 for CAS(ME)^2.")
    n = _decodable_length(frames)
    scale = min(1.0, max_side / max(frames[0].shape[:2]))
    step = math.ceil(rate / config.max_fps) if config.max_fps and rate > config.max_fps else 1
    window = step * (2 * max(config.k(s, float(rate) / step) for s in config.scales) + 2)
    return extract_features(WindowFrames(frames, n, scale, window), float(rate), config, name=frames.name,
                            progress=progress)
