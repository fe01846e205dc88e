"""MOL training data: aligned gray clips, per-frame landmarks and consecutive-pair TV-L1 targets.

What MOL (seed 001; its public code's data preparation) trains on, built with
our face and motion pipelines (``docs/models/mol.md``, "Data and targets"):

* every frame of the video is aligned with one transform computed on the onset
  frame (:func:`merkit.face.align_sample`, ``mode="mol"``: eye-line rotation,
  5-point box enlarged 2.5x, 144x144, grey border 128), and dlib's 68
  landmarks are placed on every frame (``landmarks="every_frame"``);
* temporal sampling as in the code: ``interval = len // T``; every offset
  ``j in [0, interval)`` gives its own clip (frames ``j, j + interval, ...``);
  ``max_clips`` keeps that many offsets, evenly spaced (0: all). Videos shorter
  than T frames are stretched (indices repeat; :func:`merkit.motion.uniform_indices`);
* flow targets: TV-L1 (:func:`merkit.motion.compute_flow`) between the
  consecutive frames of each clip, computed on the 144x144 aligned frames and
  cropped with the same window as the frames (the code crops first, then runs
  TV-L1 on the 128x128 crops; cropping a flow field computed on the larger
  frame only differs near the crop border and lets crops be drawn online).

Everything of one video is one :class:`~merkit.cache.FeatureCache` entry
(:func:`merkit.cache.memoise`, namespace ``mol_video``), keyed by the
alignment, sampling and flow settings and the frame files; videos are
prepared in ``workers`` processes by :func:`merkit._parallel.parallel_map`.
:class:`MOLVideo` holds one in memory (uint8 frames, float16 flows).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from merkit._parallel import parallel_map
from merkit.cache import FeatureCache, memoise
from merkit.data.frames import ImageFiles
from merkit.data.sample import table_to_samples
from merkit.errors import ConfigError
from merkit.face import AlignConfig, align_clip
from merkit.inputs.registry import register_inputs

__all__ = ["MOLDataConfig", "MOLVideo", "MOLVideoSet", "clip_offsets", "prepare_video", "prepare_videos",
           "MIRROR_68", "inter_ocular"]

log = logging.getLogger(__name__)

#: Namespace of prepared MOL videos in the feature cache.
CACHE_NAMESPACE = "mol_video"
_VERSION = 1

#: Where a video's clips are drawn from (:attr:`MOLDataConfig.frames`).
FRAME_RANGES = ("video", "onset_offset", "onset_apex")

#: Mirror partner of each of the 68 iBUG points (for horizontal flips).
MIRROR_68: tuple[int, ...] = tuple(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40] + [54, 53, 52, 51, 50, 49, 48]
    + [59, 58, 57, 56, 55] + [64, 63, 62, 61, 60] + [67, 66, 65]
)


@dataclass(frozen=True)
class MOLDataConfig:
    """How MOL's clips and targets are prepared.

    Attributes:
        num_frames: T, frames per clip (8).
        align_size: side of the aligned face (144).
        crop_size: side of the network input cropped from it (128).
        box_enlarge: MOL alignment box enlargement (2.5).
        flow: registered flow method of the targets (``"tvl1"``: OpenCV defaults, as MOL).
        max_clips: temporal offsets kept per video (0: all ``len // T`` of them, as the code).
        frames: which frames clips are drawn from: ``"video"`` (every frame of the clip folder, as
            the code), ``"onset_offset"`` (the annotated interval, sampled the same way) or
            ``"onset_apex"`` (one clip per video: T frames evenly spaced from the onset to the apex,
            both included; with T = 2 exactly the onset and the apex, the paper's 2-frame row of
            Table XIII; ``max_clips`` does not apply).
        cache_dir: feature cache root ("" -> default).
        workers: processes preparing clips (1: in this process; not part of the cache key).
    """

    num_frames: int = 8
    align_size: int = 144
    crop_size: int = 128
    box_enlarge: float = 2.5
    flow: str = "tvl1"
    max_clips: int = 0
    frames: str = "video"
    cache_dir: str = ""
    workers: int = 1

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ConfigError(f"MOL num_frames must be >= 2; got {self.num_frames}.")
        if not 0 < self.crop_size <= self.align_size:
            raise ConfigError(f"MOL crop_size ({self.crop_size}) must be in (0, align_size={self.align_size}].")
        if self.max_clips < 0:
            raise ConfigError(f"MOL max_clips must be >= 0 (0: all); got {self.max_clips}.")
        if self.frames not in FRAME_RANGES:
            raise ConfigError(f"MOL frames must be one of {', '.join(map(repr, FRAME_RANGES))}; got {self.frames!r}.")

    def settings(self) -> dict:
        """Settings that shape the prepared data (cache key)."""
        return {k: v for k, v in asdict(self).items() if k not in ("cache_dir", "workers")}


def clip_offsets(n_frames: int, num_frames: int, max_clips: int = 0) -> np.ndarray:
    """Frame positions of every clip of a video, the code's sampling.

    Args:
        n_frames: frames available.
        num_frames: T.
        max_clips: keep at most this many offsets, evenly spaced (0: all).

    Returns:
        int64 ``(n_clips, T)``; row ``j`` is ``j, j + interval, ...`` with ``interval = n_frames // T``,
        or one stretched clip when ``n_frames < T``.
    """
    from merkit.motion import uniform_indices  # deferred: merkit.motion pulls cv2, scipy, skimage

    interval = n_frames // num_frames
    if interval == 0:
        return uniform_indices(0, n_frames - 1, num_frames)[None]
    offsets = np.arange(interval)
    if max_clips and interval > max_clips:
        offsets = np.unique(np.rint(np.linspace(0, interval - 1, max_clips)).astype(np.int64))
    return offsets[:, None] + interval * np.arange(num_frames)[None, :]


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the eye centres (means of points 36-41 and 42-47), ``(..., 68, 2)`` -> ``(...)``."""
    left = landmarks[..., 36:42, :].mean(-2)
    right = landmarks[..., 42:48, :].mean(-2)
    return np.linalg.norm(right - left, axis=-1)


@dataclass
class MOLVideo:
    """One prepared video.

    Attributes:
        key: sample key.
        frames: ``(N, S, S)`` uint8 aligned gray frames (S = align_size).
        landmarks: ``(N, 68, 2)`` float32 per-frame landmarks in aligned pixels.
        clips: ``(n_clips, T)`` int64 frame positions of each clip.
        flows: ``(n_clips, T - 1, 2, S, S)`` float16 (u, v) targets in pixels.
        matrix: ``(2, 3)`` frame -> aligned map (to bring ground truth into aligned pixels).
        onset_index, apex_index: positions of onset and apex in ``frames``.
    """

    key: str
    frames: np.ndarray
    landmarks: np.ndarray
    clips: np.ndarray
    flows: np.ndarray
    matrix: np.ndarray
    onset_index: int
    apex_index: int


def prepare_video(sample, cfg: MOLDataConfig, cache: FeatureCache | None = None) -> MOLVideo:
    """Align, place landmarks and compute the flow targets of one :class:`~merkit.data.sample.Sample`.

    Memoised in ``cache`` (:func:`merkit.cache.memoise`, namespace :data:`CACHE_NAMESPACE`).

    Raises:
        FaceNotFoundError: no face on the onset frame (names the sample).
    """
    from merkit.motion import create_flow  # deferred: merkit.motion pulls cv2, scipy, skimage

    first, last = {"video": (0, len(sample.frame_paths) - 1), "onset_offset": (sample.onset_index, sample.offset_index),
                   "onset_apex": (sample.onset_index, sample.apex_index)}[cfg.frames]
    files = [str(p) for p in sample.frame_paths[first : last + 1]]
    flow_method = create_flow(cfg.flow)
    settings = {"data": cfg.settings(), "flow": flow_method.settings(), "version": _VERSION}
    onset, apex = sample.onset_index - first, sample.apex_index - first
    arrays = memoise(cache, CACHE_NAMESPACE, settings, files,
                     lambda: _compute_video(sample, files, onset, cfg, flow_method, cache),
                     meta={"sample_key": sample.key})
    return MOLVideo(sample.key, arrays["frames"], arrays["landmarks"], arrays["clips"], arrays["flows"],
                    arrays["matrix"], onset, apex)


def _compute_video(sample, files: list[str], onset: int, cfg: MOLDataConfig, flow_method,
                   cache: FeatureCache | None) -> dict[str, np.ndarray]:
    from merkit.motion import compute_flow, uniform_indices  # deferred: merkit.motion pulls cv2, scipy, skimage

    align = AlignConfig(mode="mol", size=cfg.align_size, color="gray", box_enlarge=cfg.box_enlarge,
                        border_value=128, landmarks="every_frame")
    source = ImageFiles(files, fps=sample.fps, name=sample.key, color="rgb")
    clip = align_clip(source, align, reference_index=onset, cache=cache)
    if cfg.frames == "onset_apex":
        clips = uniform_indices(0, len(clip) - 1, cfg.num_frames)[None]
    else:
        clips = clip_offsets(len(clip), cfg.num_frames, cfg.max_clips)
    done: dict[tuple[int, int], np.ndarray] = {}  # clips share frame pairs: each flow is computed once
    flows = np.empty((len(clips), cfg.num_frames - 1, 2, cfg.align_size, cfg.align_size), dtype=np.float16)
    for c, idx in enumerate(clips):
        for t in range(cfg.num_frames - 1):
            pair = (int(idx[t]), int(idx[t + 1]))
            if pair not in done:
                done[pair] = compute_flow(clip.frames[pair[0]], clip.frames[pair[1]], flow_method).transpose(2, 0, 1)
            flows[c, t] = done[pair]
    return {"frames": clip.frames, "landmarks": clip.frame_landmarks.astype(np.float32), "clips": clips,
            "flows": flows, "matrix": clip.matrix}


class _PrepareVideoJob:
    """Picklable per-sample job for :func:`merkit._parallel.parallel_map` (each process opens the cache itself)."""

    def __init__(self, cfg: MOLDataConfig) -> None:
        self.cfg = cfg

    def __call__(self, sample) -> MOLVideo:
        return prepare_video(sample, self.cfg, FeatureCache(self.cfg.cache_dir or None))


class MOLVideoSet:
    """Prepared videos keyed by sample key (the inputs of the ``multitask_clips`` method)."""

    def __init__(self, videos: list[MOLVideo], cfg: MOLDataConfig) -> None:
        self.videos = {v.key: v for v in videos}
        self.cfg = cfg

    def __len__(self) -> int:
        return len(self.videos)

    def take(self, keys: Sequence[str]) -> list[MOLVideo]:
        """Videos for ``keys`` in that order.

        Raises:
            ConfigError: naming the first key that was not prepared.
        """
        try:
            return [self.videos[k] for k in keys]
        except KeyError as exc:
            raise ConfigError(f"no prepared MOL video for sample {exc.args[0]!r}; prepare the same table.") from None


def prepare_videos(table: pd.DataFrame, cfg: MOLDataConfig, workers: int = 1, progress: bool = False) -> MOLVideoSet:
    """Prepare every row of a sample table (through the cache, in ``workers`` processes)."""
    videos = parallel_map(_PrepareVideoJob(cfg), table_to_samples(table), workers=workers, chunk_size=4,
                          progress=progress, desc="MOL clips")
    log.info("MOL: %d videos, %d clips", len(videos), sum(len(v.clips) for v in videos))
    return MOLVideoSet(videos, cfg)


@register_inputs("gray_clip", settings=MOLDataConfig)
def prepare_clips(table: pd.DataFrame, settings: MOLDataConfig, *, kind: str = "gray_clip",
                  progress: bool = False) -> MOLVideoSet:
    """The registered preparer of ``gray_clip``: :func:`prepare_videos` in ``settings.workers`` processes."""
    return prepare_videos(table, settings, workers=settings.workers, progress=progress)
