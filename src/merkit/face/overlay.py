"""Quick-look overlays (landmarks and crop box on the reference frame) and PNG writing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from merkit._io import write_bytes
from merkit.errors import FrameReadError
from merkit.face.align import transform_points

__all__ = ["draw_overlay", "write_png"]

_LANDMARK_COLOR = (0, 255, 0)
_BOX_COLOR = (255, 64, 0)
_CROP_COLOR = (0, 160, 255)


def draw_overlay(
    image: np.ndarray,
    landmarks: np.ndarray | None,
    crop_matrix: np.ndarray,
    size: int,
    box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Draw landmarks (green), the detector box (orange) and the crop square (blue).

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` uint8 frame (RGB).
        landmarks: ``(68, 2)`` landmarks in frame pixels, or ``None``.
        crop_matrix: ``(2, 3)`` frame -> crop map of the alignment.
        size: crop side in pixels.
        box: detector box ``(left, top, right, bottom)`` in frame pixels, or ``None``.

    Returns:
        ``(H, W, 3)`` uint8 RGB copy with the drawings.
    """
    import cv2  # deferred: cv2 adds ~90 ms to importing merkit.face

    out = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    inverse = cv2.invertAffineTransform(np.asarray(crop_matrix, dtype=np.float64))
    s = size - 0.5
    corners = transform_points(np.array([[-0.5, -0.5], [s, -0.5], [s, s], [-0.5, s]]), inverse)
    cv2.polylines(out, [np.round(corners).astype(np.int32)], True, _CROP_COLOR, thickness, cv2.LINE_AA)
    if box is not None:
        left, top, right, bottom = (int(round(v)) for v in box)
        cv2.rectangle(out, (left, top), (right - 1, bottom - 1), _BOX_COLOR, thickness, cv2.LINE_AA)
    if landmarks is not None:
        for x, y in np.asarray(landmarks):
            cv2.circle(out, (int(round(x)), int(round(y))), thickness + 1, _LANDMARK_COLOR, -1, cv2.LINE_AA)
    return out


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an ``(H, W)`` gray or ``(H, W, 3)`` RGB uint8 image as PNG, atomically.

    Raises:
        FrameReadError: OpenCV cannot encode the image.
    """
    import cv2  # deferred: cv2 adds ~90 ms to importing merkit.face

    data = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", data)
    if not ok:
        raise FrameReadError(f"cannot encode image of shape {image.shape} as PNG for {str(path)!r}.")
    return write_bytes(path, buf.tobytes())
