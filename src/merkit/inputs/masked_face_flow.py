"""Inputs of flow pre-training then face fine-tuning: onset->apex flow and the aligned, masked gray apex face.

The inputs of ``flow_pretrain_finetune`` (Liu et al., Sci. Rep. 2022;
docs/models/shufflenet_me.md): gray frames, dlib face crop, rotation to a
horizontal eye line, TV-L1 flow between onset and apex, and masks on the
eyes and on "regions that produce little or no movement". Per sample:

1. the onset and apex frames are aligned together with one transform from
   the onset frame (:func:`merkit.face.align_clip`, ``eye_line`` mode, gray,
   ``size`` pixels), so the flow sees only the face's own motion;
2. flow onset -> apex with a registered OpenCV method (``tvl1`` is the
   paper's TV-L1; the run's ``[features] flow``);
3. the mask from the onset landmarks (named option ``mask``): ``"mer"``
   (default) keeps the face without the eyes (:func:`merkit.face.mer_mask`:
   outside the face nothing moves, which is our reading of the paper's "regions
   that produce little or no movement"); ``"eyes"`` masks the eyes only;
   ``"none"`` keeps everything;
4. stored (:func:`merkit.cache.memoise`, namespace ``inputs.masked_face_flow``)
   as raw arrays: the masked apex ``(S, S)`` uint8 and the masked flow ``(S, S, 2)``
   float32 (u, v) in pixels, so a horizontal flip can be applied before encoding.

``face_frames`` (named option; the paper fine-tunes on "the pre-processed image
sequences" without saying which frames): 1 (default) keeps the apex face alone;
``T > 1`` keeps ``T`` masked faces per sample at evenly spaced positions after the
onset, the last one the apex (frame ``onset + round(k (apex - onset) / T)``,
``k = 1..T``; a clip shorter than ``T`` frames repeats frames), aligned with the
same onset transform. Faces are then ``(T, S, S)`` per sample and the flow is
unchanged (onset -> apex).

Encodings (:func:`encode_face`, :func:`encode_flow`):

* face: ``(1, S, S)`` float32 grey levels in [0, 1], masked pixels 0
  (what :meth:`MaskedFaceFlows.take` returns: the fitted model's input);
  ``(T, 1, S, S)`` with ``face_frames = T > 1``;
* flow image (named option ``flow_image``): ``"hsv"`` (default; the colour
  flow picture of the paper's Fig. 2f: hue = direction, value = magnitude
  scaled by the sample's largest magnitude, RGB in [0, 1]) or ``"uv_mag"``
  (u, v and magnitude, each min-max scaled per sample); both ``(3, S, S)``.

:func:`flip_raw` mirrors raw inputs left-right (``u`` negated), the paper's
"horizontal inversion" used to expand the minority classes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from merkit._options import unknown_name
from merkit._parallel import parallel_map
from merkit.cache import FeatureCache, memoise
from merkit.data.frames import ImageFiles
from merkit.data.sample import table_to_samples
from merkit.errors import ConfigError, ShapeError
from merkit.face import AlignConfig, align_clip, eye_mask, mer_mask
from merkit.inputs.registry import register_inputs

__all__ = ["MASKS", "FLOW_IMAGES", "CACHE_NAMESPACE", "MaskedFaceFlowConfig", "MaskedFaceFlows",
           "prepare_masked_face_flows", "masked_face_flow", "face_frame_indices", "encode_face", "encode_flow",
           "flip_raw"]

log = logging.getLogger(__name__)

MASKS = ("mer", "eyes", "none")
FLOW_IMAGES = ("hsv", "uv_mag")
#: Cache namespace, named after this module.
CACHE_NAMESPACE = "inputs.masked_face_flow"
_VERSION = 1


@dataclass(frozen=True)
class MaskedFaceFlowConfig:
    """Settings of the raw inputs (every field enters the cache key except ``cache_dir`` and ``workers``).

    Attributes:
        size: side of the aligned square crop, pixels (the paper's 224).
        flow: registered flow method.
        mask: ``"mer"``, ``"eyes"`` or ``"none"`` (module docstring).
        eye_margin: growth of each eye's landmark hull, fraction of the eye width.
        face_frames: masked faces per sample, evenly spaced from after the onset to the apex (1: the apex).
        cache_dir: feature cache root ("" -> default).
        workers: processes (1: in this process).
    """

    size: int = 224
    flow: str = "tvl1_fast"
    mask: str = "mer"
    eye_margin: float = 0.25
    face_frames: int = 1
    cache_dir: str = ""
    workers: int = 1

    def __post_init__(self) -> None:
        if self.mask not in MASKS:
            raise unknown_name("mask", self.mask, MASKS)
        if not 16 <= self.size <= 1024:
            raise ConfigError(f"input size must be in [16, 1024] pixels; got {self.size!r}.")
        if not 0 <= self.eye_margin <= 1:
            raise ConfigError(f"eye_margin must be in [0, 1]; got {self.eye_margin!r}.")
        frames = self.face_frames
        if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= 64:
            raise ConfigError(f"face_frames must be an integer in [1, 64]; got {self.face_frames!r}.")


@dataclass(frozen=True)
class MaskedFaceFlows:
    """Raw per-sample inputs keyed by sample key.

    Attributes:
        keys: ``(N,)`` sample keys.
        faces: ``(N, S, S)`` uint8 masked apex faces, or ``(N, T, S, S)`` with ``face_frames = T > 1``.
        flows: ``(N, S, S, 2)`` float32 masked onset->apex flow (u, v), pixels.
    """

    keys: np.ndarray
    faces: np.ndarray
    flows: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.keys)
        if self.faces.ndim not in (3, 4) or self.flows.ndim != 4 or len(self.faces) != n or len(self.flows) != n:
            raise ShapeError(f"MaskedFaceFlows needs {n} faces (N, S, S) or (N, T, S, S) and flows (N, S, S, 2); got "
                             f"{self.faces.shape}, {self.flows.shape}.")

    def rows(self, sample_keys: Sequence[str]) -> np.ndarray:
        """Row positions of ``sample_keys``; a missing key is a ConfigError naming it."""
        index = {k: i for i, k in enumerate(self.keys.tolist())}
        try:
            return np.array([index[k] for k in sample_keys], dtype=np.int64)
        except KeyError as exc:
            raise ConfigError(f"no masked face/flow inputs for sample {exc.args[0]!r}; they were computed for "
                              "another table.") from None

    def raw(self, sample_keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(faces (M, S, S) or (M, T, S, S) uint8, flows (M, S, S, 2) float32)`` of ``sample_keys``, for training."""
        rows = self.rows(sample_keys)
        return self.faces[rows], self.flows[rows]

    def take(self, sample_keys: Sequence[str]) -> np.ndarray:
        """The fitted model's input: encoded faces ``(M, 1, S, S)`` (or ``(M, T, 1, S, S)``) float32 in [0, 1]."""
        return encode_face(self.faces[self.rows(sample_keys)])


def masked_face_flow(sample, cfg: MaskedFaceFlowConfig,
                     cache: FeatureCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The masked apex face ``(S, S)`` (``(T, S, S)`` faces) uint8 and masked flow ``(S, S, 2)`` float32, memoised."""
    from merkit.motion.flow import create_flow  # deferred: merkit.motion pulls cv2, scipy, skimage

    files = [sample.frame_paths[i] for i in face_frame_indices(sample.onset_index, sample.apex_index, cfg.face_frames)]
    method = create_flow(cfg.flow)
    # face_frames = 1 is left out of the key, so entries cached before the option existed stay valid
    skip = ("cache_dir", "workers", *(("face_frames",) if cfg.face_frames == 1 else ()))
    settings = {**{k: v for k, v in asdict(cfg).items() if k not in skip},
                "flow_settings": method.settings(), "version": _VERSION}
    arrays = memoise(cache, CACHE_NAMESPACE, settings, files, lambda: _compute(sample, files, cfg, method),
                     meta={"sample_key": sample.key})
    return arrays["face"], arrays["flow"]


def face_frame_indices(onset: int, apex: int, face_frames: int = 1) -> list[int]:
    """Frame indices read for one sample: the onset, then ``face_frames`` evenly spaced up to the apex (module doc)."""
    return [onset, *(onset + int(round(k * (apex - onset) / face_frames)) for k in range(1, face_frames + 1))]


def _compute(sample, files: list, cfg: MaskedFaceFlowConfig, flow_method) -> dict[str, np.ndarray]:
    clip = align_clip(ImageFiles(files, fps=sample.fps, name=sample.key, color="rgb"),
                      AlignConfig(mode="eye_line", size=cfg.size, color="gray"))
    onset, apex = clip.frames[0], clip.frames[-1]
    flow = np.asarray(flow_method(onset, apex), dtype=np.float32)
    shape = (cfg.size, cfg.size)
    if cfg.mask == "mer":
        keep = mer_mask(clip.landmarks, shape, eye_margin=cfg.eye_margin)
    elif cfg.mask == "eyes":
        keep = ~eye_mask(clip.landmarks, shape, margin=cfg.eye_margin)
    else:
        keep = np.ones(shape, dtype=bool)
    faces = np.asarray(clip.frames[1:]) if cfg.face_frames > 1 else apex
    return {"face": np.where(keep, faces, 0).astype(np.uint8),
            "flow": np.where(keep[..., None], flow, 0.0).astype(np.float32)}


class _MaskedFaceFlowJob:
    """Picklable per-sample job for :func:`merkit._parallel.parallel_map` (each process opens the cache itself)."""

    def __init__(self, cfg: MaskedFaceFlowConfig) -> None:
        self.cfg = cfg

    def __call__(self, sample) -> tuple[np.ndarray, np.ndarray]:
        return masked_face_flow(sample, self.cfg, FeatureCache(self.cfg.cache_dir or None))


def prepare_masked_face_flows(table: pd.DataFrame, cfg: MaskedFaceFlowConfig,
                              progress: bool = False) -> MaskedFaceFlows:
    """Raw masked faces and flows of every row of a sample table (module docstring).

    Raises:
        FaceNotFoundError, FrameReadError: from the face layer, naming the clip.
    """
    samples = table_to_samples(table)
    results = parallel_map(_MaskedFaceFlowJob(cfg), samples, workers=cfg.workers, chunk_size=8, progress=progress,
                           desc="masked faces and flows")
    keys = np.asarray([s.key for s in samples], dtype=object)
    if not results:
        raise ShapeError("prepare_masked_face_flows: the table has no samples.")
    return MaskedFaceFlows(keys, np.stack([r[0] for r in results]), np.stack([r[1] for r in results]))


def flip_raw(faces: np.ndarray, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror ``(N, S, S)`` or ``(N, T, S, S)`` faces and ``(N, S, S, 2)`` flows left-right; ``u`` changes sign."""
    if faces.ndim not in (3, 4) or flows.ndim != 4 or flows.shape[-1] != 2:
        raise ShapeError(f"flip_raw needs faces (N, S, S) or (N, T, S, S) and flows (N, S, S, 2); got {faces.shape}, "
                         f"{flows.shape}.")
    flipped = flows[:, :, ::-1].copy()
    flipped[..., 0] *= -1.0
    return faces[..., ::-1].copy(), flipped


def encode_face(faces: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` uint8 -> ``(N, 1, S, S)`` float32 in [0, 1]; ``(N, T, S, S)`` -> ``(N, T, 1, S, S)``."""
    return (np.asarray(faces, dtype=np.float32) / 255.0)[..., None, :, :]


def encode_flow(flows: np.ndarray, flow_image: str = "hsv") -> np.ndarray:
    """``(N, S, S, 2)`` raw flow -> ``(N, 3, S, S)`` float32 flow images in [0, 1] (module docstring)."""
    # deferred: merkit.motion pulls cv2, scipy, skimage
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
    if not out:
        return np.zeros((0, 3, *flows.shape[1:3]), dtype=np.float32)
    return np.ascontiguousarray(np.stack(out), dtype=np.float32)


@register_inputs("flow_image_then_masked_face", settings=MaskedFaceFlowConfig)
def prepare_masked_face_flow(table: pd.DataFrame, settings: MaskedFaceFlowConfig, *,
                             kind: str = "flow_image_then_masked_face", progress: bool = False) -> MaskedFaceFlows:
    """The registered preparer of ``flow_image_then_masked_face``: :func:`prepare_masked_face_flows`."""
    return prepare_masked_face_flows(table, settings, progress=progress)
