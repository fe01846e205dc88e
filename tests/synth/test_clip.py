import re

import numpy as np
import pytest

from merkit.errors import ShapeError
from merkit.synth.clip import bump_profile, raised_cosine_profile, warp_by_flow


def _square(h=40, w=40):
    img = np.zeros((h, w), np.float32)
    img[15:25, 12:22] = 200.0
    return img


def test_zero_flow_is_identity():
    img = _square()
    out = warp_by_flow(img, np.zeros((40, 40, 2), np.float32))
    np.testing.assert_array_equal(out, img)


def test_square_shifted_by_one_pixel():
    img = _square()
    flow = np.zeros((40, 40, 2), np.float32)
    flow[..., 0] = 1.0  # everything moves one pixel right
    out = warp_by_flow(img, flow)
    np.testing.assert_allclose(out[15:25, 13:23], 200.0)
    assert out[20, 12] == 0.0 and out[20, 23] == 0.0


def test_smooth_field_round_trip():
    # Forward-warp by a smooth field, then sample the result at x + flow(x): back to the start.
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    img = (128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32)
    g = np.exp(-((xx - 32) ** 2 + (yy - 30) ** 2) / (2 * 8.0**2))
    flow = np.stack([1.5 * g, -1.0 * g], -1).astype(np.float32)
    moved = warp_by_flow(img, flow)
    import cv2

    back = cv2.remap(moved, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR)
    err = np.abs(back - img)[8:-8, 8:-8]
    base = np.abs(moved - img)[8:-8, 8:-8]
    assert err.mean() < 0.1 * base.mean()
    assert err.max() < 1.5


def test_warp_shape_error():
    with pytest.raises(ShapeError, match=re.escape("flow must have shape (H, W, 2) = (40, 40, 2)")):
        warp_by_flow(_square(), np.zeros((40, 40, 3), np.float32))


def test_raised_cosine_profile():
    p = raised_cosine_profile(range(8, 23), onset=10, apex=14, offset=20)
    frames = list(range(8, 23))
    assert p[frames.index(10)] == 0 and p[frames.index(14)] == 1 and p[frames.index(20)] == pytest.approx(0)
    assert p[frames.index(8)] == 0 and p[frames.index(22)] == 0
    rise = p[frames.index(10) : frames.index(14) + 1]
    assert (np.diff(rise) > 0).all()


def test_bump_profile():
    t = np.linspace(0, 1, 101)
    b = bump_profile(t, start_s=0.2, duration_s=0.5, peak_at=0.4)
    assert b.max() == pytest.approx(1.0) and t[b.argmax()] == pytest.approx(0.4)
    assert b[t < 0.2].max() == 0 and b[t > 0.7].max() == 0
