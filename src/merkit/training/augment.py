"""Flow-aware augmentation of training batches.

A flow field is not an image: mirroring a face left-right mirrors its motion,
so a horizontal flip must also negate the horizontal displacement ``u``
(``v`` and the strain magnitude are unchanged; ``docs/training.md``;
:func:`merkit.motion.strain.flip_flow` does the same on raw
arrays). How ``u`` is negated depends on how it is encoded:

* ``u_encoding="signed"``: raw displacement in pixels; flip gives ``-u``.
* ``u_encoding="minmax"``: ``u`` min-max scaled per sample to [0, 1] (the
  STSTNet input). ``minmax(-u) = 1 - minmax(u)``, so flip gives ``1 - u``.

Small translations (a random crop with border padding) and rotations are
applied to all channels with one bilinear resampling. A rotation by ``a``
also rotates the displacement vectors; this is done exactly for
``"signed"`` inputs. For ``"minmax"`` inputs the vectors cannot be rotated
without the lost scale, so only the positions move (an approximation whose
error is at most ``sin(max_rotation)`` of the other component, 0.14 at 8
degrees). RGB inputs (``u_channel=None``) are flipped and moved as images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from merkit.errors import ConfigError, ShapeError

__all__ = ["FlowAugment", "flip_horizontal", "input_channels"]

#: input kind -> (index of the u channel, a tuple of them for stacked flow maps, or None; u encoding)
_KINDS = {
    "flow_uv_strain": (0, "minmax"),
    "flow_uv": (0, "minmax"),
    "rgb_apex": (None, "signed"),
    # k (u, v, strain) maps stacked along channels (seed 000 Table 5 "uniform k")
    "flow_uv_strain_uniform2": ((0, 3), "minmax"),
    "flow_uv_strain_uniform4": ((0, 3, 6, 9), "minmax"),
}


def _u_list(u_channel: int | tuple[int, ...]) -> list[int]:
    return list(u_channel) if isinstance(u_channel, (tuple, list)) else [u_channel]


def input_channels(kind: str) -> tuple[int | tuple[int, ...] | None, str]:
    """The u channel index (or indices, for stacked flow maps) and its encoding for a model input kind."""
    if kind not in _KINDS:
        raise ConfigError(f"no augmentation rule for input kind {kind!r}; known: {sorted(_KINDS)!r}.")
    return _KINDS[kind]


def flip_horizontal(x: Tensor, u_channel: int | tuple[int, ...] | None = 0, u_encoding: str = "minmax") -> Tensor:
    """Mirror ``x`` left-right, negating the ``u`` channel as its encoding requires.

    Args:
        x: ``(B, C, H, W)`` batch.
        u_channel: index of the horizontal-flow channel (a tuple for stacked flow maps), or None for images.
        u_encoding: ``"signed"`` (pixels) or ``"minmax"`` (per-sample [0, 1]).

    Returns:
        New tensor, same shape.
    """
    if x.ndim != 4:
        raise ShapeError(f"x must have shape (B, C, H, W); got {tuple(x.shape)}.")
    out = x.flip(-1).clone()
    if u_channel is not None:
        u = _u_list(u_channel)
        if u_encoding == "signed":
            out[:, u] = -out[:, u]
        elif u_encoding == "minmax":
            out[:, u] = 1.0 - out[:, u]
        else:
            raise ConfigError(f"u_encoding must be 'signed' or 'minmax'; got {u_encoding!r}.")
    return out


@dataclass(frozen=True)
class FlowAugment:
    """Random flip, translation and rotation of a batch, aware of flow channels.

    Args:
        u_channel: index of u (None for RGB images).
        u_encoding: ``"signed"`` or ``"minmax"`` (module docstring).
        flip_p: probability of a horizontal flip per sample.
        max_shift: largest translation, fraction of the side (uniform in [-max, max]).
        max_rotation: largest rotation in degrees (uniform in [-max, max]).
    """

    u_channel: int | tuple[int, ...] | None = 0
    u_encoding: str = "minmax"
    flip_p: float = 0.5
    max_shift: float = 0.06
    max_rotation: float = 8.0

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Augment ``(B, C, H, W)``; all random draws come from ``generator`` (CPU)."""
        b = x.shape[0]
        flip = torch.rand(b, generator=generator) < self.flip_p
        if flip.any():
            x = x.clone()
            x[flip] = flip_horizontal(x[flip], self.u_channel, self.u_encoding)
        if self.max_shift == 0 and self.max_rotation == 0:
            return x
        angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(self.max_rotation)
        shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * self.max_shift * 2  # grid units span 2
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        theta = theta.to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.u_channel is not None and self.u_encoding == "signed":
            # the sampled field is rotated by -angle in output coordinates; rotate its vectors the same way
            c, s = cos.to(out)[:, None, None], sin.to(out)[:, None, None]
            for ch in _u_list(self.u_channel):
                u, v = out[:, ch].clone(), out[:, ch + 1].clone()
                out[:, ch] = c * u + s * v
                out[:, ch + 1] = -s * u + c * v
        return out
