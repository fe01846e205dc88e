"""Tracked face extraction for long videos (``merkit faces --track N``).

Instead of one transform from the reference frame, each frame is cropped with its own
alignment: the face is detected every ``detect_every`` frames (and on the last frame) and
the landmarks are interpolated linearly between two detections, so the crop follows a
moving head. The video is read once, in order; only the frames since the last detection
are held. Per frame the landmarks table gets ``face_present`` (a face was found at the
detections on both sides) and ``confidence`` (the detector's score, interpolated).

Frames next to a failed detection are cropped with the nearest landmarks found and
flagged ``face_present = False``; a frame with no successful detection on either side
gets no crop (its row has no landmarks). A frame that cannot be read stops the clip
there: the crops and rows written so far are kept and the error names the frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from merkit.data.frames import FrameSource
from merkit.errors import FaceNotFoundError, FrameReadError
from merkit.face.align import AlignConfig, compute_alignment
from merkit.face.backends import LandmarkBackend
from merkit.face.detect import detect_face
from merkit.face.overlay import write_png

__all__ = ["TRACK_COLUMNS", "TrackedClip", "extract_tracked"]

log = logging.getLogger(__name__)

#: Extra columns of ``landmarks.csv`` in tracked mode, after ``n_faces``.
TRACK_COLUMNS = ("face_present", "confidence")

_Detection = tuple[int, np.ndarray | None, float]  # (position, landmarks or None, detector score)


class TrackedClip:
    """What :func:`extract_tracked` wrote for one clip.

    Attributes:
        rows: landmarks-table rows (clip, frame_index, frame, n_faces, face_present, confidence, x0.., y0..).
        n_written: crops written.
        n_present: frames with a face present.
        error: why reading stopped early ('' when every frame was read).
    """

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.n_written = 0
        self.n_present = 0
        self.error = ""


def _detect(frame: np.ndarray, position: int, backend: LandmarkBackend, name: str) -> _Detection:
    try:
        found = detect_face(frame, backend, where=f"frame {position} of {name!r}")
        return position, found.landmarks, float(found.box.score)
    except FaceNotFoundError:
        return position, None, float("nan")


def _flush(pending: list[tuple[int, np.ndarray]], left: _Detection | None, right: _Detection | None,
           held: _Detection | None, clip: str, stems: Sequence[str], target: Path, config: AlignConfig,
           out: TrackedClip) -> None:
    """Crop and record the held-back frames between the checks ``left`` and ``right``.

    Both checks found the face: landmarks interpolated, face present. Otherwise the
    nearest landmarks known (``right``, or ``held``, the last successful detection) are
    used and only a frame where the face was detected itself is present.
    """
    for position, frame in pending:
        if left is not None and right is not None and left[1] is not None and right[1] is not None \
                and right[0] != left[0]:
            w = (position - left[0]) / (right[0] - left[0])
            landmarks, score, present = (1 - w) * left[1] + w * right[1], (1 - w) * left[2] + w * right[2], True
        else:
            known = [d for d in (right, held) if d is not None and d[1] is not None]
            if not known:
                out.rows.append([clip, position, stems[position], 0, False, float("nan")] + [float("nan")] * 136)
                continue
            nearest = min(known, key=lambda d: abs(d[0] - position))
            landmarks, score, present = nearest[1], nearest[2], nearest[0] == position
        alignment = compute_alignment(landmarks, frame.shape, config)
        crop = alignment.warp(frame)
        if config.color == "gray" and crop.ndim == 3:
            crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        write_png(target / "crops" / f"{stems[position]}.png", crop)
        pts = alignment.points(landmarks)
        out.rows.append([clip, position, stems[position], 1, bool(present),
                         round(float(score), 4) if present else float("nan"), *pts[:, 0], *pts[:, 1]])
        out.n_written += 1
        out.n_present += int(present)
    pending.clear()


def extract_tracked(source: FrameSource, clip: str, stems: Sequence[str], target: Path, config: AlignConfig,
                    backend: LandmarkBackend, detect_every: int) -> TrackedClip:
    """Write per-frame tracked crops of one clip to ``target/crops`` (module docstring).

    Args:
        source: the clip's frames (RGB), read in order.
        clip: clip name for the table rows.
        stems: output file stem per frame.
        target: the clip's output folder.
        config: alignment settings (mode, size, colour); ``landmarks`` is ignored.
        backend: face backend.
        detect_every: frames between two detections (>= 1).

    Returns:
        :class:`TrackedClip`.

    Raises:
        FaceNotFoundError: no face at any detection of the clip (nothing useful was written).
    """
    out = TrackedClip()
    n = len(source)
    every = max(1, int(detect_every))
    pending: list[tuple[int, np.ndarray]] = []
    left: _Detection | None = None  # the last check, found or not
    held: _Detection | None = None  # the last check that found the face
    for position in range(n):
        try:
            frame = source[position]
        except FrameReadError as exc:
            out.error = f"reading stopped at frame {position} ({exc}); the {position} frames before it were written"
            break
        pending.append((position, frame))
        if position % every == 0 or position == n - 1:
            right = _detect(frame, position, backend, source.name)
            _flush(pending, left, right, held, clip, stems, target, config, out)
            left = right
            if right[1] is not None:
                held = right
    if pending:
        _flush(pending, left, None, held, clip, stems, target, config, out)
    if out.n_written == 0 and not out.error:
        raise FaceNotFoundError(f"no face found in any of the detections of {source.name!r} (every {every} "
                                f"frames); expected one frontal face.")
    return out
