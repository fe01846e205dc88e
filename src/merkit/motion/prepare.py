"""Prepare motion features for a whole sample table, in parallel, through the feature cache.

For every sample: pick key frames, align the face on the onset frame (one
transform for all picked frames, :func:`merkit.face.align_clip`), compute
flow between the picked frames, stack the requested channels
(:func:`merkit.motion.strain.flow_features`) and store them as float32 in the
:class:`~merkit.cache.FeatureCache` (namespace ``"motion"``). The key covers
every setting (:meth:`PrepareConfig.settings`, the flow method's parameters
and OpenCV version, the alignment settings) and the content of the frame
files used, so a changed setting or frame is recomputed and nothing stale is
served.

Frame selections (``frames=``):

* ``"onset_apex"``: one flow onset -> apex; features ``(H, W, C)``.
* ``"uniform"``: ``k`` frames evenly spaced from onset to offset; flows
  onset -> each of the other ``k - 1``; features ``(k - 1, H, W, C)``.
* ``"consecutive"``: the same ``k`` frames; flows between neighbours;
  features ``(k - 1, H, W, C)``.

Only the picked frames are read and aligned (the alignment is computed on the
onset frame, which is always the first picked frame, so the crops are the same
as when aligning the whole clip).

Failures (no face on the onset frame, unreadable frame, bad annotation) are
collected per sample with their reason in :class:`PrepareReport`; a sample is
never dropped silently.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
import pandas as pd

from merkit._parallel import parallel_map
from merkit.cache import FeatureCache
from merkit.data.frames import ImageFiles
from merkit.data.sample import Sample, table_to_samples
from merkit.errors import ConfigError, MerkitError
from merkit.face import AlignConfig, align_clip
from merkit.motion.flow import create_flow, list_flow_methods
from merkit.motion.keyframes import consecutive_pairs, uniform_indices
from merkit.motion.strain import FEATURE_CHANNELS, NORMALIZATIONS, STRAIN_SCHEMES, flow_features

__all__ = ["CACHE_NAMESPACE", "FRAME_MODES", "PrepareConfig", "PrepareReport", "prepare_features", "load_features",
           "feature_key"]

log = logging.getLogger(__name__)

#: Namespace of prepared motion features in the shared feature cache.
CACHE_NAMESPACE = "motion"
FRAME_MODES = ("onset_apex", "uniform", "consecutive")
# bump when this module changes its output for the same settings
_ALGORITHM_VERSION = 1


@dataclass(frozen=True)
class PrepareConfig:
    """What :func:`prepare_features` computes (every field enters the cache key).

    Attributes:
        channels: feature channels, names from :data:`~merkit.motion.strain.FEATURE_CHANNELS`.
        frames: one of :data:`FRAME_MODES`.
        k: frames picked for ``"uniform"`` / ``"consecutive"`` (>= 2).
        flow: registered flow method (``dis`` by default: more accurate than ``tvl1_fast`` on
            SynthME's ground truth and 14x faster; ``docs/motion.md``).
        flow_params: overrides for the flow method.
        size: side of the aligned square face crop, pixels.
        align: alignment mode of :class:`merkit.face.AlignConfig`.
        normalize: one of :data:`~merkit.motion.strain.NORMALIZATIONS`.
        strain_scheme: derivative scheme, one of :data:`~merkit.motion.strain.STRAIN_SCHEMES`.
    """

    channels: tuple[str, ...] = ("u", "v", "strain")
    frames: str = "onset_apex"
    k: int = 8
    flow: str = "dis"
    flow_params: tuple[tuple[str, Any], ...] = ()
    size: int = 224
    align: str = "eye_line"
    normalize: str = "raw"
    strain_scheme: str = "central"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        params = self.flow_params.items() if isinstance(self.flow_params, dict) else self.flow_params
        object.__setattr__(self, "flow_params", tuple(sorted((str(k), v) for k, v in params)))
        unknown = [c for c in self.channels if c not in FEATURE_CHANNELS]
        if not self.channels or unknown:
            raise ConfigError(f"channels must be names from {sorted(FEATURE_CHANNELS)!r}; got {list(self.channels)!r}.")
        for name, value, choices in (
            ("frames", self.frames, FRAME_MODES),
            ("normalize", self.normalize, NORMALIZATIONS),
            ("strain_scheme", self.strain_scheme, STRAIN_SCHEMES),
            ("flow", self.flow, tuple(list_flow_methods())),
        ):
            if value not in choices:
                raise ConfigError(f"prepare {name} must be one of {sorted(choices)!r}; got {value!r}.")
        if self.frames != "onset_apex" and self.k < 2:
            raise ConfigError(f"k must be >= 2 frames for frames={self.frames!r}; got {self.k}.")
        if self.size < 8:
            raise ConfigError(f"size must be >= 8 pixels; got {self.size}.")
        self.align_config()  # validates the alignment mode early
        create_flow(self.flow, **dict(self.flow_params))  # validates flow parameters early

    def align_config(self) -> AlignConfig:
        """The face alignment used (grayscale crops of ``size`` pixels)."""
        return AlignConfig(mode=self.align, size=self.size, color="gray")

    def settings(self) -> dict[str, Any]:
        """Everything that determines the stored features (for the cache key)."""
        own = asdict(self)
        if self.frames == "onset_apex":
            own.pop("k")  # k plays no part
        return {
            "prepare": own,
            "version": _ALGORITHM_VERSION,
            "flow": create_flow(self.flow, **dict(self.flow_params)).settings(),
            "align": asdict(self.align_config()),
        }


@dataclass
class PrepareReport:
    """Outcome of :func:`prepare_features`.

    Attributes:
        done: sample keys computed in this run.
        cached: sample keys already in the cache.
        failed: sample key -> reason (exception type and message).
        keys: sample key -> cache key, for every sample that succeeded.
        seconds: wall-clock time of the run.
    """

    done: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def n_total(self) -> int:
        return len(self.done) + len(self.cached) + len(self.failed)

    def summary(self) -> str:
        """One line: counts and time."""
        return (
            f"{self.n_total} samples: {len(self.done)} done, {len(self.cached)} cached, "
            f"{len(self.failed)} failed in {self.seconds:.1f} s"
        )


def _picked_indices(sample: Sample, config: PrepareConfig) -> tuple[list[int], list[tuple[int, int]]]:
    """Frame positions to read, and flow pairs as positions into that list."""
    if config.frames == "onset_apex":
        return [sample.onset_index, sample.apex_index], [(0, 1)]
    picked = [int(i) for i in uniform_indices(sample.onset_index, sample.offset_index, config.k)]
    if config.frames == "uniform":
        return picked, [(0, j) for j in range(1, len(picked))]
    return picked, consecutive_pairs(range(len(picked)))


def feature_key(sample: Sample, config: PrepareConfig, cache: FeatureCache) -> str:
    """Cache key of the prepared features of ``sample`` under ``config``."""
    picked, _ = _picked_indices(sample, config)
    return cache.key(CACHE_NAMESPACE, config.settings(), [sample.frame_paths[i] for i in picked])


def _compute(sample: Sample, config: PrepareConfig, cache: FeatureCache | None) -> np.ndarray:
    picked, pairs = _picked_indices(sample, config)
    source = ImageFiles([sample.frame_paths[i] for i in picked], fps=sample.fps, name=sample.key)
    # Faces get their own cache entries (namespace "faces"), shared with other feature settings.
    clip = align_clip(source, config.align_config(), reference_index=0, cache=cache)
    method = create_flow(config.flow, **dict(config.flow_params))
    stack = [
        flow_features(method(clip.frames[a], clip.frames[b]), config.channels, config.normalize, config.strain_scheme)
        for a, b in pairs
    ]
    return stack[0] if config.frames == "onset_apex" else np.stack(stack)


def _prepare_one(sample: Sample, config: PrepareConfig, cache_root: str, fingerprint: str) -> tuple[str, str, str]:
    """Worker: returns (status, sample key, cache key or failure reason)."""
    cache = FeatureCache(cache_root, fingerprint=fingerprint)  # type: ignore[arg-type]
    try:
        key = feature_key(sample, config, cache)
        if key in cache:
            return "cached", sample.key, key
        features = _compute(sample, config, cache)
        cache.save(key, {"features": features}, {"sample": sample.key, "channels": list(config.channels),
                                                  "frames": config.frames})
        return "done", sample.key, key
    except (MerkitError, OSError, cv2.error) as exc:
        return "failed", sample.key, f"{type(exc).__name__}: {exc}"


class _PrepareJob:
    """Picklable per-sample job for :func:`merkit._parallel.parallel_map`."""

    def __init__(self, config: PrepareConfig, cache_root: str, fingerprint: str) -> None:
        self.args = (config, cache_root, fingerprint)

    def __call__(self, sample: Sample) -> tuple[str, str, str]:
        return _prepare_one(sample, *self.args)


def prepare_features(
    samples: pd.DataFrame | Iterable[Sample],
    config: PrepareConfig | None = None,
    *,
    cache: FeatureCache | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> PrepareReport:
    """Compute and cache motion features for every sample.

    Args:
        samples: a sample table (:data:`~merkit.data.sample.SAMPLE_TABLE_SCHEMA`) or Samples.
        config: what to compute; default :class:`PrepareConfig()`.
        cache: where to store results; default ``FeatureCache()``.
        workers: worker processes; default ``os.cpu_count()``; ``1`` runs in this process.
        progress: show a tqdm progress bar on stderr.

    Returns:
        :class:`PrepareReport` with done / cached / failed (with reasons).
    """
    config = config or PrepareConfig()
    cache = cache or FeatureCache()
    items: Sequence[Sample] = table_to_samples(samples) if isinstance(samples, pd.DataFrame) else list(samples)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"workers must be >= 1; got {workers}.")
    report = PrepareReport()
    start = time.perf_counter()
    job = _PrepareJob(config, str(cache.root), cache.fingerprint)
    results = parallel_map(job, items, workers=min(workers, max(1, len(items))), chunk_size=1, progress=progress,
                           desc="prepare")
    _record(results, report)
    report.seconds = time.perf_counter() - start
    order = {s.key: i for i, s in enumerate(items)}
    report.done.sort(key=order.__getitem__)
    report.cached.sort(key=order.__getitem__)
    report.failed = dict(sorted(report.failed.items(), key=lambda kv: order[kv[0]]))
    for key, reason in report.failed.items():
        log.warning("prepare failed for %s: %s", key, reason)
    log.info("prepare: %s", report.summary())
    return report


def _record(results: Iterable[tuple[str, str, str]], report: PrepareReport) -> None:
    for status, sample_key, detail in results:
        if status == "failed":
            report.failed[sample_key] = detail
        else:
            (report.done if status == "done" else report.cached).append(sample_key)
            report.keys[sample_key] = detail


def load_features(sample: Sample, config: PrepareConfig, cache: FeatureCache) -> np.ndarray | None:
    """Return the prepared features of ``sample`` (float32), or ``None`` if not prepared yet."""
    hit = cache.load(feature_key(sample, config, cache))
    return None if hit is None else hit["features"]
