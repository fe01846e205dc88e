"""Per-sample model inputs: the feature provider interface and its default implementation.

A *feature provider* maps the rows of a sample table to arrays::

    provider(table: pd.DataFrame, kind: str) -> FeatureSet   # values[i] belongs to table row i

A :class:`FeatureSet` keeps the arrays with their sample keys, so fit-predict
callables look rows up by key after the protocol has filtered and reordered
the table. Features are computed once per run, before any fold starts.

Kinds (``kind``):

* ``flow_uv_strain``: ``(3, size, size)`` float32 (u, v, optical strain) of the
  onset -> apex flow, each channel min-max scaled to [0, 1] per sample (STSTNet);
* ``flow_uv``: ``(2, size, size)`` the same without strain (OFF-ApexNet);
* ``flow_uv_strain_uniform2`` / ``flow_uv_strain_uniform4``: ``(3k, size, size)``
  with k = 2 or 4 (seed 000's Table 5 "uniform k" rows): k frames spread
  evenly after the onset up to the offset (``k + 1`` evenly spaced positions
  from onset to offset, the onset dropped), one onset -> frame (u, v, strain)
  map each, each map scaled as ``flow_uv_strain``, stacked along channels in
  time order;
* ``rgb_apex``: ``(3, rgb_size, rgb_size)`` float32 apex frame, RGB in [0, 1];
* ``biwoof``: ``(200,)`` Bi-WOOF of the onset -> apex flow;
* ``lbptop``: ``(11328,)`` LBP-TOP of the onset..offset clip (MEGC2019 settings).

:class:`SampleFeatureProvider` computes them with the lower layers. The flow
kinds come from :func:`merkit.motion.prepare.prepare_features` (faces aligned
on the onset frame with dlib landmarks, onset -> apex flow, raw u, v and
strain on the ``face_size`` crop, cached under namespace ``motion``);
Bi-WOOF is computed from those. ``rgb_apex`` and ``lbptop`` align the apex
(or onset..offset) frames with :func:`merkit.face.align_clip` themselves.
Order of operations for flow inputs (a choice the papers leave open): flow
and strain are computed on the ``face_size`` crop, the global (head) motion
named by ``features.global_motion`` is taken out of the flow and strain is
recomputed from what is left (:mod:`merkit.motion.global_motion`; the default
``"auto"`` does so for Bi-WOOF only, see :func:`global_motion_for`), then the channels are
area-resized to ``size`` (u and v rescaled to the new pixel size), then
min-max scaled per sample and channel. Frame-based kinds are stored per
sample and kind in the :class:`~merkit.cache.FeatureCache`, keyed by the
settings and the frame files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from merkit._parallel import parallel_map
from merkit.cache import FeatureCache, memoise
from merkit.data.frames import ImageFiles
from merkit.data.sample import table_to_samples
from merkit.errors import ConfigError
from merkit.face import AlignConfig, align_clip
from merkit.inputs.config import FeatureConfig
from merkit.inputs.feature_set import FeatureProvider, FeatureSet
from merkit.inputs.registry import register_inputs

__all__ = ["FEATURE_KINDS", "FLOW_KINDS", "FeatureSet", "FeatureProvider", "SampleFeatureProvider", "prepare_config"]

log = logging.getLogger(__name__)

#: Flow + strain at k uniformly sampled frames (seed 000, Table 5): kind -> k.
UNIFORM_KINDS = {"flow_uv_strain_uniform2": 2, "flow_uv_strain_uniform4": 4}
FEATURE_KINDS = ("flow_uv_strain", "flow_uv", "rgb_apex", "biwoof", "lbptop", *UNIFORM_KINDS)


def _resize_flow(flow: np.ndarray, size: int) -> np.ndarray:
    import cv2  # deferred: cv2 adds ~90 ms to importing merkit.inputs

    h, w = flow.shape[:2]
    out = cv2.resize(flow, (size, size), interpolation=cv2.INTER_AREA)
    if out.ndim == 2:
        out = out[..., None]
    out[..., 0] *= size / w
    if out.shape[-1] > 1:
        out[..., 1] *= size / h
    return out


FLOW_KINDS = ("flow_uv_strain", "flow_uv", "biwoof")


def prepare_config(cfg: FeatureConfig, uniform_k: int | None = None):
    """The :class:`merkit.motion.prepare.PrepareConfig` behind the flow kinds: raw (u, v, strain) on the face crop.

    ``uniform_k``: the ``flow_uv_strain_uniform{k}`` kinds: ``k + 1`` evenly spaced frames from onset
    to offset, flows from the onset to each of the other ``k``.
    """
    from merkit.motion.prepare import PrepareConfig  # deferred: merkit.motion pulls cv2, scipy, skimage

    frames = {"frames": "onset_apex"} if uniform_k is None else {"frames": "uniform", "k": int(uniform_k) + 1}
    return PrepareConfig(
        channels=("u", "v", "strain"), **frames, flow=cfg.flow, size=cfg.face_size,
        align="eye_line" if cfg.align else "none", normalize="raw", strain_scheme=cfg.strain_scheme,
    )


def global_motion_for(kind: str, setting: str) -> str:
    """The global-motion model applied to flow kind ``kind`` under ``features.global_motion = setting``.

    ``"auto"`` is ``"affine"`` for ``biwoof`` and ``"none"`` for the min-max scaled kinds (min-max
    scaling already removes a translation; Bi-WOOF's orientation histograms do not).
    """
    if setting != "auto":
        return setting
    return "affine" if kind == "biwoof" else "none"


def flow_kind_from_prepared(
    uvs: np.ndarray, kind: str, size: int, global_motion: str = "none", strain_scheme: str = "central"
) -> np.ndarray:
    """Turn prepared raw ``(S, S, 3)`` (u, v, strain) into one flow kind (see module docstring).

    ``global_motion`` (:mod:`merkit.motion.global_motion`) is taken out of (u, v) first; the
    strain channel is then recomputed from the compensated flow with ``strain_scheme``.
    """
    # deferred: cv2 and merkit.motion (cv2, scipy, skimage) would add ~60 % to importing merkit.inputs
    import cv2

    from merkit.motion.descriptors import biwoof
    from merkit.motion.global_motion import remove_global_motion
    from merkit.motion.strain import normalize_channels, optical_strain

    uvs = np.asarray(uvs, dtype=np.float32)
    if global_motion != "none":
        flow = remove_global_motion(uvs[..., :2], global_motion)
        uvs = np.dstack([flow, optical_strain(flow, strain_scheme)]).astype(np.float32)
    if kind == "biwoof":
        return biwoof(uvs[..., :2], uvs[..., 2])
    stack = _resize_flow(uvs[..., :2].copy(), size)
    if kind == "flow_uv_strain":  # strain is not a displacement: resized without rescaling
        strain = cv2.resize(uvs[..., 2], (size, size), interpolation=cv2.INTER_AREA)
        stack = np.dstack([stack, strain])
    return normalize_channels(stack, "minmax").transpose(2, 0, 1)


def compute_sample_features(sample, kinds: Sequence[str], cfg: FeatureConfig, cache: FeatureCache | None) -> dict:
    """The frame-based kinds (``rgb_apex``, ``lbptop``) of one :class:`~merkit.data.sample.Sample`."""
    onset, apex, offset = sample.onset_index, sample.apex_index, sample.offset_index
    # global_motion only acts on the flow kinds; leaving it out keeps these cache entries valid
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("cache_dir", "workers", "global_motion")}
    out = {}
    for kind in kinds:
        if kind not in ("rgb_apex", "lbptop"):
            raise ConfigError(f"unknown feature kind {kind!r}; valid: {sorted(FEATURE_KINDS)!r}.")
        picked = [onset, apex] if kind == "rgb_apex" else list(range(onset, offset + 1))
        files = [sample.frame_paths[i] for i in picked]
        arrays = memoise(cache, f"features.{kind}", settings, files,
                         lambda: {"x": _frame_kind(sample, kind, files, cfg)},
                         meta={"sample_key": sample.key, "kind": kind})
        out[kind] = arrays["x"]
    return out


def _frame_kind(sample, kind: str, files: list[str], cfg: FeatureConfig) -> np.ndarray:
    # deferred: cv2 and merkit.motion (cv2, scipy, skimage) would add ~60 % to importing merkit.inputs
    import cv2

    from merkit.motion.descriptors import lbp_top

    color = "rgb" if kind == "rgb_apex" else "gray"
    size = cfg.rgb_size if kind == "rgb_apex" else cfg.face_size
    source = ImageFiles(files, fps=sample.fps, name=sample.key, color="rgb")  # align_clip reads RGB
    if cfg.align:  # aligned on the onset frame, one transform for every picked frame
        frames = align_clip(source, AlignConfig(mode="eye_line", size=size, color=color)).frames
    else:
        frames = np.stack([cv2.resize(source[i], (size, size), interpolation=cv2.INTER_AREA)
                           for i in range(len(source))])
        if color == "gray":
            frames = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    value = (frames[1].astype(np.float32) / 255.0).transpose(2, 0, 1) if kind == "rgb_apex" else lbp_top(frames)
    return np.ascontiguousarray(value, dtype=np.float32)


class _FrameKindJob:
    """Picklable per-sample job for :func:`merkit._parallel.parallel_map`."""

    def __init__(self, kinds: Sequence[str], cfg: FeatureConfig) -> None:
        self.kinds, self.cfg = tuple(kinds), cfg

    def __call__(self, sample) -> dict:
        return compute_sample_features(sample, self.kinds, self.cfg, FeatureCache(self.cfg.cache_dir or None))


class SampleFeatureProvider:
    """Compute features from each sample's frames (see module docstring).

    Args:
        cfg: feature settings (flow method, sizes, alignment, cache, workers).
        progress: show a progress bar.
    """

    def __init__(self, cfg: FeatureConfig, progress: bool = True) -> None:
        self.cfg = cfg
        self.progress = progress

    def many(self, table: pd.DataFrame, kinds: Sequence[str]) -> dict[str, FeatureSet]:
        """Several kinds at once (the flow is prepared once per sample for all flow kinds).

        Raises:
            ConfigError: for an unknown kind, or when preparing failed for some samples (named with the reason).
        """
        for kind in kinds:
            if kind not in FEATURE_KINDS:
                raise ConfigError(f"unknown feature kind {kind!r}; valid: {sorted(FEATURE_KINDS)!r}.")
        samples = table_to_samples(table)
        keys = table["sample_key"].tolist()
        cache = FeatureCache(self.cfg.cache_dir or None)
        out: dict[str, FeatureSet] = {}
        flow_kinds = [k for k in kinds if k in FLOW_KINDS]
        if flow_kinds:
            prepared = self._prepared(table, samples, prepare_config(self.cfg), cache)
            for kind in flow_kinds:
                values = np.stack([self._flow_kind(p, kind) for p in prepared])
                out[kind] = FeatureSet(keys, values.astype(np.float32), kind)
        for kind in [k for k in kinds if k in UNIFORM_KINDS]:
            prepared = self._prepared(table, samples, prepare_config(self.cfg, UNIFORM_KINDS[kind]), cache)
            values = np.stack([
                np.concatenate([self._flow_kind(m, "flow_uv_strain") for m in p]) for p in prepared
            ])
            out[kind] = FeatureSet(keys, values.astype(np.float32), kind)
        frame_kinds = [k for k in kinds if k not in FLOW_KINDS and k not in UNIFORM_KINDS]
        if frame_kinds:
            out.update(self._frame_kinds(samples, keys, frame_kinds, cache))
        return out

    def _flow_kind(self, uvs: np.ndarray, kind: str) -> np.ndarray:
        return flow_kind_from_prepared(uvs, kind, self.cfg.size, global_motion_for(kind, self.cfg.global_motion),
                                       self.cfg.strain_scheme)

    def _prepared(self, table, samples, pcfg, cache) -> list[np.ndarray]:
        """Raw prepared motion features of every sample under ``pcfg``, through the cache."""
        # deferred: merkit.motion pulls cv2, scipy and skimage (~+60 % on importing merkit.inputs)
        from merkit.motion.prepare import load_features, prepare_features

        report = prepare_features(table, pcfg, cache=cache, workers=self.cfg.workers, progress=self.progress)
        if report.failed:
            first = next(iter(report.failed.items()))
            raise ConfigError(
                f"preparing flow failed for {len(report.failed)} of {len(samples)} samples, e.g. "
                f"{first[0]!r}: {first[1]}. Fix or exclude these samples."
            )
        return [load_features(s, pcfg, cache) for s in samples]

    def _frame_kinds(self, samples, keys, kinds, cache) -> dict[str, FeatureSet]:
        results = parallel_map(_FrameKindJob(kinds, self.cfg), samples, workers=self.cfg.workers,
                               progress=self.progress, desc="features")
        return {k: FeatureSet(keys, np.stack([r[k] for r in results]), k) for k in kinds}

    def __call__(self, table: pd.DataFrame, kind: str) -> FeatureSet:
        return self.many(table, [kind])[kind]


@register_inputs(*FEATURE_KINDS, settings=FeatureConfig)
def prepare_flow_maps(table: pd.DataFrame, settings: FeatureConfig, *, kind: str, progress: bool = False) -> FeatureSet:
    """The registered preparer of the flow, RGB and descriptor kinds (module docstring)."""
    return SampleFeatureProvider(settings, progress=progress)(table, kind)
