"""From a per-frame score curve to expression intervals (MEGC-baseline peak picking).

A frame is a peak when its score is a local maximum above the curve's threshold;
peaks closer than ``min_distance`` frames keep the higher one. Thresholds (``threshold=``):

* ``"relative"``: ``mean + p * (max - mean)``, the MEGC 2018-2020 spotting baseline's rule
  (``p`` in [0, 1]); one strong macro-expression in a video then hides its micro-expressions;
* ``"noise"``: ``median + z * sigma`` with ``sigma = 1.4826 * MAD`` (the median absolute
  deviation scaled to a Gaussian sd): a peak must stand ``z`` noise levels above the
  curve's resting level, whatever else happens in the video.

Each peak gives an interval with apex = the peak and onset/offset chosen by ``extent``:

* ``"fixed"``: ``peak - k .. peak + k`` (the baseline: ``k`` is the comparison distance);
* ``"height"``: walk out from the peak while the score stays above ``extent_fraction`` of
  its height over the curve's median, at most ``2k`` frames each side (follows the
  expression's own length; for a raised-cosine expression a fraction of 0.25 keeps about
  two thirds of it).

``strength`` is the peak's height in noise units, ``(score - median) / sigma``, so peaks
of different curves can be ranked together.

An interval is ``micro`` when it lasts at most ``micro_max_s`` seconds, else ``macro``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from merkit.errors import ConfigError, ShapeError

__all__ = ["SpottedInterval", "find_peaks", "peak_intervals", "EXTENTS", "THRESHOLDS", "noise_level"]

#: Ways to place onset and offset around a peak (module docstring).
EXTENTS = ("fixed", "height")
#: Peak thresholds (module docstring).
THRESHOLDS = ("relative", "noise")


@dataclass(frozen=True)
class SpottedInterval:
    """One spotted expression (0-based frame positions, inclusive).

    Attributes:
        onset, apex, offset: positions in the video.
        score: the curve's value at the apex.
        strength: ``(score - median) / sigma`` of its curve (noise units), comparable across curves.
        kind: ``'micro'`` or ``'macro'`` (by duration).
    """

    onset: int
    apex: int
    offset: int
    score: float
    strength: float
    kind: str


def noise_level(score: np.ndarray) -> tuple[float, float]:
    """``(median, sigma)`` of the finite values of a curve, ``sigma = 1.4826 * MAD`` (> 0).

    A curve that rests at exactly one value more than half of the time (the clipped LBP
    contrast rests at 0) has MAD 0; its standard deviation is used instead.
    """
    values = np.asarray(score, np.float64)
    values = values[np.isfinite(values)]
    median = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - median)))
    if sigma <= 1e-12:
        sigma = float(values.std())
    return median, max(sigma, 1e-12)


def find_peaks(score: np.ndarray, p: float, min_distance: int, threshold: str = "relative") -> tuple[np.ndarray, float]:
    """Local maxima above the threshold (module docstring); returns (positions, threshold value).

    Args:
        score: (T,) float, NaN where no score exists (no face); NaNs are ignored.
        p: ``relative``: fraction in [0, 1]; ``noise``: number of noise levels ``z`` (> 0).
        min_distance: least distance between two kept peaks, frames.
        threshold: ``"relative"`` or ``"noise"``.
    """
    if threshold not in THRESHOLDS:
        raise ConfigError(f"threshold must be one of {list(THRESHOLDS)!r}; got {threshold!r}.")
    score = np.asarray(score, np.float64)
    if score.ndim != 1:
        raise ShapeError(f"score must be a 1-D curve (T,); got shape {score.shape}.")
    if threshold == "relative" and not 0 <= p <= 1:
        raise ConfigError(f"threshold p must be in [0, 1] for the relative threshold; got {p!r}.")
    if threshold == "noise" and not p > 0:
        raise ConfigError(f"threshold z must be > 0 noise levels for the noise threshold; got {p!r}.")
    valid = np.isfinite(score)
    if not valid.any():
        return np.zeros(0, int), float("nan")
    if threshold == "relative":
        mean, top = float(score[valid].mean()), float(score[valid].max())
        level = mean + p * (top - mean)
    else:
        median, sigma = noise_level(score)
        level = median + p * sigma
    s = np.where(valid, score, -np.inf)
    left = np.concatenate([[-np.inf], s[:-1]])
    right = np.concatenate([s[1:], [-np.inf]])
    candidates = np.flatnonzero((s >= left) & (s > right) & (s > level))
    kept: list[int] = []
    for i in sorted(candidates, key=lambda i: -s[i]):
        if all(abs(i - j) >= min_distance for j in kept):
            kept.append(int(i))
    return np.array(sorted(kept), int), level


def peak_intervals(score: np.ndarray, k: int, fps: float, *, p: float = 0.5, threshold: str = "relative",
                   extent: str = "fixed", extent_fraction: float = 0.25,
                   micro_max_s: float = 0.5) -> list[SpottedInterval]:
    """Intervals around the peaks of ``score`` (module docstring).

    Args:
        score: (T,) per-frame score (NaN where unknown).
        k: comparison distance of the curve, frames (peaks closer than ``k`` are merged).
        fps: frames per second (for the micro/macro split).
        p: threshold parameter (``p`` of ``relative``, ``z`` of ``noise``).
        threshold: ``"relative"`` or ``"noise"``.
        extent: ``"fixed"`` or ``"height"``.
        extent_fraction: ``height`` only: fraction of the peak height where onset and offset are put.
        micro_max_s: longest micro-expression, seconds.

    Returns:
        Intervals sorted by onset.
    """
    if extent not in EXTENTS:
        raise ConfigError(f"extent must be one of {list(EXTENTS)!r}; got {extent!r}.")
    score = np.asarray(score, np.float64)
    n = len(score)
    if not 0 < extent_fraction < 1:
        raise ConfigError(f"extent_fraction must be in (0, 1); got {extent_fraction!r}.")
    peaks, _ = find_peaks(score, p, max(1, k), threshold)
    valid = np.isfinite(score)
    if not len(peaks):
        return []
    base, sigma = noise_level(score)
    out = []
    for a in peaks:
        if extent == "fixed":
            on, off = max(0, a - k), min(n - 1, a + k)
        else:
            half = base + extent_fraction * (score[a] - base)
            on = a
            while on > max(0, a - 2 * k) and valid[on - 1] and score[on - 1] > half:
                on -= 1
            off = a
            while off < min(n - 1, a + 2 * k) and valid[off + 1] and score[off + 1] > half:
                off += 1
        duration = (off - on + 1) / fps
        strength = (score[a] - base) / sigma
        out.append(SpottedInterval(int(on), int(a), int(off), float(score[a]), float(strength),
                                   "micro" if duration <= micro_max_s else "macro"))
    return out
