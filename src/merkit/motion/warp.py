"""Known smooth warps: image pairs with an exactly known flow, for checking flow methods.

:func:`smooth_random_flow` draws a smooth displacement field (a sum of
Gaussian bumps, like a local facial muscle movement, plus an optional global
translation), and :func:`warp_pair` turns one photo into a pair
``(prev, next)`` whose true forward flow is known: ``next(p + f(p)) = prev(p)``.

``next`` is rendered by backward mapping (``cv2.remap``,
bilinear): ``next(q) = prev(q - d(q))`` for a field ``d`` defined on the grid
of ``next``. The forward flow at a pixel ``p`` of ``prev`` is then the
solution of ``f(p) = d(p + f(p))``, found by fixed-point iteration (it
converges because ``d`` is smooth with a gradient well below 1).
"""

from __future__ import annotations

import cv2
import numpy as np

from merkit.errors import ShapeError

__all__ = ["smooth_random_flow", "warp_backward", "warp_pair"]


def smooth_random_flow(
    height: int,
    width: int,
    *,
    max_displacement: float = 2.0,
    n_bumps: int = 6,
    translation: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> np.ndarray:
    """Draw a smooth displacement field.

    Args:
        height, width: field size in pixels.
        max_displacement: largest |d| of the bump part, in pixels.
        n_bumps: number of Gaussian bumps (random centres, widths 8-20 % of the size).
        translation: global ``(u, v)`` shift added everywhere, in pixels.
        seed: random seed.

    Returns:
        float32 ``(H, W, 2)`` displacement ``(u, v)`` in pixels.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    field = np.zeros((height, width, 2))
    size = min(height, width)
    for _ in range(n_bumps):
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        sigma = rng.uniform(0.08, 0.20) * size
        direction = rng.normal(size=2)
        bump = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        field += bump[..., None] * direction
    peak = np.abs(np.linalg.norm(field, axis=2)).max()
    if peak > 0:
        field *= max_displacement / peak
    field += np.asarray(translation, dtype=np.float64)
    return field.astype(np.float32)


def warp_backward(image: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """Render ``out(q) = image(q - d(q))`` with bilinear interpolation and reflected borders.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array.
        displacement: ``(H, W, 2)`` field ``d`` in pixels on the output grid.

    Returns:
        Array of ``image``'s shape and dtype.
    """
    if displacement.shape != image.shape[:2] + (2,):
        raise ShapeError(
            f"displacement must have shape {image.shape[:2] + (2,)} to match the image; got {displacement.shape}."
        )
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = xx - displacement[..., 0].astype(np.float32)
    map_y = yy - displacement[..., 1].astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def warp_pair(
    image: np.ndarray, displacement: np.ndarray, iterations: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make ``(prev, next, true_flow)`` from one image and a smooth field.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` image (uint8 or float).
        displacement: ``(H, W, 2)`` smooth field on the grid of ``next``.
        iterations: fixed-point iterations for the forward flow.

    Returns:
        ``prev`` (= ``image``), ``next`` (warped), and the float32 ``(H, W, 2)``
        forward flow ``f`` with ``next(p + f(p)) = prev(p)``, in pixels.
    """
    nxt = warp_backward(image, displacement)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = displacement.astype(np.float32)
    flow = d.copy()
    for _ in range(iterations):
        flow = cv2.remap(d, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return image, nxt, flow.astype(np.float32)
