"""Optical strain, flow magnitude and orientation, normalisation, horizontal flip.

Optical strain (Shreve et al. 2011; docs/motion.md) is the
symmetric part of the flow's spatial Jacobian:

    eps_xx = du/dx,  eps_yy = dv/dy,  eps_xy = 1/2 (du/dy + dv/dx),
    |eps| = sqrt(eps_xx^2 + eps_yy^2 + 2 eps_xy^2).

It is zero for a rigid translation and (to first order) for a rotation, so it
isolates the skin deformation a muscle causes from head motion. It is
dimensionless (pixels per pixel).

Derivative schemes (``scheme=``), all with unit grid spacing:

* ``"central"`` (default): ``numpy.gradient``, second-order central
  differences inside, first-order one-sided differences on the border rows
  and columns, so the border is not zeroed.
* ``"forward"``: one-pixel forward differences with the last row/column set
  to 0, as in MEAN's ``computeStrain`` (the reference's NaN border set to 0).
* ``"sobel"``: 3x3 Sobel filters divided by 8 (the Sobel weight sum), border
  reflected (OpenCV's default). Smoother; exact on linear fields like the
  others. (Off-TANet also used Sobel, but added ``uy^2`` where ``vy^2``
  belongs; that bug is not reproduced.)

All functions take channel-last numpy arrays ``(..., H, W, 2)`` with channels
``(u, v)`` in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from merkit._options import unknown_name
from merkit.errors import ShapeError

__all__ = [
    "STRAIN_SCHEMES",
    "FEATURE_CHANNELS",
    "NORMALIZATIONS",
    "strain_components",
    "optical_strain",
    "flow_magnitude",
    "flow_orientation",
    "normalize_channels",
    "flip_flow",
    "flow_features",
]

STRAIN_SCHEMES = ("central", "forward", "sobel")
#: Channel names :func:`flow_features` can stack, with their units.
FEATURE_CHANNELS = {
    "u": "horizontal displacement, pixels (positive right)",
    "v": "vertical displacement, pixels (positive down)",
    "strain": "optical strain magnitude |eps|, dimensionless",
    "magnitude": "flow magnitude sqrt(u^2 + v^2), pixels",
    "orientation": "flow direction atan2(v, u), radians in (-pi, pi]",
}
#: ``raw``: float values as computed. ``minmax``: each channel of each sample
#: scaled to [0, 1] by its own min and max (STSTNet / HTNet / MEAN; a constant
#: channel becomes 0), kept as float32 instead of the references' 8-bit PNGs.
NORMALIZATIONS = ("raw", "minmax")


def _check_flow(flow: np.ndarray, name: str = "flow") -> np.ndarray:
    arr = np.asarray(flow)
    if arr.ndim < 3 or arr.shape[-1] != 2:
        raise ShapeError(
            f"{name} must have shape (..., H, W, 2) with channels (u, v); got {arr.shape}. "
            f"Pass only the (u, v) displacement channels."
        )
    if arr.dtype.kind != "f":
        raise ShapeError(f"{name} must be floating (pixels); got dtype {arr.dtype}.")
    return arr


def _derivatives(channel: np.ndarray, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (d/dx, d/dy) of a ``(..., H, W)`` array with the given scheme."""
    if scheme == "central":
        return np.gradient(channel, axis=-1), np.gradient(channel, axis=-2)
    if scheme == "forward":
        dx = np.zeros_like(channel)
        dy = np.zeros_like(channel)
        dx[..., :, :-1] = channel[..., :, 1:] - channel[..., :, :-1]
        dy[..., :-1, :] = channel[..., 1:, :] - channel[..., :-1, :]
        return dx, dy
    if scheme == "sobel":
        flat = channel.reshape((-1,) + channel.shape[-2:]).astype(np.float64)
        dx = np.stack([cv2.Sobel(c, cv2.CV_64F, 1, 0, ksize=3) / 8.0 for c in flat])
        dy = np.stack([cv2.Sobel(c, cv2.CV_64F, 0, 1, ksize=3) / 8.0 for c in flat])
        return dx.reshape(channel.shape).astype(channel.dtype), dy.reshape(channel.shape).astype(channel.dtype)
    raise unknown_name("strain scheme", scheme, STRAIN_SCHEMES)


def strain_components(flow: np.ndarray, scheme: str = "central") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the strain tensor components ``(eps_xx, eps_yy, eps_xy)``.

    Args:
        flow: ``(..., H, W, 2)`` float flow ``(u, v)`` in pixels.
        scheme: derivative scheme, one of :data:`STRAIN_SCHEMES`.

    Returns:
        Three arrays of shape ``(..., H, W)`` in flow's dtype, dimensionless.
    """
    arr = _check_flow(flow)
    u, v = arr[..., 0], arr[..., 1]
    ux, uy = _derivatives(u, scheme)
    vx, vy = _derivatives(v, scheme)
    return ux, vy, 0.5 * (uy + vx)


def optical_strain(flow: np.ndarray, scheme: str = "central") -> np.ndarray:
    """Optical strain magnitude ``sqrt(eps_xx^2 + eps_yy^2 + 2 eps_xy^2)``.

    Args:
        flow: ``(..., H, W, 2)`` float flow ``(u, v)`` in pixels.
        scheme: derivative scheme, one of :data:`STRAIN_SCHEMES`.

    Returns:
        ``(..., H, W)`` array, dimensionless, >= 0.

    Example:
        >>> import numpy as np
        >>> yy, xx = np.mgrid[0:8, 0:8].astype(np.float64)
        >>> dilation = np.stack([0.1 * xx, 0.1 * yy], axis=-1)
        >>> round(float(optical_strain(dilation)[4, 4]), 4)   # sqrt(2) * 0.1
        0.1414
    """
    exx, eyy, exy = strain_components(flow, scheme)
    return np.sqrt(exx**2 + eyy**2 + 2.0 * exy**2)


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """Return ``sqrt(u^2 + v^2)`` in pixels, shape ``(..., H, W)``."""
    arr = _check_flow(flow)
    return np.hypot(arr[..., 0], arr[..., 1])


def flow_orientation(flow: np.ndarray) -> np.ndarray:
    """Return ``atan2(v, u)`` in radians in ``(-pi, pi]``, shape ``(..., H, W)``.

    Image axes: ``v`` points down, so a positive angle turns clockwise on screen.
    """
    arr = _check_flow(flow)
    return np.arctan2(arr[..., 1], arr[..., 0])


def normalize_channels(features: np.ndarray, mode: str = "minmax") -> np.ndarray:
    """Normalise a channel-last feature stack per sample and per channel.

    Args:
        features: ``(H, W, C)`` or ``(B, H, W, C)`` float array.
        mode: one of :data:`NORMALIZATIONS`.

    Returns:
        float32 array of the same shape; with ``"minmax"`` each channel of each
        sample spans [0, 1] (a constant channel becomes all 0).
    """
    if mode not in NORMALIZATIONS:
        raise unknown_name("normalization", mode, NORMALIZATIONS)
    arr = np.asarray(features, dtype=np.float32)
    if arr.ndim not in (3, 4):
        raise ShapeError(f"features must have shape (H, W, C) or (B, H, W, C); got {arr.shape}.")
    if mode == "raw":
        return arr.copy()
    lo = arr.min(axis=(-3, -2), keepdims=True)
    hi = arr.max(axis=(-3, -2), keepdims=True)
    span = hi - lo
    return np.where(span > 0, (arr - lo) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def flip_flow(flow: np.ndarray) -> np.ndarray:
    """Mirror a flow field left-right: flip the image axis *and* negate ``u``.

    A mirrored face moves mirrored: a point moving right moves left in the
    mirror image, so ``u`` changes sign while ``v`` does not. Strain
    magnitude is mirror-invariant. (None of the MER papers states this.)

    Args:
        flow: ``(..., H, W, 2)`` float flow ``(u, v)`` in pixels.

    Returns:
        New array, same shape and dtype.
    """
    arr = _check_flow(flow)
    flipped = arr[..., :, ::-1, :].copy()
    flipped[..., 0] *= -1
    return flipped


def flow_features(
    flow: np.ndarray,
    channels: Sequence[str] = ("u", "v", "strain"),
    normalize: str = "raw",
    strain_scheme: str = "central",
) -> np.ndarray:
    """Stack named channels computed from a flow field.

    Args:
        flow: ``(H, W, 2)`` float flow ``(u, v)`` in pixels.
        channels: names from :data:`FEATURE_CHANNELS`, in output order
            (``("u", "v", "strain")`` is the STSTNet/HTNet input).
        normalize: one of :data:`NORMALIZATIONS`, applied per channel.
        strain_scheme: derivative scheme for ``"strain"``.

    Returns:
        float32 ``(H, W, len(channels))``.
    """
    arr = _check_flow(flow)
    if arr.ndim != 3:
        raise ShapeError(f"flow must have shape (H, W, 2) for flow_features; got {arr.shape}.")
    if not channels:
        raise ShapeError("channels must name at least one of " f"{sorted(FEATURE_CHANNELS)!r}.")
    stack = []
    for name in channels:
        if name == "u":
            stack.append(arr[..., 0])
        elif name == "v":
            stack.append(arr[..., 1])
        elif name == "strain":
            stack.append(optical_strain(arr, strain_scheme))
        elif name == "magnitude":
            stack.append(flow_magnitude(arr))
        elif name == "orientation":
            stack.append(flow_orientation(arr))
        else:
            raise unknown_name("feature channel", name, FEATURE_CHANNELS)
    return normalize_channels(np.stack(stack, axis=-1).astype(np.float32), normalize)
