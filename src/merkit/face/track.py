"""Face tracking for long videos: landmarks every ``detect_every`` frames, interpolated between.

:func:`merkit.face.align_clip` aligns a clip once, on its reference frame; over a long
video the head moves and that crop drifts off the face. Spotting (``docs/spotting.md``)
compares frame ``t`` with frames ``t - k`` and ``t + k`` inside one face crop
(:func:`merkit.face.compute_alignment` on the track's landmarks at ``t``), so the crop
must follow the head over a long video: the face is re-detected periodically instead of
aligned once on frame 0. A frame is *face-present* when a detection succeeded within
``detect_every`` frames of it on both sides it is interpolated from; elsewhere its
landmarks are held from the nearest detection and it gets no motion score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from merkit.errors import FaceNotFoundError
from merkit.face.backends import LandmarkBackend, create_backend
from merkit.face.detect import detect_face

__all__ = ["FaceTrack", "track_face"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceTrack:
    """Per-frame landmarks of a video.

    Attributes:
        landmarks: (T, 68, 2) float32 frame pixels (interpolated between detections).
        present: (T,) bool, a face was detected near this frame.
        detected: (T,) bool, the detector ran on this frame and found a face.
        checked: (T,) bool, the detector ran on this frame.
        confidence: (T,) float32, the detector's score of the face at detected frames (dlib HOG:
            larger is surer, about 0..3), linearly interpolated between them like the landmarks;
            NaN where no face is present. dlib's landmark predictor gives no per-point confidence.
    """

    landmarks: np.ndarray
    present: np.ndarray
    detected: np.ndarray
    checked: np.ndarray
    confidence: np.ndarray

    def no_face_stretches(self) -> list[tuple[int, int]]:
        """Runs of frames without a face, as inclusive 0-based (first, last) positions."""
        runs, start = [], None
        for i, ok in enumerate(self.present):
            if not ok and start is None:
                start = i
            if ok and start is not None:
                runs.append((start, i - 1))
                start = None
        if start is not None:
            runs.append((start, len(self.present) - 1))
        return runs


def track_face(frames: Sequence[np.ndarray], detect_every: int, backend: str | LandmarkBackend = "dlib",
               name: str = "video") -> FaceTrack:
    """Detect the face every ``detect_every`` frames (and on the last frame) and interpolate.

    Args:
        frames: T frames, (H, W) or (H, W, 3) uint8.
        detect_every: frames between two detections (>= 1).
        backend: face backend name or instance.
        name: the video, for messages.

    Returns:
        :class:`FaceTrack`.

    Raises:
        FaceNotFoundError: no face in any checked frame of the whole video.
    """
    n = len(frames)
    backend = create_backend(backend)
    checked_at = sorted(set(range(0, n, max(1, int(detect_every)))) | {n - 1})
    found: dict[int, np.ndarray] = {}
    scores: dict[int, float] = {}
    for i in checked_at:
        try:
            detection = detect_face(frames[i], backend, where=f"{name} frame {i}")
            found[i], scores[i] = detection.landmarks, float(detection.box.score)
        except FaceNotFoundError:
            log.info("no face in %s frame %d", name, i)
    if not found:
        raise FaceNotFoundError(f"no face found in the whole video {name!r}: the {backend.name!r} detector ran on "
                                f"{len(checked_at)} frames (every {detect_every}) and found none; expected one "
                                f"frontal face (at least ~40 px wide).")
    keys = np.array(sorted(found))
    stack = np.stack([found[k] for k in keys]).astype(np.float32)
    positions = np.arange(n)
    landmarks = np.empty((n, 68, 2), np.float32)
    flat = stack.reshape(len(keys), -1)
    for j in range(flat.shape[1]):
        landmarks.reshape(n, -1)[:, j] = np.interp(positions, keys, flat[:, j])
    checked = np.zeros(n, bool)
    checked[checked_at] = True
    detected = np.zeros(n, bool)
    detected[keys] = True
    # Present: the nearest checked frame on each side (or the frame itself) found a face.
    present = np.zeros(n, bool)
    checks = np.array(checked_at)
    for i in range(n):
        right = checks[np.searchsorted(checks, i)]
        left = checks[np.searchsorted(checks, i, side="right") - 1]
        present[i] = detected[left] and detected[right]
    confidence = np.interp(positions, keys, [scores[k] for k in keys]).astype(np.float32)
    confidence[~present] = np.nan
    return FaceTrack(landmarks, present, detected, checked, confidence)
