"""``spot_video``: a face video in, per-frame motion scores and expression intervals out.

Steps: read the frames (grey), track the face (:mod:`.track`: dlib every
``detect_every_s`` seconds), compute one score curve per scale (``micro`` with
``k = round(micro_window_s * fps / 2)``, ``macro`` with ``macro_window_s``) by the
chosen method (:mod:`.scores`), pick peaks on each curve (:mod:`.intervals`), merge the
two curves' intervals (:func:`combine_scales`) and call each micro or macro by its duration.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
import pandas as pd

from merkit.data.frames import FrameSource, VideoFile, open_frames
from merkit.errors import ConfigError, FrameReadError, ShapeError
from merkit.face.track import DETECT_MODES, FaceTrack, FaceTracker, track_face
from merkit.motion.flow import FlowMethod, create_flow
from merkit.motion.spotting.framescore import CROP_MODES, FrameScorer
from merkit.motion.spotting.intervals import EXTENTS, THRESHOLDS, SpottedInterval, peak_intervals
from merkit.motion.spotting.scores import (
    HEAD_MOTION_MODES,
    ROI_MEASURES,
    ROI_POOLINGS,
    flow_roi_curve,
    lbp_difference_curve,
)

__all__ = ["SpotConfig", "SpotResult", "SPOT_METHODS", "WindowFrames", "spot_video", "spot_frames", "combine_scales",
           "scale_candidates"]

log = logging.getLogger(__name__)

#: Spotting methods: optical-flow ROI magnitude, LBP feature difference.
SPOT_METHODS = ("flow_roi", "lbp_diff")


@dataclass(frozen=True)
class SpotConfig:
    """Every option of :func:`spot_video` (times in seconds).

    Attributes:
        method: ``"flow_roi"`` or ``"lbp_diff"`` (:mod:`merkit.motion.spotting.scores`).
        scales: which curves to compute, a subset of ``("micro", "macro")``.
        micro_window_s: typical micro-expression length; ``k = round(window * fps / 2)``.
        macro_window_s: typical macro-expression length, for the macro curve.
        threshold: ``"relative"`` (MEGC: ``mean + p * (max - mean)``) or ``"noise"``
            (``median + p * sigma``), per curve (:mod:`.intervals`).
        threshold_p: ``p`` of the threshold (a fraction for relative, noise levels for noise).
        extent: ``"fixed"`` (peak +- k) or ``"height"`` (:mod:`.intervals`).
        extent_fraction: ``height`` only: fraction of the peak height marking onset and offset.
        micro_max_s: longest interval still called micro.
        crop_size: face crop side, pixels.
        detect_every_s: time between two face detections.
        backend: face backend.
        flow: flow method name (flow_roi) and ``flow_preset`` its DIS preset.
        head_motion: head-motion removal of flow_roi (``nose``, ``affine``, ``median``, ``none``).
        roi_measure, roi_pooling: flow_roi ROI measure and pooling.
        lbp_grid: lbp_diff blocks per side.
        mask_eyes: leave the eyes out (blinks).
        max_fps: analyse every ``step``-th frame, ``step = ceil(fps / max_fps)``, when the video is
            faster (SAMM-LV's 200 fps with ``max_fps=50``: a quarter of the flows); curves and
            intervals are mapped back to every frame. None uses all frames.
        crops: ``"per_frame"`` (default): each frame warped once into the crop of its own track
            landmarks, one flow ``t - k -> t`` per frame and scale serving as the before side of ``t``
            and the after side of ``t - k``, the video read in one pass with the tracker; ``"triplet"``
            (the earlier scorer): frames ``t - k``, ``t``, ``t + k`` cropped with frame ``t``'s
            alignment, two flows per frame and scale (:func:`flow_roi_curve`). :mod:`.framescore`;
            the two measured in ``docs/spotting.md``, "Speed".
        realign_px: ``per_frame`` only: a crop keeps the alignment in use while the track's
            landmarks stay within this many crop pixels (mean) of where their own alignment puts
            them, so that consecutive crops share one resampling (a new sub-pixel warp per frame
            adds flow noise) and the affine fit removes the head's motion in between; 0 aligns
            every frame on its own landmarks.
        detect_mode: where the face detector looks: ``"near_last"`` (default: a region around the
            last face, resized so the face is about 110 px, the whole frame as fallback) or
            ``"full"`` (the whole frame, the earlier behaviour); :mod:`merkit.face.track`.
        noise_window_s: streaming only (:class:`~merkit.motion.spotting.StreamingSpotter`): a peak's
            threshold and strength use the median and MAD of the last ``noise_window_s`` seconds of
            its curve (the whole-file spotter uses the whole curve).
        warmup_s: streaming only: a peak judged while its curve holds fewer than ``warmup_s`` seconds
            of finite scores is not reported (the noise level is not known yet).
    """

    method: str = "flow_roi"
    scales: tuple[str, ...] = ("micro", "macro")
    micro_window_s: float = 0.4
    macro_window_s: float = 1.2
    threshold: str = "noise"
    threshold_p: float = 5.0
    extent: str = "fixed"
    extent_fraction: float = 0.25
    micro_max_s: float = 0.5
    crop_size: int = 128
    detect_every_s: float = 0.5
    backend: str = "dlib"
    flow: str = "dis"
    flow_preset: str = "fast"
    head_motion: str = "affine"
    roi_measure: str = "main_direction"
    roi_pooling: str = "max"
    lbp_grid: int = 6
    mask_eyes: bool = True
    max_fps: float | None = None
    crops: str = "per_frame"
    realign_px: float = 8.0
    detect_mode: str = "near_last"
    noise_window_s: float = 60.0
    warmup_s: float = 1.0

    def __post_init__(self) -> None:
        for name, value, choices in (("method", self.method, SPOT_METHODS), ("extent", self.extent, EXTENTS),
                                     ("threshold", self.threshold, THRESHOLDS),
                                     ("head_motion", self.head_motion, HEAD_MOTION_MODES),
                                     ("roi_measure", self.roi_measure, ROI_MEASURES),
                                     ("roi_pooling", self.roi_pooling, ROI_POOLINGS),
                                     ("crops", self.crops, CROP_MODES),
                                     ("detect_mode", self.detect_mode, DETECT_MODES)):
            if value not in choices:
                raise ConfigError(f"SpotConfig.{name} must be one of {sorted(choices)!r}; got {value!r}.")
        if not self.scales or set(self.scales) - {"micro", "macro"}:
            raise ConfigError(
                f"SpotConfig.scales must be a non-empty subset of ('micro', 'macro'); got {self.scales!r}.")
        for name in ("micro_window_s", "macro_window_s", "micro_max_s", "detect_every_s", "noise_window_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"SpotConfig.{name} must be positive seconds; got {getattr(self, name)!r}.")
        if not self.realign_px >= 0:
            raise ConfigError(f"SpotConfig.realign_px must be >= 0 crop pixels; got {self.realign_px!r}.")
        if not self.warmup_s >= 0:
            raise ConfigError(f"SpotConfig.warmup_s must be >= 0 seconds; got {self.warmup_s!r}.")
        if self.max_fps is not None and not self.max_fps > 0:
            raise ConfigError(f"SpotConfig.max_fps must be positive or None; got {self.max_fps!r}.")
        if not self.threshold_p >= 0 or (self.threshold == "relative" and self.threshold_p > 1):
            raise ConfigError(f"SpotConfig.threshold_p must be in [0, 1] (relative) or >= 0 noise levels (noise); "
                              f"got {self.threshold_p!r}.")

    def k(self, scale: str, fps: float) -> int:
        """Comparison distance of ``scale`` at ``fps``, frames (>= 1)."""
        window = self.micro_window_s if scale == "micro" else self.macro_window_s
        return max(1, int(round(window * fps / 2)))


@dataclass
class SpotResult:
    """What :func:`spot_video` found.

    Attributes:
        name: the video (path).
        fps: frame rate used.
        frame_names: one name per frame (file name or ``video#i``).
        curves: scale -> (T,) score curve (NaN where unknown).
        ks: scale -> comparison distance in frames.
        track: the face track.
        intervals: spotted intervals, sorted by onset (0-based positions).
        config: the options used.
        seconds: wall time.
    """

    name: str
    fps: float
    frame_names: list[str]
    curves: dict[str, np.ndarray]
    ks: dict[str, int]
    track: FaceTrack
    intervals: list[SpottedInterval]
    config: SpotConfig
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.frame_names)

    def megc_rows(self, vid: str, first_frame: int = 0) -> list[tuple[str, int, int, str]]:
        """``(vid, pred_onset, pred_offset, type)`` rows; frame numbers = position + ``first_frame``."""
        return [(vid, i.onset + first_frame, i.offset + first_frame, i.kind) for i in self.intervals]

    def per_frame(self) -> Any:
        """DataFrame: frame, name, face_present, face_detected, face_confidence, score_<scale>, in_interval."""
        inside = np.zeros(self.n_frames, bool)
        for i in self.intervals:
            inside[i.onset:i.offset + 1] = True
        data = {"frame": np.arange(self.n_frames), "name": self.frame_names, "face_present": self.track.present,
                "face_detected": self.track.detected, "face_confidence": np.round(self.track.confidence, 3)}
        for scale, curve in self.curves.items():
            data[f"score_{scale}"] = np.round(curve, 6)
        data["in_interval"] = inside
        return pd.DataFrame(data)


def combine_scales(micro: list[SpottedInterval], macro: list[SpottedInterval]) -> list[SpottedInterval]:
    """Merge the intervals of the micro curve (small k) and of the macro curve (large k).

    A long expression shows on the micro curve as two peaks, its rise and its fall, and on
    the macro curve as one peak at its apex; a short one shows as one peak on both. So a
    macro-curve interval holding the apexes of two or more micro-curve intervals replaces
    them; one holding a single micro-curve apex gives way to it (the short scale places a
    short expression better); one holding none is kept. Remaining overlaps keep the
    stronger interval.
    """
    kept: list[SpottedInterval] = []
    for cand in sorted(scale_candidates(micro, macro), key=lambda i: -i.strength):
        if all(cand.offset < i.onset or cand.onset > i.offset for i in kept):
            kept.append(cand)
    return kept


def scale_candidates(micro: list[SpottedInterval], macro: list[SpottedInterval]) -> list[SpottedInterval]:
    """:func:`combine_scales`' first step: the intervals that compete for overlaps, in its order."""
    chosen: list[SpottedInterval] = []
    dropped: set[int] = set()
    for m in macro:
        inside = [j for j, i in enumerate(micro) if m.onset <= i.apex <= m.offset]
        if len(inside) >= 2:
            dropped.update(inside)
            chosen.append(m)
        elif not inside:
            chosen.append(m)
    return chosen + [i for j, i in enumerate(micro) if j not in dropped]


def spot_frames(frames: Sequence[np.ndarray], fps: float, config: SpotConfig | None = None, *,
                name: str = "video", frame_names: Sequence[str] | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> SpotResult:
    """Spot expressions in decoded grey frames.

    Args:
        frames: T frames, (H, W) uint8 grey.
        fps: frames per second.
        config: options (default :class:`SpotConfig`).
        name: the video, for messages.
        frame_names: per-frame names for the per-frame table.
        progress: called as ``progress(curve, position, n_frames)`` for every frame scored.

    Returns:
        :class:`SpotResult`.

    Raises:
        ShapeError: the video is shorter than the micro curve needs (``2k + 1`` frames).
        FaceNotFoundError: no face in the whole video.
    """
    config = config or SpotConfig()
    if not fps > 0:
        raise ConfigError(f"fps must be positive; got {fps!r}. Pass --fps for a frame folder.")
    step = math.ceil(fps / config.max_fps) if config.max_fps and fps > config.max_fps else 1
    if step == 1:
        return _spot_all(frames, fps, config, name, frame_names, progress)
    n = len(frames)
    sub = _spot_all(_Strided(frames, step), fps / step, config, name, None,
                    None if progress is None else (lambda c, t, m: progress(c, t * step, n)))
    return _expand(sub, step, n, fps, name, frame_names)


class _Strided(Sequence[np.ndarray]):
    """Every ``step``-th frame of a sequence (read in order, so a streamed video stays sequential)."""

    def __init__(self, frames: Sequence[np.ndarray], step: int) -> None:
        self.frames, self.step = frames, step

    def __len__(self) -> int:
        return (len(self.frames) + self.step - 1) // self.step

    def __getitem__(self, i):  # type: ignore[override]
        return self.frames[i * self.step]


def _expand(sub: SpotResult, step: int, n: int, fps: float, name: str,
            frame_names: Sequence[str] | None) -> SpotResult:
    """Map a result computed on every ``step``-th frame back to all ``n`` frames."""
    def spread(a: np.ndarray) -> np.ndarray:
        return np.repeat(a, step, axis=0)[:n]

    track = FaceTrack(spread(sub.track.landmarks), spread(sub.track.present), np.zeros(n, bool),
                      np.zeros(n, bool), spread(sub.track.confidence))
    track.detected[::step] = sub.track.detected
    track.checked[::step] = sub.track.checked
    intervals = [replace(i, onset=i.onset * step, apex=i.apex * step, offset=min(n - 1, i.offset * step + step - 1))
                 for i in sub.intervals]
    names = list(frame_names) if frame_names is not None else [f"{name}#{i}" for i in range(n)]
    return SpotResult(name, float(fps), names, {s: spread(c) for s, c in sub.curves.items()},
                      {s: k * step for s, k in sub.ks.items()}, track, intervals, sub.config, sub.seconds,
                      {"step": step})


def _spot_all(frames: Sequence[np.ndarray], fps: float, config: SpotConfig, name: str,
              frame_names: Sequence[str] | None, progress: Callable[[str, int, int], None] | None) -> SpotResult:
    """:func:`spot_frames` on every frame given."""
    start = time.perf_counter()
    n = len(frames)
    ks = {s: config.k(s, fps) for s in config.scales}
    shortest = min(ks.values())
    if n < 2 * shortest + 1:
        raise ShapeError(f"video {name!r} has {n} frames; spotting at {fps:g} fps needs at least {2 * shortest + 1} "
                         f"(frames t-k, t, t+k with k={shortest}). Use a longer video.")
    for scale in list(ks):
        if n < 2 * ks[scale] + 1:
            log.warning("%s: %d frames are too few for the %s curve (k=%d); it is skipped", name, n, scale, ks[scale])
            del ks[scale]
    flow = create_flow(config.flow, preset=config.flow_preset) if config.flow == "dis" else create_flow(config.flow)
    if config.crops == "per_frame":
        track, curves = _per_frame_curves(frames, fps, ks, config, flow, name, progress)
    else:
        track = track_face(frames, max(1, int(round(config.detect_every_s * fps))), config.backend, name,
                           detect_mode=config.detect_mode)
        curves = {}
    found = {}
    for scale, k in ks.items():
        tick = None if progress is None else (lambda t, s=scale: progress(s, t, n))
        if scale in curves:
            pass  # per_frame: computed in the one pass above
        elif config.method == "flow_roi":
            curves[scale] = flow_roi_curve(frames, track, k, flow, size=config.crop_size,
                                           head_motion=config.head_motion, measure=config.roi_measure,
                                           pooling=config.roi_pooling, mask_eyes=config.mask_eyes, on_frame=tick)
        else:
            curves[scale] = lbp_difference_curve(frames, track, k, size=config.crop_size, grid=config.lbp_grid,
                                                 mask_eyes=config.mask_eyes, on_frame=tick)
        found[scale] = peak_intervals(curves[scale], k, fps, p=config.threshold_p, threshold=config.threshold,
                                extent=config.extent, extent_fraction=config.extent_fraction,
                                micro_max_s=config.micro_max_s)
    kept = combine_scales(found.get("micro", []), found.get("macro", []))
    names = list(frame_names) if frame_names is not None else [f"{name}#{i}" for i in range(n)]
    return SpotResult(name, float(fps), names, curves, ks, track, sorted(kept, key=lambda i: i.onset), config,
                      time.perf_counter() - start)


def _per_frame_curves(frames: Sequence[np.ndarray], fps: float, ks: dict[str, int], config: SpotConfig,
                      flow: FlowMethod, name: str, progress: Callable[[str, int, int], None] | None
                      ) -> tuple[FaceTrack, dict[str, np.ndarray]]:
    """One pass in order: the streaming tracker and the per-frame scorer (what the streaming spotter runs)."""
    n = len(frames)
    tracker = FaceTracker(max(1, int(round(config.detect_every_s * fps))), config.backend, name,
                          detect_mode=config.detect_mode)
    scorer = FrameScorer(ks, method=config.method, crops="per_frame", flow=flow, size=config.crop_size,
                         head_motion=config.head_motion, measure=config.roi_measure, pooling=config.roi_pooling,
                         mask_eyes=config.mask_eyes, lbp_grid=config.lbp_grid, realign_px=config.realign_px,
                         on_score=None if progress is None else (lambda s, t: progress(s, t, n)))
    curves = {s: np.full(n, np.nan) for s in ks}
    landmarks = np.empty((n, 68, 2), np.float32)
    flags = np.zeros((3, n), bool)
    confidence = np.full(n, np.nan, np.float32)

    def take(done: dict[str, list[tuple[int, float]]]) -> None:
        for scale, values in done.items():
            for t, value in values:
                curves[scale][t] = value

    def tracked(items) -> None:
        for item in items:
            landmarks[item.index] = item.landmarks
            flags[:, item.index] = item.present, item.detected, item.checked
            confidence[item.index] = item.confidence
            take(scorer.push(item))

    for i in range(n):
        tracked(tracker.push(frames[i]))
    tracked(tracker.close())
    take(scorer.close())
    return FaceTrack(landmarks, flags[0], flags[1], flags[2], confidence), curves


class WindowFrames(Sequence[np.ndarray]):
    """Grey frames of a :class:`FrameSource`, downscaled, decoded in order, kept only in a sliding window.

    Spotting reads frames nearly in order (``t - k``, ``t``, ``t + k`` for increasing ``t``),
    so holding the last ``window`` decoded frames bounds memory whatever the video's length;
    going back further re-reads from the source (a video re-decodes from its start).

    Args:
        source: grey frame source.
        n_frames: frames to expose (the decodable count, see :func:`spot_video`).
        scale: resize factor applied to every frame (<= 1).
        window: frames kept.
    """

    def __init__(self, source: FrameSource, n_frames: int, scale: float, window: int) -> None:
        self.source, self.n, self.scale, self.window = source, n_frames, scale, max(1, window)
        self.cache: dict[int, np.ndarray] = {}
        self._next = 0

    def __len__(self) -> int:
        return self.n

    def _load(self, i: int) -> np.ndarray:
        frame = self.source[i]
        if self.scale < 1:
            h, w = frame.shape[:2]
            frame = cv2.resize(frame, (max(8, round(w * self.scale)), max(8, round(h * self.scale))),
                               interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not 0 <= i < self.n:
            raise IndexError(f"frame {i} is out of range for {self.source.name!r} with {self.n} frames.")
        if i in self.cache:
            return self.cache[i]
        if i < self._next:
            self._next = i  # behind what was read: read again from there
        while self._next <= i:
            self.cache[self._next] = self._load(self._next)
            self._next += 1
        for old in [j for j in self.cache if not self._next - self.window <= j < self._next]:
            del self.cache[old]
        return self.cache[i]


def _decodable_length(frames: FrameSource) -> int:
    """Frames that really decode: a video header may announce more than the stream holds."""
    if not isinstance(frames, VideoFile):
        return len(frames)
    count = 0
    try:
        for _ in frames:
            count += 1
    except FrameReadError as exc:
        if count == 0:
            raise
        log.warning("%s: %s; spotting the %d frames that decode", frames.name, exc, count)
    return count


def spot_video(source: str | os.PathLike | FrameSource | Sequence[str], config: SpotConfig | None = None, *,
               fps: float | None = None, max_side: int = 640,
               progress: Callable[[str, int, int], None] | None = None) -> SpotResult:
    """Spot expressions in a video file, a frame folder or a list of frame files.

    Frames are read in order and only a window of them is kept (:class:`WindowFrames`),
    downscaled so that their long side is at most ``max_side`` pixels, so memory does not
    grow with the video's length. A video whose header announces more frames than decode
    is spotted on the frames that do (``result.extra['header_frames']`` keeps the claim).
    With ``crops="per_frame"`` a video file is decoded once (the frames are counted first only
    when the header turns out wrong); ``triplet`` counts them first, then reads twice.

    Args:
        source: video file (mp4, avi, ...), folder of frames (numeric order) or a FrameSource.
        config: options (default :class:`SpotConfig`).
        fps: frame rate (required for frame folders; overrides a video's own rate).
        max_side: longest frame side used for detection and scores, pixels.
        progress: see :func:`spot_frames`.

    Returns:
        :class:`SpotResult` (positions are those of the source's frames).

    Raises:
        DatasetNotFoundError: the path does not exist.
        FrameReadError: unreadable or unsupported file.
        ConfigError: no frame rate known.
        ShapeError: video too short; FaceNotFoundError: no face in the whole video.
    """
    config = config or SpotConfig()
    frames = open_frames(source, fps=fps, color="gray")
    rate = fps or frames.fps
    if not rate:
        raise ConfigError(f"{frames.name!r} has no frame rate; pass fps= (CLI --fps), e.g. 30 for CAS(ME)^2.")
    first = frames[0]
    scale = min(1.0, max_side / max(first.shape[:2]))
    window = 2 * max(config.k(s, float(rate)) for s in config.scales) + 2

    def run(n: int) -> SpotResult:
        names = [frames.frame_name(i) for i in range(n)]
        return spot_frames(WindowFrames(frames, n, scale, window), float(rate), config, name=frames.name,
                           frame_names=names, progress=progress)

    if config.crops == "per_frame" and isinstance(frames, VideoFile):
        # one pass reads the video in order: trust the header, and count the frames only if it lied
        try:
            result = run(len(frames))
        except FrameReadError:
            result = run(_decodable_length(frames))
    else:
        result = run(_decodable_length(frames))
    result.extra.update(header_frames=len(frames), scale=scale)
    return result

