"""LBP-TOP (with TIM), Bi-WOOF and HOOF."""

import re

import numpy as np
import pytest

from merkit.errors import ConfigError, ShapeError
from merkit.motion.descriptors import biwoof, block_slices, hoof, lbp_top, tim_interpolate

YY, XX = np.mgrid[0:40, 0:50].astype(np.float64)


def test_block_slices_partition_and_overlap():
    assert block_slices(10, 2) == [slice(0, 5), slice(5, 10)]
    blocks = block_slices(122, 8, 0.7)
    assert blocks[0].start == 0 and blocks[-1].stop == 122 and len(blocks) == 8
    sizes = {b.stop - b.start for b in blocks}
    assert max(sizes) - min(sizes) <= 1 and 22 <= min(sizes) <= 24  # (122 + 7 * 0.7 * 122 / 8) / 8 = 22.6
    assert blocks[1].start < blocks[0].stop  # overlapping
    with pytest.raises(ConfigError, match="overlap ratio must be in"):
        block_slices(10, 2, 1.0)


@pytest.mark.parametrize("method", ["tim", "linear"])
def test_temporal_interpolation_keeps_frames_at_the_original_count(method):
    rng = np.random.default_rng(0)
    clip = rng.uniform(0, 255, size=(7, 6, 5))
    np.testing.assert_allclose(tim_interpolate(clip, 7, method), clip, atol=1e-8)
    longer = tim_interpolate(clip, 13, method)
    assert longer.shape == (13, 6, 5)
    np.testing.assert_allclose(longer[0], clip[0], atol=1e-8)
    np.testing.assert_allclose(longer[-1], clip[-1], atol=1e-8)


def test_linear_interpolation_midpoints_and_tim_on_a_linear_ramp():
    clip = np.stack([np.full((3, 3), v) for v in (0.0, 10.0, 20.0)])
    np.testing.assert_allclose(tim_interpolate(clip, 5, "linear")[:, 0, 0], [0, 5, 10, 15, 20])
    tim = tim_interpolate(clip, 5, "tim")[:, 0, 0]
    assert np.all(np.diff(tim) > 0) and tim[0] == pytest.approx(0) and tim[-1] == pytest.approx(20)
    assert tim_interpolate(clip[:1], 4).shape == (4, 3, 3)


def test_lbp_top_default_dimension_and_histograms(photo_gray):
    rng = np.random.default_rng(1)
    clip = np.stack([np.roll(photo_gray, i, axis=1) for i in range(6)]).astype(np.float64)
    clip += rng.normal(0, 1, clip.shape)
    feat = lbp_top(clip)
    assert feat.shape == (8 * 8 * 3 * 59,) and feat.dtype == np.float32
    hists = feat.reshape(8, 8, 3, 59)
    np.testing.assert_allclose(hists.sum(axis=-1), 1.0, atol=1e-5)


def test_lbp_top_sees_temporal_change_only_in_time_planes(photo_gray):
    static = np.stack([photo_gray] * 10).astype(np.float64)
    moving = np.stack([np.roll(photo_gray, i, axis=1) for i in range(10)]).astype(np.float64)
    a = lbp_top(static, length=None, grid=(2, 2), overlap=0.0).reshape(2, 2, 3, 59)
    b = lbp_top(moving, length=None, grid=(2, 2), overlap=0.0).reshape(2, 2, 3, 59)
    # a static clip has a constant time axis: every XT/YT neighbour equals the centre in time -> one pattern
    assert np.abs(a[:, :, 0] - b[:, :, 0]).max() < 0.05  # XY texture is about the same
    assert np.abs(a[:, :, 1:] - b[:, :, 1:]).sum() > 1.0  # XT/YT differ a lot


def test_lbp_top_errors():
    with pytest.raises(ShapeError, match=re.escape("(T, H, W) (grayscale); got (10, 32, 32, 3)")):
        lbp_top(np.zeros((10, 32, 32, 3)))
    with pytest.raises(ShapeError, match="too small for LBP-TOP"):
        lbp_top(np.zeros((5, 32, 32)), length=None)
    with pytest.raises(ConfigError, match="neighbours must be one of"):
        lbp_top(np.zeros((10, 32, 32)), neighbours=16)


def test_biwoof_shape_norm_and_weighting():
    flow = np.stack([np.ones_like(XX) * 0.5, np.zeros_like(XX)], axis=-1)  # uniform rightward motion
    strain = np.zeros((40, 50))
    strain[:8, :10] = 1.0  # only the top-left block deforms
    feat = biwoof(flow, strain)
    assert feat.shape == (200,) and feat.dtype == np.float32
    blocks = feat.reshape(5, 5, 8)
    assert blocks[0, 0].sum() == pytest.approx(1.0)  # L2 norm of a single non-zero entry
    assert blocks[0, 0, 4] == pytest.approx(1.0)  # angle 0 -> bin 4 of [-pi, pi)
    assert np.count_nonzero(feat) == 1
    assert np.linalg.norm(biwoof(flow * 3)) == pytest.approx(0.0)  # uniform flow has zero strain
    assert not biwoof(np.zeros((40, 50, 2))).any()


def test_biwoof_orientation_bins_follow_the_flow():
    expansion = np.stack([XX - 25, YY - 20], axis=-1) * 0.05  # strain > 0 everywhere
    feat = biwoof(expansion).reshape(5, 5, 8)
    # bottom-right block points down-right: angle in (0, pi/2) -> bins 4..5; top-left up-left -> bins 0..1
    assert feat[4, 4, 4:6].sum() > 0.95 * feat[4, 4].sum()
    assert feat[0, 0, 0:2].sum() > 0.95 * feat[0, 0].sum()
    np.testing.assert_allclose(np.linalg.norm(biwoof(expansion)), 1.0, rtol=1e-6)


def test_hoof_mirror_symmetry_and_normalisation():
    right = np.stack([np.ones_like(XX), 0.3 * np.ones_like(XX)], axis=-1)
    left = right * [-1, 1]
    h = hoof(right)
    assert h.shape == (8,) and h.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(hoof(left), h)  # mirrored motion, same histogram
    assert not np.array_equal(hoof(left, mirror=False), hoof(right, mirror=False))
    grid = hoof(right, bins=4, grid=(2, 3))
    assert grid.shape == (24,)
    np.testing.assert_allclose(grid.reshape(6, 4).sum(axis=1), 1.0)
    with pytest.raises(ShapeError, match="flow must be a float array of shape"):
        hoof(np.zeros((4, 4, 3)))
