"""Streaming spotting: frames pushed one at a time, intervals out with a bounded delay (``docs/spotting.md``).

:class:`StreamingSpotter` runs the per-frame pipeline of :func:`~merkit.motion.spotting.spot_video`
on a live source: the face tracker (:class:`~merkit.face.track.FaceTracker`, the same detections
and interpolation as the whole-video track), the per-frame scorer
(:class:`~merkit.motion.spotting.framescore.FrameScorer`, the same curves), then three online
steps where the whole-file spotter looks at whole curves:

* **Noise level.** A peak's threshold and strength use the robust statistics of the last
  ``noise_window_s`` seconds of the curve (:class:`_Window`: exact median and
  ``1.4826 * MAD`` of the finite scores, the same rule as :func:`~merkit.motion.spotting.intervals.noise_level`;
  ``relative`` uses the window's mean and max). Until the window spans ``noise_window_s`` it holds
  every score so far. **Warm-up:** a peak judged while the window holds fewer than ``warmup_s``
  seconds of finite scores is not reported (the noise level is not known yet); no peak waits
  for the warm-up, so the latency bound holds from the first frame.
* **Peaks.** Position ``a`` is judged once the scores up to ``a + c`` are known, ``c = k``
  (``2k`` for ``extent="height"``, whose walk reaches ``a + 2k``): it is a peak when it is a local
  maximum above the threshold and no higher candidate lies within ``k - 1`` frames (ties keep the
  earlier). That is :func:`~merkit.motion.spotting.find_peaks`' greedy rule except in a chain of
  three or more rising peaks each within ``k`` of the next, where the greedy rule may keep the
  lowest.
* **Scale merge.** :func:`~merkit.motion.spotting.spot.combine_scales` on the intervals known so
  far; an interval is final once every scale has judged all positions up to its offset plus
  ``H = 2 R`` (``R`` the longest half-extent, ``k`` or ``2k`` of the macro scale), so every interval
  that overlaps it and every macro interval that could hold its apex is known.

**Latency.** With ``d`` the frames between detections, ``δ`` the frames after ``t`` that score
``t`` needs (``k`` for ``flow_roi``, ``2k`` for ``lbp_diff``), an interval is returned by the push
of frame ``offset + latency_frames`` at the latest, with (in analysed frames, times ``step`` for
``max_fps``)::

    latency_frames = (d - 1) + max over scales (δ + c) + H

(default config at 30 fps: ``14 + (18 + 18) + 36 = 86`` frames, 2.9 s). Memory is bounded: the
tracker holds ``d`` frames, the scorer ``2 k + 1`` crops, the peak pickers ``noise_window_s`` of
scores, the merger the intervals of the last ``3 H`` frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import cv2
import numpy as np

from merkit.errors import ConfigError, ShapeError
from merkit.face.track import FaceTracker
from merkit.motion.flow import create_flow
from merkit.motion.spotting.framescore import FrameScorer
from merkit.motion.spotting.intervals import SpottedInterval
from merkit.motion.spotting.spot import SpotConfig, scale_candidates

__all__ = ["StreamingSpotter", "spot_stream"]

log = logging.getLogger(__name__)


class _Window:
    """The last ``size`` scores of a curve (NaN where unknown) and their robust statistics."""

    def __init__(self, size: int) -> None:
        self.values = np.full(max(1, size), np.nan)
        self.count = 0

    def push(self, value: float) -> None:
        self.values[self.count % len(self.values)] = value
        self.count += 1

    def stats(self) -> tuple[int, float, float, float, float]:
        """``(n finite, median, sigma, mean, max)``; sigma by :func:`~.intervals.noise_level`'s rule."""
        finite = self.values[np.isfinite(self.values)]
        if not finite.size:
            return 0, math.nan, math.nan, math.nan, math.nan
        median = float(np.median(finite))
        sigma = 1.4826 * float(np.median(np.abs(finite - median)))
        if sigma <= 1e-12:
            sigma = float(finite.std())
        return int(finite.size), median, max(sigma, 1e-12), float(finite.mean()), float(finite.max())


class _Peaks:
    """Online peak picking and interval extents on one curve (module docstring)."""

    def __init__(self, k: int, fps: float, config: SpotConfig, window: int, warmup: int) -> None:
        self.k, self.fps, self.config, self.warmup = k, fps, config, warmup
        self.reach = 2 * k if config.extent == "height" else max(1, k)   # c: scores after a needed
        self.window = _Window(window)
        self.recent = np.full(4 * k + 8, np.nan)                          # scores by position % size
        self.q = -1                                                       # last position pushed
        self.decided = -1                                                 # every position <= it judged

    def _s(self, j: int) -> float:
        """Score at ``j`` as find_peaks sees it (-inf where unknown or outside the curve)."""
        if j < 0 or j > self.q or j <= self.q - len(self.recent):
            return -math.inf
        v = self.recent[j % len(self.recent)]
        return v if np.isfinite(v) else -math.inf

    def push(self, t: int, score: float) -> list[SpottedInterval]:
        if t != self.q + 1:
            raise ConfigError(f"scores must arrive in order: expected position {self.q + 1}, got {t}.")
        self.q = t
        self.recent[t % len(self.recent)] = score
        self.window.push(score)
        a = t - self.reach
        return self._judge(a) if a >= 0 else []

    def close(self) -> list[SpottedInterval]:
        out = []
        for a in range(max(0, self.decided + 1), self.q + 1):
            out += self._judge(a, final=True)
        return out

    def _local_max(self, j: int) -> bool:
        s = self._s(j)
        return s > -math.inf and s >= self._s(j - 1) and s > self._s(j + 1)

    def _judge(self, a: int, final: bool = False) -> list[SpottedInterval]:
        self.decided = a
        if not self._local_max(a):
            return []
        count, median, sigma, mean, top = self.window.stats()
        if count < max(1, self.warmup):
            return []  # warm-up: the noise level is not known yet
        c = self.config
        level = median + c.threshold_p * sigma if c.threshold == "noise" else mean + c.threshold_p * (top - mean)
        s = self._s(a)
        if not s > level:
            return []
        for j in range(a - self.k + 1, a + self.k):
            if j != a and self._local_max(j) and self._s(j) > level and (
                    self._s(j) > s or (self._s(j) == s and j < a)):
                return []
        k = self.k
        if c.extent == "fixed":
            on, off = max(0, a - k), a + k
        else:
            half = median + c.extent_fraction * (s - median)
            on = a
            while on > max(0, a - 2 * k) and self._s(on - 1) > half:
                on -= 1
            off = a
            while off < a + 2 * k and self._s(off + 1) > half:
                off += 1
        if final:
            off = min(off, self.q)
        duration = (off - on + 1) / self.fps
        return [SpottedInterval(int(on), int(a), int(off), float(s), float((s - median) / sigma),
                                "micro" if duration <= c.micro_max_s else "macro")]


class _Merger:
    """:func:`combine_scales` on the intervals known so far; releases those that can no longer change."""

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.known: dict[str, list[SpottedInterval]] = {"micro": [], "macro": []}
        self.kept: list[SpottedInterval] = []     # final and reported (recent ones)
        self.final: set[tuple[str, int]] = set()  # keys of final intervals, kept or dropped

    @property
    def n_buffered(self) -> int:
        return sum(len(v) for v in self.known.values()) + len(self.kept) + len(self.final)

    def add(self, scale: str, interval: SpottedInterval) -> None:
        self.known[scale].append(interval)

    def release(self, frontier: int | None) -> list[SpottedInterval]:
        """Final intervals: offset + horizon <= frontier (every one when ``frontier`` is None)."""
        def due(scale: str, i: SpottedInterval) -> bool:
            return (scale, i.apex) not in self.final and (frontier is None or i.offset + self.horizon <= frontier)

        if not any(due(s, i) for s, lst in self.known.items() for i in lst):
            return []
        micro, macro = self.known["micro"], self.known["macro"]
        scale_of = {id(i): "micro" for i in micro} | {id(i): "macro" for i in macro}
        chosen = [i for i in scale_candidates(micro, macro)
                  if (scale_of[id(i)], i.apex) not in self.final]
        kept = list(self.kept)
        for cand in sorted(chosen, key=lambda i: -i.strength):
            if all(cand.offset < i.onset or cand.onset > i.offset for i in kept):
                kept.append(cand)
        kept_ids = {id(i) for i in kept}
        out = []
        for scale, lst in self.known.items():
            for i in lst:
                if due(scale, i):
                    self.final.add((scale, i.apex))
                    if id(i) in kept_ids:
                        out.append(i)
        self.kept += out
        if frontier is not None:
            self._prune(frontier - 3 * self.horizon)
        return sorted(out, key=lambda i: i.onset)

    def _prune(self, before: int) -> None:
        """Forget what ends before ``before``: no interval still open can depend on it."""
        for scale in self.known:
            gone = [i for i in self.known[scale] if i.offset < before]
            self.known[scale] = [i for i in self.known[scale] if i.offset >= before]
            self.final -= {(scale, i.apex) for i in gone}
        self.kept = [i for i in self.kept if i.offset >= before]


class StreamingSpotter:
    """Spot expressions in frames pushed one at a time; memory independent of the stream's length.

    The same options as :func:`~merkit.motion.spotting.spot_video` (:class:`SpotConfig`: both
    methods, both scales, ``max_fps``, thresholds, extents, the scale merge, ``crops``,
    ``detect_mode``) plus the online noise estimate (``noise_window_s``, ``warmup_s``); the module
    docstring gives the rules and the latency bound.

    Args:
        config: options (default :class:`SpotConfig`).
        fps: frame rate of the stream, frames per second.
        name: the stream, for messages.
        max_side: frames are downscaled so that their long side is at most this, pixels
            (as :func:`spot_video`).
        on_score: called as ``on_score(scale, position, score)`` for every score as it becomes
            known, in order (position counted over the frames pushed; NaN where no face), e.g. for
            a live plot; the scores are those of :attr:`SpotResult.curves` of :func:`spot_video`.

    Example:
        >>> spotter = StreamingSpotter(SpotConfig(), fps=30.0)  # doctest: +SKIP
        >>> for frame in camera:  # doctest: +SKIP
        ...     for interval in spotter.push(frame):
        ...         print(interval.onset, interval.apex, interval.offset, interval.kind)
        >>> spotter.close()  # doctest: +SKIP
    """

    def __init__(self, config: SpotConfig | None = None, fps: float = 30.0, *, name: str = "stream",
                 max_side: int = 640, on_score: Callable[[str, int, float], None] | None = None) -> None:
        self.config = config or SpotConfig()
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ConfigError(f"fps must be a positive number of frames per second; got {fps!r}.")
        if int(max_side) < 16:
            raise ConfigError(f"max_side must be at least 16 pixels; got {max_side!r}.")
        c = self.config
        self.fps, self.name, self.max_side, self.on_score = float(fps), name, int(max_side), on_score
        self.step = math.ceil(fps / c.max_fps) if c.max_fps and fps > c.max_fps else 1
        rate = self.fps / self.step
        self.ks = {s: c.k(s, rate) for s in c.scales}
        self._tracker = FaceTracker(max(1, int(round(c.detect_every_s * rate))), c.backend, name,
                                    detect_mode=c.detect_mode)
        flow = None
        if c.method == "flow_roi":
            flow = create_flow(c.flow, preset=c.flow_preset) if c.flow == "dis" else create_flow(c.flow)
        self._scorer = FrameScorer(self.ks, method=c.method, crops=c.crops, flow=flow, size=c.crop_size,
                                   head_motion=c.head_motion, measure=c.roi_measure, pooling=c.roi_pooling,
                                   mask_eyes=c.mask_eyes, lbp_grid=c.lbp_grid, realign_px=c.realign_px)
        window = max(1, int(round(c.noise_window_s * rate)))
        warmup = int(round(c.warmup_s * rate))
        self._peaks = {s: _Peaks(k, rate, c, window, warmup) for s, k in self.ks.items()}
        self.half_extent = max((2 * k if c.extent == "height" else k) for k in self.ks.values())
        self._merger = _Merger(2 * self.half_extent)
        self._n = 0
        self._shape: tuple[int, ...] | None = None
        self._scale = 1.0
        self._closed = False

    # -- contract ----------------------------------------------------------------------------------

    @property
    def latency_frames(self) -> int:
        """Every interval is returned at the latest by the push() of frame ``offset + latency_frames``."""
        reach = max(self._scorer.delays[s] + self._peaks[s].reach for s in self.ks)
        return (self._tracker.delay_frames + reach + self._merger.horizon) * self.step

    @property
    def max_interval_frames(self) -> int:
        """Longest interval it can report, frames (for callers that buffer frames)."""
        return (2 * self.half_extent + 1) * self.step

    @property
    def n_frames(self) -> int:
        """Frames pushed so far."""
        return self._n

    @property
    def n_buffered(self) -> int:
        """Frames, scores and intervals held inside (bounded whatever the stream's length)."""
        return (self._tracker.n_pending + self._scorer.n_buffered + self._merger.n_buffered
                + sum(len(p.window.values) + len(p.recent) for p in self._peaks.values()))

    def push(self, frame: np.ndarray) -> list[SpottedInterval]:
        """One uint8 frame, grey (H, W) or RGB (H, W, 3), in order. Returns the intervals that became
        final with this frame (0-based positions counted over the frames pushed), sorted by onset.

        Raises:
            ShapeError: not a uint8 (H, W) / (H, W, 3) array, or a size other than the first frame's.
            FaceNotFoundError: never (a stream without a face is reported by :meth:`close`).
        """
        if self._closed:
            raise ConfigError(f"StreamingSpotter {self.name!r} is closed; create a new one for another stream.")
        index = self._n
        grey = self._prepare(frame, index)
        self._n += 1
        if index % self.step:
            return []
        for tracked in self._tracker.push(grey):
            self._score(self._scorer.push(tracked))
        frontier = min(p.decided for p in self._peaks.values())
        return self._out(self._merger.release(frontier), final=False)

    def close(self) -> list[SpottedInterval]:
        """End of stream: the intervals still pending.

        Raises:
            FaceNotFoundError: no face was found in any checked frame of the stream.
        """
        if self._closed:
            return []
        self._closed = True
        if self._n == 0:
            return []
        for tracked in self._tracker.close():
            self._score(self._scorer.push(tracked))
        self._score(self._scorer.close())
        for scale, peaks in self._peaks.items():
            for interval in peaks.close():
                self._merger.add(scale, interval)
        return self._out(self._merger.release(None), final=True)

    # -- inside --------------------------------------------------------------------------------------

    def _prepare(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Grey, downscaled to ``max_side``; checks type and size against the first frame."""
        arr = np.asarray(frame)
        if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise ShapeError(f"{self.name} frame {index}: expected a uint8 (H, W) grey or (H, W, 3) RGB frame; "
                             f"got shape {arr.shape} dtype {arr.dtype}.")
        if self._shape is None:
            self._shape = arr.shape
            self._scale = min(1.0, self.max_side / max(arr.shape[:2]))
        elif arr.shape != self._shape:
            raise ShapeError(f"{self.name} frame {index}: shape {arr.shape} differs from the first frame's "
                             f"{self._shape}; every frame of a stream must have one size.")
        if index % self.step:
            return arr
        grey = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY) if arr.ndim == 3 else arr
        if self._scale < 1:
            h, w = grey.shape
            grey = cv2.resize(grey, (max(8, round(w * self._scale)), max(8, round(h * self._scale))),
                              interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(grey)

    def _score(self, scores: dict[str, list[tuple[int, float]]]) -> None:
        """New scores -> each scale's peak picker -> its decided intervals to the merger."""
        for scale, values in scores.items():
            for t, value in values:
                if self.on_score is not None:
                    self.on_score(scale, t * self.step, value)
                for interval in self._peaks[scale].push(t, value):
                    self._merger.add(scale, interval)

    def _out(self, intervals: list[SpottedInterval], final: bool) -> list[SpottedInterval]:
        """Positions of the analysed frames -> positions of the frames pushed (``max_fps``)."""
        if self.step == 1:
            return sorted(intervals, key=lambda i: i.onset)
        last = self._n - 1
        out = [replace(i, onset=i.onset * self.step, apex=i.apex * self.step,
                       offset=min(last, i.offset * self.step + self.step - 1) if final else
                       i.offset * self.step + self.step - 1) for i in intervals]
        return sorted(out, key=lambda i: i.onset)


def spot_stream(frames: Iterable[np.ndarray], config: SpotConfig | None = None, fps: float = 30.0,
                **kwargs) -> Iterator[SpottedInterval]:
    """Spot an iterable of frames lazily: yields each interval as soon as it is final.

    Args:
        frames: uint8 frames, grey (H, W) or RGB (H, W, 3), in order.
        config: options (default :class:`SpotConfig`).
        fps: frame rate, frames per second.
        **kwargs: :class:`StreamingSpotter` keywords (``name``, ``max_side``, ``on_score``).

    Yields:
        :class:`SpottedInterval` in the order they become final (onsets increase within one push).
    """
    spotter = StreamingSpotter(config, fps, **kwargs)
    for frame in frames:
        yield from spotter.push(frame)
    yield from spotter.close()
