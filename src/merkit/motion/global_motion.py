"""Global (head / camera) motion in a flow field: fit it and take it out.

merkit aligns the face once, on the onset frame, and crops every frame with
that one transform (:func:`merkit.face.align_clip`), so head translation,
roll and scale between onset and apex stay in the onset -> apex flow. The
reference pipelines did not see that motion: Bi-WOOF, STSTNet and OFF-ApexNet
were run on the datasets' cropped releases, where every frame is registered
to a face model (CASME II's LWM registration), and MDMO (Liu et al. 2016)
removes it in the flow domain with a least-squares fit. A head moving by a
few pixels swamps sub-pixel action units in every orientation histogram, so
the choice is a named option (``features.global_motion`` in the training
config; the references leave it open, ``docs/motion.md``):

* ``"none"``: the flow as computed;
* ``"median"``: subtract the per-channel median (a translation; robust to
  the local action-unit motion, which covers a small part of the face);
* ``"affine"``: subtract the least-squares affine field
  ``u = a0 + a1 x + a2 y``, ``v = b0 + b1 x + b2 y`` fitted to every pixel
  (translation, roll, scale and shear of the head; small rotations and
  scalings are affine to first order). Local motion leaks into the fit in
  proportion to the area it covers.

An affine field has constant derivatives, so removing it changes optical
strain only by a constant tensor; callers recompute strain from the
compensated flow.
"""

from __future__ import annotations

import numpy as np

from merkit._options import unknown_name
from merkit.errors import ShapeError

__all__ = ["GLOBAL_MOTION_MODELS", "fit_global_motion", "remove_global_motion"]

#: Named global-motion models (module docstring).
GLOBAL_MOTION_MODELS = ("none", "median", "affine")


def _check(flow: np.ndarray) -> np.ndarray:
    arr = np.asarray(flow)
    if arr.ndim != 3 or arr.shape[2] != 2 or arr.dtype.kind != "f":
        raise ShapeError(
            "flow must be a float array of shape (H, W, 2) with channels (u, v) in pixels; "
            f"got {arr.shape} {arr.dtype}."
        )
    return arr


def fit_global_motion(flow: np.ndarray, model: str = "affine") -> np.ndarray:
    """The global part of a flow field under ``model``.

    Args:
        flow: ``(H, W, 2)`` float flow ``(u, v)`` in pixels.
        model: one of :data:`GLOBAL_MOTION_MODELS`.

    Returns:
        ``(H, W, 2)`` float64 field in pixels (all zero for ``"none"``).

    Raises:
        ShapeError: ``flow`` is not a float ``(H, W, 2)`` array.
        UnknownNameError: ``model`` is not a known model (closest names suggested).

    Example:
        >>> import numpy as np
        >>> yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
        >>> zoom = np.stack([0.01 * xx + 0.5, 0.01 * yy], axis=-1)   # scale + shift
        >>> bool(np.abs(fit_global_motion(zoom) - zoom).max() < 1e-5)
        True
    """
    arr = _check(flow)
    if model not in GLOBAL_MOTION_MODELS:
        raise unknown_name("global motion model", model, GLOBAL_MOTION_MODELS)
    h, w = arr.shape[:2]
    values = arr.reshape(-1, 2).astype(np.float64)
    if model == "none":
        return np.zeros((h, w, 2))
    if model == "median":
        return np.broadcast_to(np.median(values, axis=0), (h, w, 2)).copy()
    yy, xx = np.mgrid[0:h, 0:w]
    # centred, unit-scaled coordinates keep the least-squares problem well conditioned
    design = np.stack([np.ones(h * w), (xx.ravel() - (w - 1) / 2) / w, (yy.ravel() - (h - 1) / 2) / h], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return (design @ coef).reshape(h, w, 2)


def remove_global_motion(flow: np.ndarray, model: str = "affine") -> np.ndarray:
    """``flow`` minus :func:`fit_global_motion` (the local, e.g. action-unit, motion).

    Args:
        flow: ``(H, W, 2)`` float flow ``(u, v)`` in pixels.
        model: one of :data:`GLOBAL_MOTION_MODELS`; ``"none"`` returns a copy.

    Returns:
        ``(H, W, 2)`` residual flow in pixels, same dtype as ``flow``.
    """
    arr = _check(flow)
    if model == "none":
        return arr.copy()
    return (arr - fit_global_motion(arr, model)).astype(arr.dtype)
