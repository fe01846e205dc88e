"""Face tracking for long videos: landmarks every ``detect_every`` frames, interpolated between.

:func:`merkit.face.align_clip` aligns a clip once, on its reference frame; over a long
video the head moves and that crop drifts off the face. Spotting (``docs/spotting.md``)
compares frame ``t`` with frames ``t - k`` and ``t + k`` inside one face crop
(:func:`merkit.face.compute_alignment` on the track's landmarks at ``t``), so the crop
must follow the head over a long video: the face is re-detected periodically instead of
aligned once on frame 0. A frame is *face-present* when a detection succeeded within
``detect_every`` frames of it on both sides it is interpolated from; elsewhere its
landmarks are held from the nearest detection and it gets no motion score.

Two forms give the same track: :func:`track_face` over a whole sequence, and
:class:`FaceTracker`, which takes frames one at a time (a live source) and finalises each
frame at the latest ``detect_every - 1`` frames later, when the next detection is known;
it holds only the frames since the last detection. On face-present frames both give
identical landmarks, presence and confidence; on a frame without a face whose next
detection failed, :class:`FaceTracker` holds the last detection's landmarks (NaN before
any) where :func:`track_face` interpolates towards a later detection it already knows.

Detection (``detect_mode``): ``"full"`` runs the detector on the whole frame;
``"near_last"`` first searches a region of three face widths around the last face found,
resized so that the face is about :data:`NEAR_LAST_FACE_PX` pixels wide (dlib's HOG window
is 80 px), and falls back to the whole frame when that finds nothing. The landmarks are
always placed on the full-resolution frame. ``near_last`` costs about a quarter of ``full``
on a 640x480 frame with a 260 px face (``docs/spotting.md``, "Speed").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from merkit.errors import ConfigError, FaceNotFoundError
from merkit.face.backends import FaceBox, LandmarkBackend, create_backend
from merkit.face.detect import FaceDetection, detect_face

__all__ = ["DETECT_MODES", "NEAR_LAST_FACE_PX", "FaceTrack", "FaceTracker", "TrackedFrame", "track_face"]

log = logging.getLogger(__name__)

#: Where the detector looks (module docstring).
DETECT_MODES = ("full", "near_last")
#: ``near_last``: face width the search region is resized to, pixels (dlib's HOG finds faces from 80 px).
NEAR_LAST_FACE_PX = 110.0
_NEAR_LAST_MARGIN = 1.0  # face widths added on each side of the last box


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


@dataclass(frozen=True)
class TrackedFrame:
    """One frame finalised by :class:`FaceTracker`.

    Attributes:
        index: 0-based position among the frames pushed.
        landmarks: (68, 2) float32 frame pixels; NaN when no face has been found yet.
        present: a face was detected at the checks on both sides of this frame.
        detected: the detector ran on this frame and found a face.
        checked: the detector ran on this frame.
        confidence: the detector's score, interpolated like the landmarks; NaN without a face.
        frame: the frame as pushed (None when the tracker keeps no frames).
    """

    index: int
    landmarks: np.ndarray
    present: bool
    detected: bool
    checked: bool
    confidence: float
    frame: np.ndarray | None


def _check_mode(detect_mode: str) -> None:
    if detect_mode not in DETECT_MODES:
        raise ConfigError(f"detect_mode must be one of {list(DETECT_MODES)!r}; got {detect_mode!r}.")


def _near_last(frame: np.ndarray, backend: LandmarkBackend, last: FaceBox) -> FaceDetection | None:
    """The largest face in a resized region around ``last`` (frame pixels), or None."""
    h, w = frame.shape[:2]
    side = max(last.width, last.height)
    x0, y0 = max(0, int(last.left - _NEAR_LAST_MARGIN * side)), max(0, int(last.top - _NEAR_LAST_MARGIN * side))
    x1, y1 = min(w, int(last.right + _NEAR_LAST_MARGIN * side)), min(h, int(last.bottom + _NEAR_LAST_MARGIN * side))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    factor = min(1.0, NEAR_LAST_FACE_PX / max(side, 1.0))
    region = frame[y0:y1, x0:x1]
    if factor < 1.0:
        region = cv2.resize(region, (max(16, round((x1 - x0) * factor)), max(16, round((y1 - y0) * factor))),
                            interpolation=cv2.INTER_AREA)
    boxes = backend.detect(np.ascontiguousarray(region))
    if not boxes:
        return None
    best = max(boxes, key=lambda b: (b.area, b.score))
    box = FaceBox(best.left / factor + x0, best.top / factor + y0, best.right / factor + x0,
                  best.bottom / factor + y0, best.score)
    return FaceDetection(box=box, landmarks=backend.landmarks(frame, box), n_faces=len(boxes))


class _Detector:
    """One face detection per checked frame, in ``full`` or ``near_last`` mode (module docstring)."""

    def __init__(self, backend: str | LandmarkBackend, detect_mode: str, name: str) -> None:
        _check_mode(detect_mode)
        self.backend, self.mode, self.name = create_backend(backend), detect_mode, name
        self.last: FaceBox | None = None

    def __call__(self, frame: np.ndarray, index: int) -> tuple[np.ndarray, float] | None:
        """``(landmarks (68, 2) float32, score)`` of the face in ``frame``, or None."""
        found = None
        if self.mode == "near_last" and self.last is not None:
            found = _near_last(frame, self.backend, self.last)
        if found is None:
            try:
                found = detect_face(frame, self.backend, where=f"{self.name} frame {index}")
            except FaceNotFoundError:
                log.info("no face in %s frame %d", self.name, index)
                return None
        self.last = found.box
        return np.asarray(found.landmarks, np.float32), float(found.box.score)


def _no_face_error(name: str, backend: str, n_checked: int, detect_every: int) -> FaceNotFoundError:
    return FaceNotFoundError(f"no face found in the whole video {name!r}: the {backend!r} detector ran on "
                             f"{n_checked} frames (every {detect_every}) and found none; expected one "
                             f"frontal face (at least ~40 px wide).")


def track_face(frames: Sequence[np.ndarray], detect_every: int, backend: str | LandmarkBackend = "dlib",
               name: str = "video", detect_mode: str = "full") -> FaceTrack:
    """Detect the face every ``detect_every`` frames (and on the last frame) and interpolate.

    Args:
        frames: T frames, (H, W) or (H, W, 3) uint8.
        detect_every: frames between two detections (>= 1).
        backend: face backend name or instance.
        name: the video, for messages.
        detect_mode: ``"full"`` or ``"near_last"`` (module docstring).

    Returns:
        :class:`FaceTrack`.

    Raises:
        FaceNotFoundError: no face in any checked frame of the whole video.
        ConfigError: unknown ``detect_mode``.
    """
    n = len(frames)
    detector = _Detector(backend, detect_mode, name)
    checked_at = sorted(set(range(0, n, max(1, int(detect_every)))) | {n - 1})
    found: dict[int, np.ndarray] = {}
    scores: dict[int, float] = {}
    for i in checked_at:
        hit = detector(frames[i], i)
        if hit is not None:
            found[i], scores[i] = hit
    if not found:
        raise _no_face_error(name, detector.backend.name, len(checked_at), detect_every)
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


def _between(j: int, a: int, fa: np.ndarray, b: int, fb: np.ndarray) -> np.ndarray:
    """``np.interp`` at ``a < j < b`` between two keys, with its exact arithmetic (float64)."""
    fa64, fb64 = fa.astype(np.float64), fb.astype(np.float64)
    return ((fb64 - fa64) / float(b - a)) * float(j - a) + fa64


class FaceTracker:
    """:func:`track_face` on frames pushed one at a time (module docstring).

    Frame ``i`` is checked when ``i % detect_every == 0``, and the last frame at
    :meth:`close`; frames between two checks are finalised when the later one has run, so
    each frame comes out at most ``detect_every - 1`` frames after it was pushed. Only
    the frames since the last check are held.

    Args:
        detect_every: frames between two detections (>= 1).
        backend: face backend name or instance.
        name: the stream, for messages.
        detect_mode: ``"full"`` or ``"near_last"`` (module docstring).
        keep_frames: return each frame with its landmarks (:attr:`TrackedFrame.frame`).

    Example:
        >>> tracker = FaceTracker(15)  # doctest: +SKIP
        >>> done = [t for f in frames for t in tracker.push(f)] + tracker.close()  # doctest: +SKIP
    """

    def __init__(self, detect_every: int, backend: str | LandmarkBackend = "dlib", name: str = "stream", *,
                 detect_mode: str = "full", keep_frames: bool = True) -> None:
        if int(detect_every) < 1:
            raise ConfigError(f"detect_every must be >= 1 frame; got {detect_every!r}.")
        self.detect_every, self.name, self.keep_frames = int(detect_every), name, keep_frames
        self._detect = _Detector(backend, detect_mode, name)
        self._pending: list[tuple[int, np.ndarray]] = []
        self._check: tuple[int, np.ndarray | None, float] | None = None  # last check: index, landmarks, score
        self._found: tuple[int, np.ndarray, float] | None = None  # last successful detection
        self._n = 0
        self._n_checked = 0
        self._closed = False

    @property
    def n_frames(self) -> int:
        """Frames pushed so far."""
        return self._n

    @property
    def n_pending(self) -> int:
        """Frames pushed and not yet finalised (at most ``detect_every - 1``)."""
        return len(self._pending)

    @property
    def delay_frames(self) -> int:
        """Most frames between pushing a frame and getting it back."""
        return self.detect_every - 1

    def push(self, frame: np.ndarray) -> list[TrackedFrame]:
        """Add the next frame, (H, W) or (H, W, 3) uint8; returns the frames finalised by it, in order."""
        if self._closed:
            raise ConfigError(f"FaceTracker {self.name!r} is closed; create a new one for another stream.")
        index = self._n
        self._n += 1
        if index % self.detect_every:
            self._pending.append((index, frame))
            return []
        return self._run_check(index, frame)

    def close(self) -> list[TrackedFrame]:
        """End of stream: check the last frame (if it was not) and finalise the frames held.

        Raises:
            FaceNotFoundError: no face in any checked frame of the stream.
        """
        if self._closed:
            return []
        out: list[TrackedFrame] = []
        if self._pending:
            index, frame = self._pending.pop()
            out = self._run_check(index, frame)
        self._closed = True
        if self._found is None and self._n:
            raise _no_face_error(self.name, self._detect.backend.name, self._n_checked, self.detect_every)
        return out

    def _run_check(self, index: int, frame: np.ndarray) -> list[TrackedFrame]:
        hit = self._detect(frame, index)
        self._n_checked += 1
        lm, score = hit if hit is not None else (None, float("nan"))
        previous, left_found = self._check, self._found
        left_ok = previous is not None and previous[1] is not None
        out = []
        for j, held in self._pending:
            present = left_ok and lm is not None
            if lm is not None and left_found is not None:
                a, fa, sa = left_found
                points = _between(j, a, fa, index, lm).astype(np.float32)
                conf = float(np.float32(_between(j, a, np.float64(sa), index, np.float64(score))))
            elif lm is not None:  # no face before: track_face holds the first detection
                points, conf = lm.copy(), score
            elif left_found is not None:  # the next detection is not known yet: hold the last
                points, conf = left_found[1].copy(), float("nan")
            else:
                points, conf = np.full((68, 2), np.nan, np.float32), float("nan")
            out.append(TrackedFrame(j, points, present, False, False, conf if present else float("nan"),
                                    held if self.keep_frames else None))
        if lm is not None:
            self._found = (index, lm, score)
            own, conf = lm.copy(), float(np.float32(score))
        elif left_found is not None:
            own, conf = left_found[1].copy(), float("nan")
        else:
            own, conf = np.full((68, 2), np.nan, np.float32), float("nan")
        out.append(TrackedFrame(index, own, lm is not None, lm is not None, True, conf,
                                frame if self.keep_frames else None))
        self._check = (index, lm, score)
        self._pending = []
        return out
