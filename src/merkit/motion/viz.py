"""Pictures of motion: flow as HSV colour, flow as arrows over the face, strain as a heat map.

All functions return uint8 RGB images ``(H, W, 3)``; :func:`save_png` writes
one atomically. These images are for looking at; features are stored as floats
in the cache, never as these 8-bit pictures.

Colour code of :func:`flow_to_color` (the Middlebury/OpenCV convention): hue is
the flow direction (red = right, and the hue turns with the angle
``atan2(v, u)``; ``v`` points down), saturation is full, and value is the
magnitude scaled by ``max_magnitude`` (the field's own maximum by default).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from matplotlib import colormaps

from merkit._io import atomic_path
from merkit.errors import ShapeError
from merkit.motion.flow import to_gray_uint8

__all__ = ["flow_to_color", "draw_flow_arrows", "strain_heatmap", "save_png"]


def _check(flow: np.ndarray) -> np.ndarray:
    arr = np.asarray(flow, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise ShapeError(f"flow must have shape (H, W, 2) with channels (u, v); got {arr.shape}.")
    return arr


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Render flow as an HSV-coded RGB image.

    Args:
        flow: ``(H, W, 2)`` flow ``(u, v)`` in pixels.
        max_magnitude: magnitude (pixels) shown at full brightness; default the field's maximum.

    Returns:
        uint8 RGB ``(H, W, 3)``; zero flow is black.
    """
    arr = _check(flow)
    mag, ang = cv2.cartToPolar(arr[..., 0], arr[..., 1], angleInDegrees=True)
    top = float(mag.max()) if max_magnitude is None else float(max_magnitude)
    hsv = np.zeros(arr.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (ang / 2).astype(np.uint8)  # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / top * 255 if top > 0 else 0 * mag, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def draw_flow_arrows(
    image: np.ndarray,
    flow: np.ndarray,
    step: int = 8,
    scale: float | None = None,
    color: tuple[int, int, int] = (255, 64, 0),
) -> np.ndarray:
    """Draw flow arrows on a grid over ``image``.

    Args:
        image: ``(H, W)`` grayscale or ``(H, W, 3)`` RGB uint8 face, the flow's size.
        flow: ``(H, W, 2)`` flow in pixels.
        step: grid spacing in pixels.
        scale: arrow length per pixel of flow; default makes the longest arrow ``step`` long.
        color: RGB arrow colour.

    Returns:
        uint8 RGB ``(H, W, 3)``.
    """
    arr = _check(flow)
    img = np.asarray(image)
    if img.shape[:2] != arr.shape[:2]:
        raise ShapeError(f"image must have the flow's size {arr.shape[:2]}; got {img.shape[:2]}.")
    canvas = cv2.cvtColor(to_gray_uint8(img if img.ndim == 2 else img[..., ::-1], "image"), cv2.COLOR_GRAY2RGB)
    peak = float(np.hypot(arr[..., 0], arr[..., 1]).max())
    if scale is None:
        scale = step / peak if peak > 0 else 0.0
    for y in range(step // 2, arr.shape[0], step):
        for x in range(step // 2, arr.shape[1], step):
            u, v = arr[y, x] * scale
            if u * u + v * v < 0.25:
                continue
            cv2.arrowedLine(canvas, (x, y), (int(round(x + u)), int(round(y + v))), color, 1, cv2.LINE_AA,
                            tipLength=0.3)
    return canvas


def strain_heatmap(strain: np.ndarray, vmax: float | None = None, cmap: str = "inferno") -> np.ndarray:
    """Render an optical-strain map with a matplotlib colour map.

    Args:
        strain: ``(H, W)`` strain magnitude (dimensionless, >= 0).
        vmax: value at the top of the colour map; default the map's maximum.
        cmap: matplotlib colour map name.

    Returns:
        uint8 RGB ``(H, W, 3)``.
    """
    arr = np.asarray(strain, dtype=np.float64)
    if arr.ndim != 2:
        raise ShapeError(f"strain must have shape (H, W); got {arr.shape}.")
    top = float(arr.max()) if vmax is None else float(vmax)
    scaled = np.clip(arr / top, 0, 1) if top > 0 else np.zeros_like(arr)
    return (colormaps[cmap](scaled)[..., :3] * 255).round().astype(np.uint8)


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an RGB (or grayscale) uint8 image as PNG, atomically."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ShapeError(f"image must be uint8 (H, W) or (H, W, 3); got {img.shape} {img.dtype}.")
    out = img[..., ::-1] if img.ndim == 3 else img  # OpenCV writes BGR
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(out)):
            raise OSError(f"OpenCV could not write PNG {os.fspath(path)!r}.")
    return Path(path)
