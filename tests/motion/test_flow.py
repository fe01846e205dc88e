"""Flow backends: interface, registry, accuracy on known motion, errors."""

import pickle
import re

import numpy as np
import pytest

from merkit.errors import ConfigError, ShapeError, UnknownNameError
from merkit.motion.flow import compute_flow, create_flow, list_flow_methods, register_flow, to_gray_uint8
from merkit.motion.warp import smooth_random_flow, warp_pair

METHODS = list_flow_methods()


def test_registry_lists_the_documented_methods():
    assert METHODS == ["dis", "farneback", "tvl1", "tvl1_fast"]


@pytest.mark.parametrize("method", METHODS)
def test_zero_motion_gives_zero_flow(method, photo_gray):
    flow = compute_flow(photo_gray, photo_gray, method=method)
    assert flow.shape == (128, 128, 2) and flow.dtype == np.float32
    assert np.abs(flow[8:-8, 8:-8]).max() < 0.05


@pytest.mark.parametrize("method", METHODS)
def test_one_pixel_shift_gives_one_pixel_flow(method, photo_gray):
    # next is prev moved one pixel right and one down: content at (y, x) goes to (y+1, x+1)
    nxt = np.roll(photo_gray, shift=(1, 1), axis=(0, 1))
    flow = compute_flow(photo_gray, nxt, method=method)
    inner = flow[16:-16, 16:-16].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), [1.0, 1.0], atol=0.1)


@pytest.mark.parametrize("method", METHODS)
def test_smooth_warp_end_point_error(method, photo_gray):
    d = smooth_random_flow(128, 128, max_displacement=2.0, translation=(0.5, -0.3), seed=1)
    prev, nxt, true = warp_pair(photo_gray, d)
    est = compute_flow(prev, nxt, method=method)
    epe = np.linalg.norm(est - true, axis=2)[8:-8, 8:-8].mean()
    zero_epe = np.linalg.norm(true, axis=2)[8:-8, 8:-8].mean()
    # every backend must recover most of the motion; numbers per backend are in BENCHMARKS.md
    assert epe < 0.35 * zero_epe, (method, epe, zero_epe)


def test_colour_and_float_inputs_match_gray_uint8(photo_gray):
    bgr = np.repeat(photo_gray[..., None], 3, axis=2)
    as_float = photo_gray.astype(np.float32) / 255.0
    np.testing.assert_array_equal(to_gray_uint8(bgr), photo_gray)
    np.testing.assert_array_equal(to_gray_uint8(as_float), photo_gray)
    nxt = np.roll(photo_gray, 1, axis=1)
    a = compute_flow(photo_gray, nxt, method="dis")
    b = compute_flow(bgr, np.repeat(nxt[..., None], 3, axis=2), method="dis")
    np.testing.assert_array_equal(a, b)


def test_methods_pickle_and_still_work(photo_gray):
    method = create_flow("tvl1_fast")
    method(photo_gray, photo_gray)  # builds the OpenCV solver
    clone = pickle.loads(pickle.dumps(method))
    assert clone == method and clone.settings() == method.settings()
    assert clone(photo_gray, photo_gray).shape == (128, 128, 2)


def test_settings_distinguish_methods_and_overrides():
    assert create_flow("tvl1").settings() != create_flow("tvl1_fast").settings()
    assert create_flow("tvl1", epsilon=0.05, warps=3).settings() == create_flow("tvl1_fast").settings()
    assert create_flow("dis", preset="fast").settings()["params"] == {"preset": "fast"}


def test_errors_name_what_was_expected(photo_gray):
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean 'tvl1'?")):
        create_flow("tvl")
    with pytest.raises(ConfigError, match=re.escape("unknown parameter(s) ['lambda'] for flow method 'tvl1'")):
        create_flow("tvl1", **{"lambda": 0.1})
    with pytest.raises(ConfigError, match="DIS preset"):
        create_flow("dis", preset="slow")
    with pytest.raises(ShapeError,
                       match=re.escape("prev and next must have the same size; got (128, 128) and (64, 64)")):
        compute_flow(photo_gray, photo_gray[:64, :64], method="dis")
    with pytest.raises(ShapeError, match=re.escape("values in [2, 2]; expected finite values in [0, 1]")):
        compute_flow(np.full((32, 32), 2.0), np.zeros((32, 32)), method="dis")
    with pytest.raises(ShapeError, match=re.escape("must have shape (H, W) or (H, W, 3); got (4, 32, 32)")):
        to_gray_uint8(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(ConfigError, match="already registered"):
        register_flow("dis")(lambda: None)
