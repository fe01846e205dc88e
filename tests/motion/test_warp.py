"""Known smooth warps used to check flow methods."""

import cv2
import numpy as np

from merkit.motion.warp import smooth_random_flow, warp_backward, warp_pair


def test_smooth_random_flow_peak_and_translation():
    d = smooth_random_flow(64, 80, max_displacement=2.5, translation=(0.0, 0.0), seed=3)
    assert d.shape == (64, 80, 2) and d.dtype == np.float32
    assert abs(np.linalg.norm(d, axis=2).max() - 2.5) < 1e-5
    shifted = smooth_random_flow(64, 80, max_displacement=2.5, translation=(1.0, -2.0), seed=3)
    np.testing.assert_allclose(shifted - d, np.broadcast_to([1.0, -2.0], d.shape), atol=1e-5)


def test_forward_flow_of_an_affine_field_matches_closed_form(photo_gray):
    # d(q) = A q + t  =>  f(p) = d(p + f(p))  =>  f = (I - A)^-1 (A p + t)
    a = np.array([[0.01, -0.006], [0.004, 0.012]])
    t = np.array([0.8, -0.5])
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float64)
    pts = np.stack([xx, yy], axis=-1) - 64.0
    d = (pts @ a.T + t).astype(np.float32)
    _, _, flow = warp_pair(photo_gray, d)
    expected = (pts @ a.T + t) @ np.linalg.inv(np.eye(2) - a).T
    np.testing.assert_allclose(flow[4:-4, 4:-4], expected[4:-4, 4:-4], atol=5e-4)
    assert np.abs(d - expected).max() > 0.01  # the naive answer (f = d) would fail


def test_true_flow_maps_prev_onto_next():
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    image = 100 + 50 * np.sin(xx / 9.0) * np.cos(yy / 11.0)  # smooth, so bilinear sampling is accurate
    d = smooth_random_flow(128, 128, max_displacement=3.0, translation=(0.7, 0.2), seed=4)
    prev, nxt, flow = warp_pair(image, d)
    back = cv2.remap(nxt, xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR)
    wrong = cv2.remap(nxt, xx + d[..., 0], yy + d[..., 1], cv2.INTER_LINEAR)
    err = np.abs(back - prev)[10:-10, 10:-10].mean()
    assert err < 0.1
    assert np.abs(wrong - prev)[10:-10, 10:-10].mean() > 1.5 * err


def test_constant_field_is_its_own_forward_flow(photo_gray):
    d = np.broadcast_to(np.float32([1.0, 2.0]), (128, 128, 2)).copy()
    _, nxt, flow = warp_pair(photo_gray, d)
    np.testing.assert_allclose(flow, d, atol=1e-5)
    np.testing.assert_array_equal(nxt[20:60, 20:60], photo_gray[18:58, 19:59])
    assert warp_backward(photo_gray, np.zeros((128, 128, 2), np.float32)).tolist() == photo_gray.tolist()
