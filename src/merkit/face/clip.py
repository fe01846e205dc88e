"""Align a whole clip with one transform computed on its reference (onset) frame.

:func:`align_clip` detects the face and its landmarks on the reference frame
only, computes one :class:`~merkit.face.align.Alignment` and warps every frame
with it, so that the only motion left between frames is the face's own.
Results can be cached in the shared :class:`~merkit.cache.FeatureCache`
(namespace ``"faces"``), keyed by the alignment settings, the backend
settings, the reference index and the content of the input frame files.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from merkit.cache import FeatureCache
from merkit.data.frames import FrameSource, ImageFiles, VideoFile, open_frames
from merkit.data.sample import Sample
from merkit.errors import ConfigError, FaceNotFoundError, FrameReadError
from merkit.face.align import AlignConfig, Alignment, compute_alignment
from merkit.face.backends import FaceBox, LandmarkBackend, create_backend
from merkit.face.detect import detect_face
from merkit.face.masks import eye_mask, face_mask, mer_mask

__all__ = ["AlignedClip", "align_clip", "align_sample", "CACHE_NAMESPACE"]

log = logging.getLogger(__name__)

#: Namespace of aligned clips in the shared feature cache.
CACHE_NAMESPACE = "faces"
# bump when the alignment code changes its output for the same settings
_ALGORITHM_VERSION = 1


@dataclass(frozen=True)
class AlignedClip:
    """Aligned face crops of one clip.

    Attributes:
        frames: ``(T, S, S)`` gray or ``(T, S, S, 3)`` RGB uint8 crops.
        landmarks: ``(68, 2)`` float32 landmarks of the reference frame in crop
            pixels, or ``None`` when ``landmarks="skip"``.
        frame_landmarks: ``(T, 68, 2)`` float32 per-frame landmarks in crop
            pixels (``landmarks="every_frame"``), else ``None``.
        matrix: ``(2, 3)`` float64 frame -> crop map shared by all frames.
        box: face box on the reference frame in frame pixels (``None`` if not detected).
        n_faces: faces found on the reference frame (the largest was used); 0 if not detected.
        reference_index: 0-based index of the frame the alignment was computed on.
        source_shape: ``(H, W)`` of the source frames.
        fps: frame rate of the source, or ``None``.
        config: the alignment settings.
        name: the source (path) for messages.
    """

    frames: np.ndarray
    landmarks: np.ndarray | None
    frame_landmarks: np.ndarray | None
    matrix: np.ndarray
    box: FaceBox | None
    n_faces: int
    reference_index: int
    source_shape: tuple[int, int]
    fps: float | None
    config: AlignConfig
    name: str

    @property
    def size(self) -> int:
        return int(self.frames.shape[1])

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def alignment(self) -> Alignment:
        """The frame -> crop :class:`Alignment`."""
        return Alignment(self.matrix, self.size, self.source_shape, self.config)

    def _need_landmarks(self) -> np.ndarray:
        if self.landmarks is None:
            raise ConfigError(
                f"clip {self.name!r} was aligned with landmarks='skip'; masks need landmarks. "
                f"Align with landmarks='reference'."
            )
        return self.landmarks

    def eye_mask(self, margin: float = 0.25) -> np.ndarray:
        """``(S, S)`` bool, ``True`` on the eyes (see :func:`merkit.face.masks.eye_mask`)."""
        return eye_mask(self._need_landmarks(), (self.size, self.size), margin=margin)

    def face_mask(self, forehead: float = 0.25) -> np.ndarray:
        """``(S, S)`` bool, ``True`` on the face (see :func:`merkit.face.masks.face_mask`)."""
        return face_mask(self._need_landmarks(), (self.size, self.size), forehead=forehead)

    def mer_mask(self, eye_margin: float = 0.25, forehead: float = 0.25) -> np.ndarray:
        """``(S, S)`` bool: the face without the eyes (papers 002/003)."""
        return mer_mask(self._need_landmarks(), (self.size, self.size), eye_margin=eye_margin, forehead=forehead)


def _cache_inputs(source: FrameSource) -> tuple[list[str], dict[str, Any]]:
    """Files that enter the cache key, plus extra settings for sources without files."""
    if isinstance(source, ImageFiles):
        return [str(p) for p in source.paths], {}
    if isinstance(source, VideoFile):
        return [str(source.path)], {}
    # in-memory frames: key on the pixels themselves
    digest = hashlib.sha256()
    for frame in source:
        digest.update(np.ascontiguousarray(frame).tobytes())
    return [], {"array_sha256": digest.hexdigest(), "n_frames": len(source)}


def align_clip(
    frames: Any,
    config: AlignConfig | None = None,
    *,
    backend: str | LandmarkBackend = "dlib",
    reference_index: int = 0,
    fps: float | None = None,
    cache: FeatureCache | None = None,
    **overrides: Any,
) -> AlignedClip:
    """Detect the face on the reference frame and crop every frame with the same transform.

    Args:
        frames: a :class:`~merkit.data.frames.FrameSource`, an image folder,
            a video file, a list of image files or a ``(T, H, W[, 3])`` array.
        config: alignment settings; keyword ``overrides`` replace its fields
            (``align_clip(path, size=128, mode="mol")``).
        backend: face backend name or instance (``"dlib"``).
        reference_index: 0-based index of the frame to align on (the onset; 0
            for clips that start at the onset). Negative counts from the end.
        fps: frame rate, used when ``frames`` does not carry one.
        cache: a :class:`~merkit.cache.FeatureCache` to read and store the result.

    Returns:
        :class:`AlignedClip` with ``(T, S, S[, 3])`` uint8 crops.

    Raises:
        FaceNotFoundError: no face on the reference frame (the message names the frame).
        FrameReadError: a frame cannot be read.
        ShapeError: frames of the clip differ in size.

    Example:
        >>> clip = align_clip("sub01/EP02_01f", size=128, mode="eye_line")  # doctest: +SKIP
        >>> clip.frames.shape, clip.landmarks.shape  # doctest: +SKIP
        ((T, 128, 128), (68, 2))
    """
    config = AlignConfig(**{**(config or AlignConfig()).to_dict(), **overrides})
    # detection always reads RGB; the crops are converted to the requested colour afterwards
    source = open_frames(frames, fps=fps, color="rgb")
    n = len(source)
    ref = reference_index + n if reference_index < 0 else reference_index
    if not 0 <= ref < n:
        raise ConfigError(f"reference_index {reference_index} is out of range for {source.name!r} with {n} frames.")
    backend = create_backend(backend)
    key = None
    if cache is not None:
        inputs, extra = _cache_inputs(source)
        settings = {"align": config.to_dict(), "backend": backend.settings(), "reference_index": ref,
                    "version": _ALGORITHM_VERSION, **extra}
        key = cache.key(CACHE_NAMESPACE, settings, inputs)
        hit = cache.load(key)
        if hit is not None:
            log.debug("faces cache hit for %s", source.name)
            return _from_cache(hit, cache.meta(key) or {}, config, source)
    clip = _align(source, ref, config, backend)
    if cache is not None and key is not None:
        arrays = {"frames": clip.frames, "matrix": clip.matrix,
                  "source_shape": np.asarray(clip.source_shape, dtype=np.int64)}
        if clip.landmarks is not None:
            arrays["landmarks"] = clip.landmarks
        if clip.frame_landmarks is not None:
            arrays["frame_landmarks"] = clip.frame_landmarks
        if clip.box is not None:
            arrays["box"] = np.asarray(clip.box.as_tuple() + (clip.box.score,), dtype=np.float64)
        cache.save(key, arrays, {"name": clip.name, "n_faces": clip.n_faces, "reference_index": ref,
                                 "fps": clip.fps})
    return clip


def _align(source: FrameSource, ref: int, config: AlignConfig, backend: LandmarkBackend) -> AlignedClip:
    import cv2  # deferred: cv2 adds ~90 ms to importing merkit.face

    reference = source[ref]
    where = f"frame {ref} ({source.frame_name(ref)}) of {source.name!r}"
    detection = None
    if config.landmarks != "skip":
        detection = detect_face(reference, backend, where=where)
    alignment = compute_alignment(None if detection is None else detection.landmarks, reference.shape, config)
    crops, per_frame = [], []
    for i in range(len(source)):
        frame = reference if i == ref else source[i]
        if frame.shape != reference.shape:
            raise FrameReadError(
                f"frame {i} ({source.frame_name(i)}) of {source.name!r} has shape {frame.shape}; "
                f"expected {reference.shape} like the reference frame {ref}."
            )
        if config.landmarks == "every_frame" and detection is not None:
            # the face barely moves in a micro-expression clip: reuse the reference box
            per_frame.append(alignment.points(backend.landmarks(frame, detection.box)))
        crop = alignment.warp(frame)
        if config.color == "gray":
            crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        crops.append(crop)
    return AlignedClip(
        frames=np.stack(crops),
        landmarks=None if detection is None else alignment.points(detection.landmarks),
        frame_landmarks=np.stack(per_frame).astype(np.float32) if per_frame else None,
        matrix=alignment.matrix,
        box=None if detection is None else detection.box,
        n_faces=0 if detection is None else detection.n_faces,
        reference_index=ref,
        source_shape=(int(reference.shape[0]), int(reference.shape[1])),
        fps=source.fps,
        config=config,
        name=source.name,
    )


def _from_cache(arrays: dict[str, np.ndarray], meta: dict, config: AlignConfig, source: FrameSource) -> AlignedClip:
    box_arr = arrays.get("box")
    box = None if box_arr is None else FaceBox(*(float(v) for v in box_arr))
    shape = arrays["source_shape"]
    return AlignedClip(
        frames=arrays["frames"],
        landmarks=arrays.get("landmarks"),
        frame_landmarks=arrays.get("frame_landmarks"),
        matrix=arrays["matrix"],
        box=box,
        n_faces=int(meta.get("n_faces", 0)),
        reference_index=int(meta.get("reference_index", 0)),
        source_shape=(int(shape[0]), int(shape[1])),
        fps=source.fps,
        config=config,
        name=source.name,
    )


def align_sample(
    sample: Sample,
    config: AlignConfig | None = None,
    *,
    backend: str | LandmarkBackend = "dlib",
    cache: FeatureCache | None = None,
    **overrides: Any,
) -> AlignedClip:
    """Align the frames of a :class:`~merkit.data.sample.Sample` on its onset frame.

    Args:
        sample: the annotated clip; its ``frame_paths`` are read and its
            ``onset_index`` is the reference frame.
        config, backend, cache, overrides: as in :func:`align_clip`.

    Raises:
        FaceNotFoundError: no face on the onset frame (the message names the sample).
    """
    source = ImageFiles(sample.frame_paths, fps=sample.fps, name=sample.key)
    try:
        return align_clip(source, config, backend=backend, reference_index=sample.onset_index, cache=cache,
                          **overrides)
    except FaceNotFoundError as exc:
        raise FaceNotFoundError(f"sample {sample.key!r}: {exc}") from exc
