"""Optical strain on analytic fields (closed forms), magnitude/orientation, normalisation, flip."""

import re

import numpy as np
import pytest

from merkit.errors import ShapeError, UnknownNameError
from merkit.motion.strain import (
    STRAIN_SCHEMES,
    flip_flow,
    flow_features,
    flow_magnitude,
    flow_orientation,
    normalize_channels,
    optical_strain,
    strain_components,
)

H, W = 24, 32
YY, XX = np.mgrid[0:H, 0:W].astype(np.float64)


def field(u, v):
    return np.stack([u, v], axis=-1)


def interior(a):
    # "forward" zeroes the last row/column; every scheme is exact elsewhere on linear fields
    return a[1:-2, 1:-2]


@pytest.mark.parametrize("scheme", STRAIN_SCHEMES)
def test_pure_shear(scheme):
    s = 0.07
    exx, eyy, exy = strain_components(field(s * YY, 0 * XX), scheme)  # u = s*y, v = 0
    np.testing.assert_allclose(interior(exx), 0, atol=1e-12)
    np.testing.assert_allclose(interior(eyy), 0, atol=1e-12)
    np.testing.assert_allclose(interior(exy), s / 2, atol=1e-12)
    np.testing.assert_allclose(interior(optical_strain(field(s * YY, 0 * XX), scheme)), s / np.sqrt(2), atol=1e-12)


@pytest.mark.parametrize("scheme", STRAIN_SCHEMES)
def test_pure_dilation(scheme):
    a = 0.05
    flow = field(a * (XX - 10), a * (YY - 7))  # isotropic expansion about (10, 7)
    exx, eyy, exy = strain_components(flow, scheme)
    np.testing.assert_allclose(interior(exx), a, atol=1e-12)
    np.testing.assert_allclose(interior(eyy), a, atol=1e-12)
    np.testing.assert_allclose(interior(exy), 0, atol=1e-12)
    np.testing.assert_allclose(interior(optical_strain(flow, scheme)), np.sqrt(2) * a, atol=1e-12)


@pytest.mark.parametrize("scheme", STRAIN_SCHEMES)
def test_rotation_and_translation_have_zero_strain(scheme):
    w = 0.03
    rotation = field(-w * (YY - 12), w * (XX - 16))  # small rigid rotation about (16, 12)
    translation = field(np.full((H, W), 1.5), np.full((H, W), -0.7))
    np.testing.assert_allclose(interior(optical_strain(rotation, scheme)), 0, atol=1e-12)
    np.testing.assert_allclose(optical_strain(translation, scheme), 0, atol=1e-12)


def test_general_linear_field_closed_form():
    # u = a x + b y, v = c x + d y: |eps| = sqrt(a^2 + d^2 + (b + c)^2 / 2)
    a, b, c, d = 0.02, -0.05, 0.11, -0.03
    flow = field(a * XX + b * YY, c * XX + d * YY)
    expected = np.sqrt(a**2 + d**2 + 0.5 * (b + c) ** 2)
    for scheme in STRAIN_SCHEMES:
        np.testing.assert_allclose(interior(optical_strain(flow, scheme)), expected, atol=1e-12)


def test_central_scheme_keeps_the_border_forward_zeroes_it():
    flow = field(0.1 * XX, 0.1 * YY)
    assert np.allclose(optical_strain(flow, "central"), np.sqrt(2) * 0.1)
    assert optical_strain(flow, "forward")[-1, 0] == pytest.approx(0.1)  # dv/dy zeroed on the last row


def test_strain_on_a_quadratic_field_differs_by_scheme():
    # a non-linear field: schemes approximate the derivative differently, central is exact for quadratics
    flow = field(0.01 * XX**2, 0 * YY)
    central = strain_components(flow, "central")[0]
    forward = strain_components(flow, "forward")[0]
    np.testing.assert_allclose(central[:, 1:-1], 0.02 * XX[:, 1:-1], atol=1e-12)
    np.testing.assert_allclose(forward[:, :-1], 0.02 * XX[:, :-1] + 0.01, atol=1e-12)


def test_batched_input_matches_single():
    rng = np.random.default_rng(0)
    flows = rng.normal(size=(3, H, W, 2))
    for scheme in STRAIN_SCHEMES:
        batched = optical_strain(flows, scheme)
        assert batched.shape == (3, H, W)
        np.testing.assert_allclose(batched[1], optical_strain(flows[1], scheme))


def test_magnitude_and_orientation():
    flow = np.array([[[3.0, 4.0], [0.0, -2.0], [-1.0, 0.0]]])
    np.testing.assert_allclose(flow_magnitude(flow), [[5.0, 2.0, 1.0]])
    np.testing.assert_allclose(flow_orientation(flow), [[np.arctan2(4, 3), -np.pi / 2, np.pi]])


def test_flip_negates_u_and_mirrors_strain():
    rng = np.random.default_rng(1)
    flow = rng.normal(size=(H, W, 2))
    flipped = flip_flow(flow)
    np.testing.assert_array_equal(flipped[:, :, 0], -flow[:, ::-1, 0])
    np.testing.assert_array_equal(flipped[:, :, 1], flow[:, ::-1, 1])
    np.testing.assert_array_equal(flip_flow(flipped), flow)
    # strain magnitude is mirror-invariant (central differences are symmetric)
    np.testing.assert_allclose(optical_strain(flipped), optical_strain(flow)[:, ::-1], atol=1e-12)
    # a field moving right mirrors to one moving left
    right = field(np.full((H, W), 1.0), np.zeros((H, W)))
    assert (flip_flow(right)[..., 0] == -1).all()


def test_minmax_normalisation_per_channel_and_sample():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(2, 8, 8, 3)) * [1, 10, 100]
    feats[1, ..., 2] = 5.0  # constant channel
    out = normalize_channels(feats, "minmax")
    assert out.dtype == np.float32 and out.shape == feats.shape
    np.testing.assert_allclose(out[0].min(axis=(0, 1)), 0, atol=1e-7)
    np.testing.assert_allclose(out[0].max(axis=(0, 1)), 1, atol=1e-6)
    assert (out[1, ..., 2] == 0).all()
    np.testing.assert_allclose(out[1, ..., 0].max(), 1, atol=1e-6)
    raw = normalize_channels(feats[0], "raw")
    np.testing.assert_allclose(raw, feats[0].astype(np.float32))


def test_flow_features_stack():
    flow = field(0.1 * XX, 0.1 * YY).astype(np.float32)
    out = flow_features(flow, ("u", "v", "strain", "magnitude", "orientation"))
    assert out.shape == (H, W, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 2], np.sqrt(2) * 0.1, atol=1e-6)
    norm = flow_features(flow, normalize="minmax")
    assert norm.shape == (H, W, 3)
    np.testing.assert_allclose(norm[..., 0].max(), 1.0)


def test_errors():
    with pytest.raises(ShapeError,
                       match=re.escape("must have shape (..., H, W, 2) with channels (u, v); got (4, 4, 3)")):
        optical_strain(np.zeros((4, 4, 3)))
    with pytest.raises(ShapeError, match="must be floating"):
        optical_strain(np.zeros((4, 4, 2), np.int32))
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean 'sobel'?")):
        optical_strain(np.zeros((4, 4, 2)), "sobol")
    with pytest.raises(UnknownNameError, match="unknown feature channel 'os'"):
        flow_features(np.zeros((4, 4, 2)), ("u", "os"))
    with pytest.raises(UnknownNameError, match="unknown normalization"):
        normalize_channels(np.zeros((4, 4, 2)), "zscore")
