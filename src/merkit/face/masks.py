"""Region masks from 68 landmarks: eyes (to suppress blinks) and the face.

Papers 002 and 003 mask the eye regions before computing optical flow so that
blinks and gaze shifts, which are large and frequent, do not dominate the
subtle facial muscle motion. Neither paper says how large the masked region
is; here it is the convex hull of each eye's six points grown by
``margin`` x the eye width (named option, default 0.25, which covers the
eyelids). The face mask is the convex hull of the 68 points, optionally
extended upward to take in the forehead (the 68 points stop at the brows,
while brow raisers AU1/AU2 wrinkle the forehead).

All masks are boolean ``(H, W)`` arrays, ``True`` inside the region.
"""

from __future__ import annotations

import numpy as np

from merkit.errors import ConfigError, ShapeError
from merkit.face.backends import N_LANDMARKS
from merkit.face.detect import LANDMARK_GROUPS, eye_centres

__all__ = ["eye_mask", "face_mask", "mer_mask", "apply_mask"]


def _points(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2):
        raise ShapeError(f"landmarks must have shape ({N_LANDMARKS}, 2) (x, y); got {pts.shape}.")
    return pts


def _fill_hull(mask: np.ndarray, pts: np.ndarray) -> None:
    import cv2  # deferred: cv2 adds ~90 ms to importing merkit.face

    # fillConvexPoly works in 1/16 px fixed point when shift=4, so sub-pixel landmarks are honoured
    hull = cv2.convexHull(np.round(pts * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)


def eye_mask(landmarks: np.ndarray, shape: tuple[int, int], margin: float = 0.25) -> np.ndarray:
    """Mask of both eye regions.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` in the pixels of the image the mask is for.
        shape: ``(H, W)`` of the mask.
        margin: growth of each eye's convex hull, as a fraction of that eye's width (corner to corner).

    Returns:
        ``(H, W)`` bool, ``True`` on the eyes.

    Raises:
        ShapeError: landmarks are not ``(68, 2)``.
        ConfigError: ``margin`` is negative.
    """
    import cv2  # deferred: cv2 adds ~90 ms to importing merkit.face

    if margin < 0:
        raise ConfigError(f"eye mask margin must be >= 0 (fraction of the eye width); got {margin!r}.")
    pts = _points(landmarks)
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), dtype=bool)
    for group in ("right_eye", "left_eye"):
        a, b = LANDMARK_GROUPS[group]
        eye = pts[a:b]
        width = float(np.hypot(*(eye[3] - eye[0])))  # points 36/39 and 42/45 are the eye corners
        hull = np.zeros((h, w), dtype=np.uint8)
        _fill_hull(hull, eye)
        if margin > 0:
            # distance of every outside pixel to the hull; grow by margin * eye width
            dist = cv2.distanceTransform((hull == 0).astype(np.uint8), cv2.DIST_L2, 5)
            out |= dist <= margin * width
        else:
            out |= hull.astype(bool)
    return out


def face_mask(landmarks: np.ndarray, shape: tuple[int, int], forehead: float = 0.25) -> np.ndarray:
    """Mask of the face: convex hull of the 68 points plus an optional forehead band.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels.
        shape: ``(H, W)`` of the mask.
        forehead: how far the brow points are copied upward (perpendicular to
            the eye line), as a fraction of the eye-centre-to-mouth-centre
            distance; 0 stops at the brows.

    Returns:
        ``(H, W)`` bool, ``True`` on the face.
    """
    if forehead < 0:
        raise ConfigError(f"forehead must be >= 0; got {forehead!r}.")
    pts = _points(landmarks)
    hull_pts = pts
    if forehead > 0:
        right, left = eye_centres(pts)
        eyes = (right + left) / 2.0
        mouth = pts[48:68].mean(axis=0)
        up = eyes - mouth  # points from the mouth towards the forehead
        brows = pts[17:27] + forehead * up
        hull_pts = np.concatenate([pts, brows])
    out = np.zeros((int(shape[0]), int(shape[1])), dtype=np.uint8)
    _fill_hull(out, hull_pts)
    return out.astype(bool)


def mer_mask(
    landmarks: np.ndarray, shape: tuple[int, int], eye_margin: float = 0.25, forehead: float = 0.25
) -> np.ndarray:
    """Pixels kept for micro-expression analysis in papers 002/003: the face without the eyes.

    Returns:
        ``(H, W)`` bool, ``True`` where pixels are kept.
    """
    return face_mask(landmarks, shape, forehead=forehead) & ~eye_mask(landmarks, shape, margin=eye_margin)


def apply_mask(images: np.ndarray, keep: np.ndarray, fill: float = 0) -> np.ndarray:
    """Set the pixels outside ``keep`` to ``fill``.

    Args:
        images: ``(H, W)``, ``(H, W, C)``, ``(T, H, W)`` or ``(T, H, W, C)``
            (channels last, as aligned clips are).
        keep: ``(H, W)`` bool mask.
        fill: value written outside the mask.

    Returns:
        A masked copy with the dtype of ``images``.

    Raises:
        ShapeError: the mask does not match the image's ``(H, W)``.
    """
    images = np.asarray(images)
    keep = np.asarray(keep, dtype=bool)
    if keep.ndim != 2:
        raise ShapeError(f"mask must be (H, W); got shape {keep.shape}.")
    h, w = keep.shape
    if images.ndim == 2 or (images.ndim == 3 and images.shape[:2] == (h, w) and images.shape[2] in (1, 3, 4)):
        spatial = images.shape[:2]
        expand: tuple = (slice(None), slice(None)) + (None,) * (images.ndim - 2)
    elif images.ndim in (3, 4):
        spatial = images.shape[1:3]
        expand = (None, slice(None), slice(None)) + (None,) * (images.ndim - 3)
    else:
        spatial = None
    if spatial != (h, w):
        raise ShapeError(
            f"mask of shape {keep.shape} does not match images of shape {images.shape}; "
            f"expected (H, W), (H, W, C), (T, H, W) or (T, H, W, C) with (H, W) = {keep.shape}."
        )
    out = images.copy()
    np.copyto(out, np.asarray(fill, dtype=images.dtype), where=~keep[expand])
    return out
