"""MOL heads: 3D-CNN classifier, FlowNetC-style flow head with a plain-PyTorch correlation, landmark head.

Follows docs/models/mol.md (seed 001, CYF-cuber/MOL
``modules/MER_3dCNN.py``, ``modules/FlowNet.py``, ``modules/LDM_predictor.py``).
The correlation layer replaces the compiled ``spatial_correlation_sampler``
extension the code needs with a loop over vertical displacements of
tensor views (no extension, any device); ``tests/models/test_mol.py`` checks
it against a direct per-pixel loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merkit.errors import ShapeError
from merkit.models._registry import conv_out

__all__ = ["spatial_correlation", "MER3DCNN", "FlowNetCHead", "LandmarkHead"]


def spatial_correlation(a: Tensor, b: Tensor, patch_size: int = 21, dilation: int = 2) -> Tensor:
    """FlowNetC correlation with a 1x1 kernel: dot products of ``a`` with displaced ``b``.

    ``out[n, i * P + j, y, x] = sum_c a[n, c, y, x] * b[n, c, y + dy_i, x + dx_j]`` with
    ``dy_i = (i - P // 2) * dilation`` (same for ``dx_j``), zero where the displaced position falls
    outside ``b``. Same layout as ``spatial_correlation_sample(kernel_size=1, patch_size=P,
    stride=1, padding=0, dilation_patch=dilation)`` reshaped to ``(N, P*P, H, W)``; no
    normalisation or activation here.

    Args:
        a: ``(N, C, H, W)`` features of the first frame.
        b: ``(N, C, H, W)`` features of the second frame.
        patch_size: P, displacements per axis (odd; 21 in MOL).
        dilation: spacing of the displacements in feature pixels (2 in MOL).

    Returns:
        ``(N, P*P, H, W)``, same dtype as ``a``.

    Raises:
        ShapeError: if ``a`` and ``b`` differ in shape or ``patch_size`` is even.
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ShapeError(f"correlation inputs must both be (N, C, H, W) of one shape; got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}.")
    if patch_size % 2 != 1:
        raise ShapeError(f"correlation patch_size must be odd; got {patch_size}.")
    n, c, h, w = a.shape
    reach = (patch_size // 2) * dilation
    padded = F.pad(b, (reach, reach, reach, reach))
    rows = []
    for i in range(patch_size):
        band = padded[:, :, i * dilation : i * dilation + h, :]  # (N, C, H, W + 2 reach): one dy
        shifted = band.unfold(3, w, dilation)  # (N, C, H, P, W): every dx of that dy, a view
        rows.append(torch.einsum("nchw,nchpw->nphw", a, shifted))
    return torch.cat(rows, dim=1)


class MER3DCNN(nn.Module):
    """The recognition head on stacked pair features (``modules/MER_3dCNN.py``).

    Conv3d(C -> 32, kernel (depth 5, 2, 2), stride (1, 2, 2), no activation) -> MaxPool3d(2) ->
    Dropout -> FC -> ReLU -> Dropout -> FC. With MOL's 14 maps of 128x16x16 the flattened size
    is 32 x 5 x 4 x 4 = 2560. For shorter stacks (fewer frames, single-map fusions) the temporal
    kernel and pool shrink to fit (``min(5, D)``, ``min(2, D')``), a choice the paper's 2-frame
    ablation needs and does not describe.

    Args:
        in_chans: C (128).
        map_size: ``(h, w)`` of the maps.
        depth: number of stacked maps D (14 for 8 frames fused by concatenation).
        num_classes: output classes.
        hidden: width of the first FC layer (256).
        drop_rate: dropout (0.5).

    Shape:
        x: ``(B, C, D, h, w)`` -> logits ``(B, num_classes)``.
    """

    def __init__(
        self, in_chans: int = 128, map_size: tuple[int, int] = (16, 16), depth: int = 14, num_classes: int = 3,
        hidden: int = 256, drop_rate: float = 0.5,
    ) -> None:
        super().__init__()
        kt = min(5, depth)
        self.conv = nn.Conv3d(in_chans, 32, kernel_size=(kt, 2, 2), stride=(1, 2, 2))
        d1, h1, w1 = conv_out(depth, kt), conv_out(map_size[0], 2, 2), conv_out(map_size[1], 2, 2)
        pt = min(2, d1)
        self.pool = nn.MaxPool3d(kernel_size=(pt, 2, 2))
        self.flat_features = 32 * conv_out(d1, pt, pt) * conv_out(h1, 2, 2) * conv_out(w1, 2, 2)
        self.drop = nn.Dropout(drop_rate)
        self.fc1 = nn.Linear(self.flat_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.hidden = hidden

    def pre_logits(self, x: Tensor) -> Tensor:
        """``(B, C, D, h, w)`` -> ``(B, hidden)`` after FC1 and ReLU."""
        x = self.drop(self.pool(self.conv(x))).flatten(1)
        return F.relu(self.fc1(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.pre_logits(x)))


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.1, inplace=True),
    )


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.LeakyReLU(0.1, inplace=True))


def _predict_flow(cin: int) -> nn.Conv2d:
    return nn.Conv2d(cin, 2, kernel_size=3, padding=1, bias=False)


def _crop_like(x: Tensor, ref: Tensor) -> Tensor:
    return x[:, :, : ref.shape[2], : ref.shape[3]]


class FlowNetCHead(nn.Module):
    """FlowNetC-style optical-flow head for one frame pair (``modules/FlowNet.py``).

    Siamese encoder on the raw frames (conv1 1->64 k6 s2, conv2 ->128 k4 s2, conv3 ->256 k2 s2,
    each BN + LeakyReLU 0.1), correlation (patch 21, dilation 2, divided by C, LeakyReLU), a 1x1
    redirection of frame 1's conv3 to 32 channels, concatenation with both frames' F5C features
    (32 + 441 + 256 = 729 channels), the FlowNetC encoder (conv3_1 .. conv6_1) and a decoder down
    to full resolution with skip connections. Only the full-resolution flow is returned (the only
    one MOL supervises).

    Args:
        in_chans: channels of a frame (1, gray).
        feat_chans: channels of the concatenated F5C features of the two frames (256).
        patch_size, dilation: correlation displacements (21, 2).

    Shape:
        frame1, frame2: ``(N, 1, H, W)`` with ``H, W`` multiples of 64 (the encoder halves the map
        six times); feats: ``(N, feat_chans, H / 8, W / 8)`` -> flow ``(N, 2, H, W)`` (u, v).
    """

    def __init__(self, in_chans: int = 1, feat_chans: int = 256, patch_size: int = 21, dilation: int = 2) -> None:
        super().__init__()
        self.patch_size, self.dilation = patch_size, dilation
        self.conv1 = _conv_bn(in_chans, 64, 6, 2)
        self.conv2 = _conv_bn(64, 128, 4, 2)
        self.conv3 = _conv_bn(128, 256, 2, 2)
        self.conv_redir = _conv_bn(256, 32, 1, 1)
        self.conv3_1 = _conv_bn(32 + patch_size**2 + feat_chans, 256)
        self.conv4, self.conv4_1 = _conv_bn(256, 512, stride=2), _conv_bn(512, 512)
        self.conv5, self.conv5_1 = _conv_bn(512, 512, stride=2), _conv_bn(512, 512)
        self.conv6, self.conv6_1 = _conv_bn(512, 1024, stride=2), _conv_bn(1024, 1024)
        # decoder: input channels = skip + deconv + upsampled flow (1026, 770, 386, 258, 130, 35)
        self.deconv5, self.deconv4, self.deconv3 = _deconv(1024, 512), _deconv(1026, 256), _deconv(770, 128)
        self.deconv2, self.deconv1, self.deconv0 = _deconv(386, 128), _deconv(258, 64), _deconv(130, 32)
        self.predict = nn.ModuleList(_predict_flow(c) for c in (1024, 1026, 770, 386, 258, 130, 32 + 2 + in_chans))
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(2, 2, 4, 2, 1, bias=False) for _ in range(6))
        for m in self.modules():  # the code's FlowNet initialisation
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, 0.1)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, frame1: Tensor, frame2: Tensor, feats: Tensor) -> Tensor:
        h, w = frame1.shape[-2:]
        if h % 64 or w % 64:
            raise ShapeError(f"the flow head needs frames whose sides are multiples of 64; got {h}x{w}.")
        c1a = self.conv1(frame1)
        c2a = self.conv2(c1a)
        c3a = self.conv3(c2a)
        c3b = self.conv3(self.conv2(self.conv1(frame2)))
        if feats.shape[-2:] != c3a.shape[-2:]:
            raise ShapeError(f"F5C features are {tuple(feats.shape[-2:])}; the flow encoder's conv3 map is "
                             f"{tuple(c3a.shape[-2:])}.")
        corr = F.leaky_relu(spatial_correlation(c3a, c3b, self.patch_size, self.dilation) / c3a.shape[1], 0.1)
        c3 = self.conv3_1(torch.cat([self.conv_redir(c3a), corr, feats], dim=1))
        c4 = self.conv4_1(self.conv4(c3))
        c5 = self.conv5_1(self.conv5(c4))
        c6 = self.conv6_1(self.conv6(c5))
        skips = (c5, c4, c3, c2a, c1a, frame1)
        deconvs = (self.deconv5, self.deconv4, self.deconv3, self.deconv2, self.deconv1, self.deconv0)
        x = c6
        flow = self.predict[0](x)
        for level, (skip, deconv) in enumerate(zip(skips, deconvs)):
            up_flow = _crop_like(self.upsample[level](flow), skip)
            x = torch.cat([skip, _crop_like(deconv(x), skip), up_flow], dim=1)
            flow = self.predict[level + 1](x)
        return flow


class LandmarkHead(nn.Module):
    """68-point landmark regressor on one frame's F5C features (``modules/LDM_predictor.py``).

    Conv 3x3 (valid) C -> 32 + ReLU -> FC 512 + ReLU -> FC 2 * points.

    Shape:
        x: ``(N, C, h, w)`` -> ``(N, points, 2)`` (x, y) in the units of the targets (crop pixels).
    """

    def __init__(self, in_chans: int = 128, map_size: tuple[int, int] = (16, 16), points: int = 68) -> None:
        super().__init__()
        self.points = points
        self.conv = nn.Conv2d(in_chans, 32, kernel_size=3)
        self.fc1 = nn.Linear(32 * (map_size[0] - 2) * (map_size[1] - 2), 512)
        self.fc2 = nn.Linear(512, 2 * points)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv(x)).flatten(1)
        return self.fc2(F.relu(self.fc1(x))).reshape(-1, self.points, 2)
