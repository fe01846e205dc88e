"""MOL heads: 3D-CNN classifier, FlowNetC-style flow head with a plain-PyTorch correlation, landmark head.

Follows docs/models/mol.md (seed 001, CYF-cuber/MOL
``modules/MER_3dCNN.py``, ``modules/FlowNet.py``, ``modules/LDM_predictor.py``).
The correlation layer replaces the compiled ``spatial_correlation_sampler``
extension the code needs with one batched matrix product and a gather (no
extension, any device); ``tests/models/test_mol.py`` checks it against a
direct per-pixel loop. Displacements that cannot overlap the map give zero
channels; the flow head skips them and their ``conv3_1`` weights, which
changes no value or gradient (``docs/models/mol.md``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from merkit.errors import ShapeError
from merkit.models._registry import conv_out

__all__ = ["spatial_correlation", "correlation_reach", "correlation_window", "correlation_channels", "conv_on_a_pixel",
           "MER3DCNN", "FlowNetCHead", "LandmarkHead"]


def correlation_reach(patch_size: int, dilation: int, size: int) -> int:
    """Displacement steps on each side of zero that can land inside a map side of ``size`` pixels.

    A displacement of ``k * dilation`` with ``k * dilation >= size`` never overlaps the map, so its
    correlation channel is zero everywhere: on MOL's 8x8 maps (64 px input) only 7 of the 21 steps
    per axis (49 of 441 channels) can be non-zero, on 16x16 maps (128 px) 15 of 21.
    """
    return min(patch_size // 2, (size - 1) // dilation)


def correlation_window(a: Tensor, b: Tensor, reach: tuple[int, int], dilation: int) -> Tensor:
    """Correlation over the displacements ``(i * dilation, j * dilation)``, ``|i| <= reach[0]``, ``|j| <= reach[1]``.

    All position pairs are scored at once, ``a^T b`` as one batched matrix product over channels
    (``(N, H*W, H*W)``, memory ``N (H W)^2`` floats), and each position's displaced partners are
    gathered from it; outside ``b`` the value is zero. Forward and backward are then two matrix
    products and a gather, instead of one padded, shifted copy of ``b`` per displacement.

    Args:
        a, b: ``(N, C, H, W)``.
        reach: ``(ry, rx)`` displacement steps on each side.
        dilation: spacing of the steps in pixels.

    Returns:
        ``(N, 2 ry + 1, 2 rx + 1, H, W)``.
    """
    n, _, h, w = a.shape
    ry, rx = reach
    scores = torch.bmm(a.flatten(2).transpose(1, 2), b.flatten(2))  # (N, HW, HW): a at p . b at q
    ys = torch.arange(h, device=a.device).view(h, 1, 1, 1) + dilation * torch.arange(-ry, ry + 1, device=a.device).view(
        1, 1, -1, 1)
    xs = torch.arange(w, device=a.device).view(1, w, 1, 1) + dilation * torch.arange(-rx, rx + 1, device=a.device).view(
        1, 1, 1, -1)
    inside = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)).reshape(1, h * w, -1)
    partner = (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).reshape(1, h * w, -1)  # (1, HW, K)
    out = scores.gather(2, partner.expand(n, -1, -1)) * inside.to(scores.dtype)
    return out.transpose(1, 2).reshape(n, 2 * ry + 1, 2 * rx + 1, h, w)


def spatial_correlation(a: Tensor, b: Tensor, patch_size: int = 21, dilation: int = 2) -> Tensor:
    """FlowNetC correlation with a 1x1 kernel: dot products of ``a`` with displaced ``b``.

    ``out[n, i * P + j, y, x] = sum_c a[n, c, y, x] * b[n, c, y + dy_i, x + dx_j]`` with
    ``dy_i = (i - P // 2) * dilation`` (same for ``dx_j``), zero where the displaced position falls
    outside ``b``. Same layout as ``spatial_correlation_sample(kernel_size=1, patch_size=P,
    stride=1, padding=0, dilation_patch=dilation)`` reshaped to ``(N, P*P, H, W)``; no
    normalisation or activation here. Only displacements that can overlap the map are computed
    (:func:`correlation_reach`); the others are the zero channels of the layout.

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
    n, _, h, w = a.shape
    half = patch_size // 2
    ry, rx = correlation_reach(patch_size, dilation, h), correlation_reach(patch_size, dilation, w)
    window = correlation_window(a, b, (ry, rx), dilation)
    return F.pad(window, (0, 0, 0, 0, half - rx, half - rx, half - ry, half - ry)).reshape(n, patch_size**2, h, w)


def correlation_channels(patch_size: int, reach: tuple[int, int]) -> Tensor:
    """Indices, in the ``P*P`` layout of :func:`spatial_correlation`, of the channels of a window of ``reach``."""
    half = patch_size // 2
    rows = torch.arange(half - reach[0], half + reach[0] + 1).view(-1, 1)
    cols = torch.arange(half - reach[1], half + reach[1] + 1).view(1, -1)
    return (rows * patch_size + cols).flatten()


def conv_on_a_pixel(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> Tensor:
    """``conv(x)``, computed as one matrix product when one side of it is a single pixel.

    A convolution whose output is 1x1 (and whose kernel covers the whole padded input), or a
    transposed convolution whose input is 1x1, only ever multiplies real pixels with a fixed block
    of kernel taps; the other taps meet padding. On MOL's 64 px inputs the flow head's conv6,
    conv6_1 and deconv5 are such layers (maps of 2x2 and 1x1 with 3x3 and 4x4 kernels), and
    oneDNN spends most of their backward pass on the padded taps. Same value and gradients as
    ``conv(x)`` (the unused taps get a zero gradient either way); any other case calls ``conv(x)``.

    Shape:
        x: ``(N, C, H, W)`` -> ``conv(x)``'s shape.
    """
    (kh, kw), (ph, pw), (h, w) = conv.kernel_size, conv.padding, x.shape[-2:]
    if conv.groups != 1 or conv.dilation != (1, 1):
        return conv(x)
    if isinstance(conv, nn.ConvTranspose2d):
        if (h, w) != (1, 1) or conv.output_padding != (0, 0):
            return conv(x)
        taps = conv.weight[:, :, ph : kh - ph, pw : kw - pw]  # (C, O, H_out, W_out)
        out = (x.flatten(1) @ taps.flatten(1)).view(x.shape[0], *taps.shape[1:])
    else:
        sh, sw = conv.stride
        out_size = ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
        if out_size != (1, 1) or h + ph > kh or w + pw > kw:
            return conv(x)
        taps = conv.weight[:, :, ph : ph + h, pw : pw + w]  # the taps that meet input pixels
        out = (x.flatten(1) @ taps.flatten(1).t()).view(x.shape[0], -1, 1, 1)
    return out if conv.bias is None else out + conv.bias.view(1, -1, 1, 1)


def _layer(module: nn.Module, x: Tensor) -> Tensor:
    """A conv or a (conv, norm/activation...) Sequential, its convolution through :func:`conv_on_a_pixel`."""
    if isinstance(module, nn.Sequential):
        return module[1:](conv_on_a_pixel(module[0], x))
    return conv_on_a_pixel(module, x)


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

    def _conv3_1(self, c3a: Tensor, c3b: Tensor, feats: Tensor) -> Tensor:
        """``conv3_1`` on [redirected frame-1 features, correlation, F5C features], without the zero channels.

        The correlation channels of displacements that cannot overlap the map are zero (after the
        LeakyReLU too), so they add nothing to ``conv3_1`` and their weights get a zero gradient;
        skipping them and the matching weight columns gives the same output and gradients.
        """
        h, w = c3a.shape[-2:]
        reach = (correlation_reach(self.patch_size, self.dilation, h),
                 correlation_reach(self.patch_size, self.dilation, w))
        corr = correlation_window(c3a, c3b, reach, self.dilation).flatten(1, 2)
        corr = F.leaky_relu(corr / c3a.shape[1], 0.1)
        conv = self.conv3_1[0]
        keep = correlation_channels(self.patch_size, reach).to(c3a.device) + 32
        redir_chans, corr_chans = 32, self.patch_size**2
        columns = torch.cat([torch.arange(redir_chans, device=c3a.device), keep,
                             torch.arange(redir_chans + corr_chans, conv.in_channels, device=c3a.device)])
        x = torch.cat([self.conv_redir(c3a), corr, feats], dim=1)
        x = F.conv2d(x, conv.weight.index_select(1, columns), conv.bias, conv.stride, conv.padding)
        return self.conv3_1[1:](x)  # BatchNorm + LeakyReLU

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
        c3 = self._conv3_1(c3a, c3b, feats)
        c4 = _layer(self.conv4_1, _layer(self.conv4, c3))
        c5 = _layer(self.conv5_1, _layer(self.conv5, c4))
        c6 = _layer(self.conv6_1, _layer(self.conv6, c5))
        skips = (c5, c4, c3, c2a, c1a, frame1)
        deconvs = (self.deconv5, self.deconv4, self.deconv3, self.deconv2, self.deconv1, self.deconv0)
        x = c6
        flow = _layer(self.predict[0], x)
        for level, (skip, deconv) in enumerate(zip(skips, deconvs)):
            up_flow = _crop_like(_layer(self.upsample[level], flow), skip)
            x = torch.cat([skip, _crop_like(_layer(deconv, x), skip), up_flow], dim=1)
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
