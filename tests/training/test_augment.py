import math

import numpy as np
import pytest
import torch

from merkit.motion.strain import flip_flow, normalize_channels, optical_strain
from merkit.training.augment import FlowAugment, flip_horizontal, input_channels


def test_flip_negates_u_only_for_signed_flow():
    x = torch.randn(2, 3, 5, 7)
    y = flip_horizontal(x, u_channel=0, u_encoding="signed")
    assert torch.equal(y[:, 0], -x[:, 0].flip(-1))
    assert torch.equal(y[:, 1], x[:, 1].flip(-1))
    assert torch.equal(y[:, 2], x[:, 2].flip(-1))


def test_flip_of_minmax_u_equals_minmax_of_flipped_flow():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(16, 16, 2)).astype(np.float32)
    stack = lambda f: np.dstack([f, optical_strain(f)])  # noqa: E731
    expected = normalize_channels(stack(flip_flow(flow)))  # flip in pixels, then scale
    got = flip_horizontal(torch.from_numpy(normalize_channels(stack(flow))).permute(2, 0, 1)[None], 0, "minmax")
    np.testing.assert_allclose(got[0].permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_rgb_images_are_only_mirrored():
    u_channel, _ = input_channels("rgb_apex")
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(flip_horizontal(x, u_channel), x.flip(-1))


def test_rotation_rotates_signed_vectors():
    # a uniform field (u, v) = (1, 0) rotated by 90 degrees stays uniform, its vectors turn by 90 degrees
    x = torch.zeros(1, 2, 9, 9)
    x[:, 0] = 1.0
    aug = FlowAugment(0, "signed", flip_p=0.0, max_shift=0.0, max_rotation=90.0)
    g = torch.Generator().manual_seed(0)
    y = aug(x, g)
    # recover the drawn angle from the same generator sequence: flip draw, then angle draw
    g2 = torch.Generator().manual_seed(0)
    torch.rand(1, generator=g2)
    a = float((torch.rand(1, generator=g2) * 2 - 1) * math.radians(90.0))
    assert torch.allclose(y[0, 0], torch.full((9, 9), math.cos(a)), atol=1e-5)
    assert torch.allclose(y[0, 1], torch.full((9, 9), -math.sin(a)), atol=1e-5)
    assert torch.allclose(y.norm(dim=1), torch.ones(1, 9, 9), atol=1e-5)


def test_augment_is_seeded():
    x = torch.rand(4, 3, 28, 28)
    aug = FlowAugment()
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == x.shape


def test_unknown_kind():
    with pytest.raises(Exception, match="no augmentation rule"):
        input_channels("depth")


def test_flip_negates_every_stacked_u_channel():
    x = torch.rand(2, 12, 8, 8)
    u_channels, encoding = input_channels("flow_uv_strain_uniform4")
    assert u_channels == (0, 3, 6, 9) and encoding == "minmax"
    out = flip_horizontal(x, u_channels, encoding)
    for c in range(12):
        expected = 1.0 - x[:, c].flip(-1) if c in u_channels else x[:, c].flip(-1)
        assert torch.allclose(out[:, c], expected), c
