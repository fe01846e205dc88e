"""Inputs of seed 002's two phases: onset->apex TV-L1 flow images and the aligned, masked gray face.

Liu et al., Sci. Rep. 2022 (seed 002), "Pre-processing" and Fig. 2: gray
frames, dlib face crop, rotation to a horizontal eye line (Eq. 1), TV-L1
flow between onset and apex, and masks on the eyes and on "regions that
produce little or no movement". Here, per sample:

1. the onset and apex frames are aligned together with one transform from
   the onset frame (:func:`merkit.face.align_clip`, ``eye_line`` mode, gray,
   ``size`` pixels), so the flow sees only the face's own motion;
2. flow onset -> apex with a registered OpenCV method (``tvl1`` is the
   paper's TV-L1; ``tvl1_fast`` is the toolkit default, BENCHMARKS.md);
3. the mask from the onset landmarks (named option ``mask``): ``"mer"``
   (default) keeps the face without the eyes (:func:`merkit.face.mer_mask`:
   outside the face nothing moves, which is our reading of the paper's "regions
   that produce little or no movement"); ``"eyes"`` masks the eyes only;
   ``"none"`` keeps everything;
4. stored (cached, namespace ``features.seed002``) as raw arrays: the masked
   apex ``(S, S)`` uint8 and the masked flow ``(S, S, 2)`` float32 (u, v) in
   pixels, so a horizontal flip can be applied before encoding.

Encodings (:func:`encode_face`, :func:`encode_flow`):

* face: ``(1, S, S)`` float32 grey levels in [0, 1], masked pixels 0;
* flow image (named option ``flow_image``): ``"hsv"`` (default; the colour
  flow picture of the paper's Fig. 2f: hue = direction, value = magnitude
  scaled by the sample's largest magnitude, RGB in [0, 1]) or ``"uv_mag"``
  (u, v and magnitude, each min-max scaled per sample); both ``(3, S, S)``.

:func:`flip_raw` mirrors raw inputs left-right (``u`` negated), the paper's
"horizontal inversion" used to expand the minority classes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from merkit._names import unknown_name
from merkit.cache import FeatureCache
from merkit.errors import ConfigError, ShapeError

__all__ = ["MASKS", "FLOW_IMAGES", "Seed002Inputs", "RawInputs", "compute_raw_inputs", "encode_face", "encode_flow",
           "flip_raw"]

log = logging.getLogger(__name__)

MASKS = ("mer", "eyes", "none")
FLOW_IMAGES = ("hsv", "uv_mag")
_VERSION = 1


@dataclass(frozen=True)
class Seed002Inputs:
    """Settings of the raw inputs (every field enters the cache key except ``cache_dir`` and ``workers``).

    Attributes:
        size: side of the aligned square crop, pixels (the paper's 224).
        flow: registered flow method.
        mask: ``"mer"``, ``"eyes"`` or ``"none"`` (module docstring).
        eye_margin: growth of each eye's landmark hull, fraction of the eye width.
        cache_dir: feature cache root ("" -> default).
        workers: processes (1: in this process).
    """

    size: int = 224
    flow: str = "tvl1_fast"
    mask: str = "mer"
    eye_margin: float = 0.25
    cache_dir: str = ""
    workers: int = 1

    def __post_init__(self) -> None:
        if self.mask not in MASKS:
            raise unknown_name("mask", self.mask, MASKS)
        if not 16 <= self.size <= 1024:
            raise ConfigError(f"input size must be in [16, 1024] pixels; got {self.size!r}.")
        if not 0 <= self.eye_margin <= 1:
            raise ConfigError(f"eye_margin must be in [0, 1]; got {self.eye_margin!r}.")


@dataclass(frozen=True)
class RawInputs:
    """Raw per-sample inputs keyed by sample key.

    Attributes:
        keys: ``(N,)`` sample keys.
        faces: ``(N, S, S)`` uint8 masked apex faces.
        flows: ``(N, S, S, 2)`` float32 masked onset->apex flow (u, v), pixels.
    """

    keys: np.ndarray
    faces: np.ndarray
    flows: np.ndarray

    def rows(self, sample_keys) -> np.ndarray:
        """Row positions of ``sample_keys``; a missing key is a ConfigError naming it."""
        index = {k: i for i, k in enumerate(self.keys.tolist())}
        try:
            return np.array([index[k] for k in sample_keys], dtype=np.int64)
        except KeyError as exc:
            raise ConfigError(f"no seed-002 inputs for sample {exc.args[0]!r}; they were computed for another table.") from None


def _one(sample, cfg: Seed002Inputs, cache: FeatureCache | None) -> tuple[np.ndarray, np.ndarray]:
    from dataclasses import asdict

    from merkit.data.frames import ImageFiles
    from merkit.face import AlignConfig, align_clip, eye_mask, mer_mask
    from merkit.motion.flow import create_flow

    files = [sample.frame_paths[sample.onset_index], sample.frame_paths[sample.apex_index]]
    method = create_flow(cfg.flow)
    settings = {**{k: v for k, v in asdict(cfg).items() if k not in ("cache_dir", "workers")},
                "flow_settings": method.settings(), "version": _VERSION}
    key = cache.key("features.seed002", settings, files) if cache is not None else None
    hit = cache.load(key) if key is not None else None
    if hit is not None:
        return hit["face"], hit["flow"]
    clip = align_clip(ImageFiles(files, fps=sample.fps, name=sample.key, color="rgb"),
                      AlignConfig(mode="eye_line", size=cfg.size, color="gray"))
    onset, apex = clip.frames[0], clip.frames[1]
    flow = np.asarray(method(onset, apex), dtype=np.float32)
    shape = (cfg.size, cfg.size)
    if cfg.mask == "mer":
        keep = mer_mask(clip.landmarks, shape, eye_margin=cfg.eye_margin)
    elif cfg.mask == "eyes":
        keep = ~eye_mask(clip.landmarks, shape, margin=cfg.eye_margin)
    else:
        keep = np.ones(shape, dtype=bool)
    face = np.where(keep, apex, 0).astype(np.uint8)
    flow = np.where(keep[..., None], flow, 0.0).astype(np.float32)
    if key is not None:
        cache.save(key, {"face": face, "flow": flow}, meta={"sample_key": sample.key})
    return face, flow


def _chunk(args) -> list[tuple[np.ndarray, np.ndarray]]:
    samples, cfg = args
    cache = FeatureCache(cfg.cache_dir or None)
    return [_one(s, cfg, cache) for s in samples]


def compute_raw_inputs(table: pd.DataFrame, cfg: Seed002Inputs, progress: bool = False) -> RawInputs:
    """Raw masked faces and flows of every row of a sample table (module docstring).

    Raises:
        FaceNotFoundError, FrameReadError: from the face layer, naming the clip.
    """
    from tqdm.auto import tqdm

    from merkit.data.sample import table_to_samples

    samples = table_to_samples(table)
    chunks = [samples[i : i + 8] for i in range(0, len(samples), 8)]
    results: list[tuple[np.ndarray, np.ndarray]] = []
    bar = tqdm(total=len(samples), desc="seed002 inputs", disable=not progress, leave=False)
    if cfg.workers > 1 and len(chunks) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(cfg.workers, mp_context=mp.get_context("spawn")) as pool:
            for part in pool.map(_chunk, [(c, cfg) for c in chunks]):
                results.extend(part)
                bar.update(len(part))
    else:
        for c in chunks:
            results.extend(_chunk((c, cfg)))
            bar.update(len(c))
    bar.close()
    keys = np.asarray([s.key for s in samples], dtype=object)
    return RawInputs(keys, np.stack([r[0] for r in results]), np.stack([r[1] for r in results]))


def flip_raw(faces: np.ndarray, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror ``(N, S, S)`` faces and ``(N, S, S, 2)`` flows left-right; the flow's ``u`` changes sign."""
    if faces.ndim != 3 or flows.ndim != 4 or flows.shape[-1] != 2:
        raise ShapeError(f"flip_raw needs faces (N, S, S) and flows (N, S, S, 2); got {faces.shape}, {flows.shape}.")
    flipped = flows[:, :, ::-1].copy()
    flipped[..., 0] *= -1.0
    return faces[:, :, ::-1].copy(), flipped


def encode_face(faces: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` uint8 -> ``(N, 1, S, S)`` float32 in [0, 1]."""
    return (np.asarray(faces, dtype=np.float32) / 255.0)[:, None]


def encode_flow(flows: np.ndarray, flow_image: str = "hsv") -> np.ndarray:
    """``(N, S, S, 2)`` raw flow -> ``(N, 3, S, S)`` float32 flow images in [0, 1] (module docstring)."""
    from merkit.motion.strain import normalize_channels
    from merkit.motion.viz import flow_to_color

    if flow_image not in FLOW_IMAGES:
        raise unknown_name("flow_image", flow_image, FLOW_IMAGES)
    flows = np.asarray(flows, dtype=np.float32)
    if flows.ndim != 4 or flows.shape[-1] != 2:
        raise ShapeError(f"flows must be (N, S, S, 2) (u, v); got {flows.shape}.")
    out = []
    for f in flows:
        if flow_image == "hsv":
            img = flow_to_color(f).astype(np.float32) / 255.0
        else:
            mag = np.sqrt(f[..., 0] ** 2 + f[..., 1] ** 2)
            img = normalize_channels(np.dstack([f, mag]), "minmax")
        out.append(img.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)
