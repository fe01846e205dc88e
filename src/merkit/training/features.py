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
* ``rgb_apex``: ``(3, rgb_size, rgb_size)`` float32 apex frame, RGB in [0, 1];
* ``biwoof``: ``(200,)`` Bi-WOOF of the onset -> apex flow;
* ``lbptop``: ``(11328,)`` LBP-TOP of the onset..offset clip (MEGC2019 settings).

:class:`SampleFeatureProvider` computes them from the frames with the
lower layers: faces aligned with dlib landmarks (``merkit.face``), flow from
``merkit.motion.flow``, strain and normalisation from
``merkit.motion.strain``, descriptors from ``merkit.motion.descriptors``.
Order of operations for flow inputs (a choice the papers leave open): flow
and strain are computed on the ``face_size`` crop, then the channels are
area-resized to ``size`` (u and v rescaled to the new pixel size), then
min-max scaled. Results are stored per sample and kind in the
:class:`~merkit.cache.FeatureCache`, keyed by the settings and the frame files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Protocol

import numpy as np
import pandas as pd

from merkit.cache import FeatureCache
from merkit.errors import ConfigError, ShapeError
from merkit.training.config import FeatureConfig

__all__ = ["FEATURE_KINDS", "FeatureSet", "FeatureProvider", "SampleFeatureProvider"]

log = logging.getLogger(__name__)

FEATURE_KINDS = ("flow_uv_strain", "flow_uv", "rgb_apex", "biwoof", "lbptop")


class FeatureSet:
    """Arrays keyed by sample key.

    Args:
        keys: ``(N,)`` sample keys, unique.
        values: ``(N, ...)`` array; ``values[i]`` belongs to ``keys[i]``.
        kind: the feature kind (for messages).
    """

    def __init__(self, keys: Sequence[str], values: np.ndarray, kind: str = "") -> None:
        keys = np.asarray(keys, dtype=object)
        if len(keys) != len(values):
            raise ShapeError(f"FeatureSet {kind!r}: {len(keys)} keys but {len(values)} rows; they must match.")
        self.keys = keys
        self.values = values
        self.kind = kind
        self._index = {k: i for i, k in enumerate(keys.tolist())}
        if len(self._index) != len(keys):
            raise ShapeError(f"FeatureSet {kind!r}: sample keys are not unique.")

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, sample_keys: Sequence[str]) -> np.ndarray:
        """Rows for ``sample_keys`` in that order.

        Raises:
            ConfigError: naming the first sample key that has no features.
        """
        try:
            rows = [self._index[k] for k in sample_keys]
        except KeyError as exc:
            raise ConfigError(
                f"no {self.kind or 'feature'} values for sample {exc.args[0]!r}; "
                f"the features were computed for another table."
            ) from None
        return self.values[rows]


class FeatureProvider(Protocol):
    """Anything that turns table rows into a :class:`FeatureSet` of one kind."""

    def __call__(self, table: pd.DataFrame, kind: str) -> FeatureSet: ...


def _resize_flow(flow: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = flow.shape[:2]
    out = cv2.resize(flow, (size, size), interpolation=cv2.INTER_AREA)
    if out.ndim == 2:
        out = out[..., None]
    out[..., 0] *= size / w
    if out.shape[-1] > 1:
        out[..., 1] *= size / h
    return out


def compute_sample_features(sample, kinds: Sequence[str], cfg: FeatureConfig, cache: FeatureCache | None) -> dict:
    """All requested kinds for one :class:`~merkit.data.sample.Sample` (see module docstring)."""
    import cv2

    from merkit.motion.descriptors import biwoof, lbp_top
    from merkit.motion.flow import compute_flow
    from merkit.motion.strain import normalize_channels, optical_strain

    out, missing, keys = {}, [], {}
    frames_used = list(sample.frame_paths[sample.onset_index : sample.offset_index + 1])
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("cache_dir", "workers")}
    for kind in kinds:
        if cache is not None:
            keys[kind] = cache.key(f"features.{kind}", settings, frames_used)
            hit = cache.load(keys[kind])
            if hit is not None:
                out[kind] = hit["x"]
                continue
        missing.append(kind)
    if not missing:
        return out

    if cfg.align:
        from merkit.face.clip import align_sample

        frames = align_sample(sample, size=cfg.face_size, color="rgb", cache=cache).frames
    else:
        from merkit.data.frames import ImageFiles

        source = ImageFiles(sample.frame_paths, fps=sample.fps, color="rgb")
        frames = np.stack([
            cv2.resize(source[i], (cfg.face_size, cfg.face_size), interpolation=cv2.INTER_AREA)
            for i in range(len(source))
        ])
    gray = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)  # noqa: E731
    onset, apex, offset = sample.onset_index, sample.apex_index, sample.offset_index
    flow = None
    if any(k in missing for k in ("flow_uv_strain", "flow_uv", "biwoof")):
        flow = compute_flow(gray(frames[onset]), gray(frames[apex]), cfg.flow)
    for kind in missing:
        if kind in ("flow_uv_strain", "flow_uv"):
            channels = [flow[..., 0], flow[..., 1]]
            if kind == "flow_uv_strain":
                channels.append(optical_strain(flow, cfg.strain_scheme))
            stack = _resize_flow(np.stack(channels, -1).astype(np.float32), cfg.size)
            if kind == "flow_uv_strain":  # strain is not a displacement: undo the rescale
                stack[..., 2] = cv2.resize(channels[2], (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
            value = normalize_channels(stack, "minmax").transpose(2, 0, 1)
        elif kind == "rgb_apex":
            img = cv2.resize(frames[apex], (cfg.rgb_size, cfg.rgb_size), interpolation=cv2.INTER_AREA)
            value = (img.astype(np.float32) / 255.0).transpose(2, 0, 1)
        elif kind == "biwoof":
            value = biwoof(flow)
        elif kind == "lbptop":
            value = lbp_top(np.stack([gray(f) for f in frames[onset : offset + 1]]))
        else:
            raise ConfigError(f"unknown feature kind {kind!r}; valid: {sorted(FEATURE_KINDS)!r}.")
        value = np.ascontiguousarray(value, dtype=np.float32)
        out[kind] = value
        if cache is not None:
            cache.save(keys[kind], {"x": value}, meta={"sample_key": sample.key, "kind": kind})
    return out


def _compute_chunk(args) -> list[dict]:
    samples, kinds, cfg = args
    cache = FeatureCache(cfg.cache_dir or None)
    return [compute_sample_features(s, kinds, cfg, cache) for s in samples]


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
        """Several kinds at once (the aligned clip and the flow are computed once per sample)."""
        from tqdm.auto import tqdm

        from merkit.data.sample import table_to_samples

        for kind in kinds:
            if kind not in FEATURE_KINDS:
                raise ConfigError(f"unknown feature kind {kind!r}; valid: {sorted(FEATURE_KINDS)!r}.")
        samples = table_to_samples(table)
        chunks = [samples[i : i + 8] for i in range(0, len(samples), 8)]
        results: list[dict] = []
        bar = tqdm(total=len(samples), desc="features", disable=not self.progress, leave=False)
        if self.cfg.workers > 1 and len(chunks) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(self.cfg.workers, mp_context=mp.get_context("spawn")) as pool:
                for part in pool.map(_compute_chunk, [(c, tuple(kinds), self.cfg) for c in chunks]):
                    results.extend(part)
                    bar.update(len(part))
        else:
            cache = FeatureCache(self.cfg.cache_dir or None)
            for s in samples:
                results.append(compute_sample_features(s, kinds, self.cfg, cache))
                bar.update(1)
        bar.close()
        keys = table["sample_key"].tolist()
        return {k: FeatureSet(keys, np.stack([r[k] for r in results]), k) for k in kinds}

    def __call__(self, table: pd.DataFrame, kind: str) -> FeatureSet:
        return self.many(table, [kind])[kind]
