"""Global-motion removal: exact on affine fields, keeps local motion, clear errors."""

import re

import numpy as np
import pytest

from merkit.errors import ShapeError, UnknownNameError
from merkit.motion.global_motion import GLOBAL_MOTION_MODELS, fit_global_motion, remove_global_motion

H, W = 48, 64
YY, XX = np.mgrid[0:H, 0:W].astype(np.float64)


def head_motion(shift=(2.5, -1.5), angle_deg=1.0, scale=1.01):
    """Displacement of a similarity about the image centre (head roll + zoom + shift), pixels."""
    a = np.deg2rad(angle_deg)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    x, y = XX - cx, YY - cy
    nx = scale * (np.cos(a) * x - np.sin(a) * y) + shift[0]
    ny = scale * (np.sin(a) * x + np.cos(a) * y) + shift[1]
    return np.stack([nx - x, ny - y], axis=-1).astype(np.float32)


def blob(cx=20, cy=15, vector=(0.0, -0.8), sigma=3.0):
    g = np.exp(-((XX - cx) ** 2 + (YY - cy) ** 2) / (2 * sigma**2))
    return (g[..., None] * np.asarray(vector)).astype(np.float32)


def test_affine_removes_a_similarity_exactly():
    field = head_motion()
    assert np.abs(field).max() > 2.0
    np.testing.assert_allclose(fit_global_motion(field, "affine"), field, atol=1e-4)
    assert np.abs(remove_global_motion(field, "affine")).max() < 1e-4


def test_median_removes_a_translation_but_not_a_rotation():
    shift = np.zeros((H, W, 2), np.float32) + np.float32([1.7, -0.4])
    assert np.abs(remove_global_motion(shift, "median")).max() < 1e-6
    rolled = head_motion(shift=(0, 0), angle_deg=2.0, scale=1.0)
    assert np.abs(remove_global_motion(rolled, "median")).max() > 0.5  # rotation is not a translation


def test_local_motion_survives_removal():
    local = blob()
    residual = remove_global_motion(head_motion() + local, "affine")
    # the blob covers a small area, so little of it leaks into the global fit
    assert np.abs(residual - local).max() < 0.1 * np.abs(local).max()
    peak = np.unravel_index(np.hypot(residual[..., 0], residual[..., 1]).argmax(), (H, W))
    assert peak == (15, 20)
    np.testing.assert_allclose(residual[15, 20], local[15, 20], atol=0.08)


def test_none_is_a_copy_and_dtype_is_kept():
    field = head_motion()
    out = remove_global_motion(field, "none")
    assert out is not field and out.dtype == np.float32
    np.testing.assert_array_equal(out, field)
    assert remove_global_motion(field.astype(np.float64), "affine").dtype == np.float64
    assert set(GLOBAL_MOTION_MODELS) == {"none", "median", "affine"}


def test_errors_name_what_was_expected():
    with pytest.raises(ShapeError, match=re.escape("shape (H, W, 2) with channels (u, v) in pixels; got (4, 4, 3)")):
        remove_global_motion(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ShapeError, match="float array"):
        fit_global_motion(np.zeros((4, 4, 2), np.int32))
    with pytest.raises(UnknownNameError, match="Did you mean 'affine'"):
        fit_global_motion(np.zeros((4, 4, 2), np.float32), "afine")
