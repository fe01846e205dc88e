"""Handcrafted descriptors of the classic MER baselines: LBP-TOP (with TIM), Bi-WOOF, HOOF.

Parameters follow docs/motion.md:

* **LBP-TOP** (Zhao & Pietikainen 2007; the MEGC2019 baseline row), as
  reproduced by tvaranka/meb ``calculate_lbptop``: the clip is temporally
  interpolated to 10 frames (TIM), LBP codes use radius 3 in x, y and t and 8
  neighbours on each of the XY, XT and YT planes, codes are mapped to the 59
  uniform-2 patterns, and histograms are taken over an 8x8 grid of
  overlapping blocks (overlap ratio 0.7): 8 x 8 x 3 x 59 = 11,328 values.
  Neighbours are sampled with bilinear interpolation (scikit-image's
  ``local_binary_pattern``, method ``nri_uniform``); the meb/Matlab code
  rounds them to the nearest pixel. Only pixels whose whole neighbourhood
  lies inside the clip (``radius`` from every border, in space and time)
  are counted. Each block-plane histogram is normalised to sum 1 (the
  reference keeps raw counts; counts differ between blocks only through
  overlap, and the SVM baselines normalise anyway). Overlap, as in meb:
  with ``L`` valid pixels and ``n`` blocks, the overlap is
  ``ratio * L / n`` pixels and a block is ``(L + (n - 1) * overlap) / n``.
* **TIM** (temporal interpolation model, Zhou et al. 2011; Pfister et al.
  2011): the frames are embedded on the curve of a path graph's Laplacian
  eigenvectors and resampled at evenly spaced positions; resampling at the
  original count returns the original frames. ``interpolation="linear"``
  is the cheaper per-pixel linear alternative.
* **Bi-WOOF** (Liong et al. 2018; christy1206/biwoof ``biwoof.m``): onset ->
  apex flow; per pixel orientation, magnitude and optical strain; 5x5
  blocks; per block an 8-bin orientation histogram over [-pi, pi) weighted by
  flow magnitude and normalised to sum 1, then multiplied by the block's sum
  of optical strain; the 200 values are L2-normalised.
* **HOOF** (Chaudhry et al. 2009): magnitude-weighted histogram of flow
  orientation, with left/right mirror symmetry (the angle is measured as
  ``atan2(v, |u|)`` over [-pi/2, pi/2]) so that mirrored motions share a bin;
  normalised to sum 1 per block. The MER papers do not give HOOF's bins or
  grid; the defaults here (8 bins, one block, ``mirror=True``) are options.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import local_binary_pattern

from merkit.errors import ConfigError, ShapeError
from merkit.motion.strain import flow_magnitude, flow_orientation, optical_strain

__all__ = ["tim_interpolate", "lbp_top", "biwoof", "hoof", "block_slices"]

_LBP_BINS = {8: 59}  # uniform-2 patterns of 8 neighbours: 58 uniform + 1 for all others


def tim_interpolate(clip: np.ndarray, length: int, method: str = "tim") -> np.ndarray:
    """Resample a clip to ``length`` frames.

    Args:
        clip: ``(T, H, W)`` or ``(T, H, W, C)`` array, ``T >= 1``.
        length: number of output frames, ``>= 1``.
        method: ``"tim"`` (graph embedding, see module docstring) or ``"linear"``.

    Returns:
        float64 ``(length, ...)``; unclipped (TIM can overshoot the input range slightly).
    """
    arr = np.asarray(clip, dtype=np.float64)
    if arr.ndim not in (3, 4) or arr.shape[0] < 1:
        raise ShapeError(f"clip must have shape (T, H, W) or (T, H, W, C) with T >= 1; got {arr.shape}.")
    if length < 1:
        raise ConfigError(f"length must be >= 1 frames; got {length}.")
    if method not in ("tim", "linear"):
        raise ConfigError(f"temporal interpolation must be 'tim' or 'linear'; got {method!r}.")
    n = arr.shape[0]
    if n == 1:
        return np.repeat(arr, length, axis=0)
    x = arr.reshape(n, -1).T  # (D, n): one column per frame
    if method == "linear" or length == 1:
        src = np.linspace(0.0, 1.0, n)
        dst = np.linspace(0.0, 1.0, length) if length > 1 else np.array([0.0])
        lo = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, n - 2)
        w = (dst - src[lo]) / (src[lo + 1] - src[lo])
        out = x[:, lo] * (1 - w) + x[:, lo + 1] * w
        return out.T.reshape((length,) + arr.shape[1:])
    mu = x.mean(axis=1, keepdims=True)
    u, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    u, s, vt = u[:, : n - 1], s[: n - 1], vt[: n - 1]
    q = s[:, None] * vt  # (n-1, n) coordinates of the frames
    k = np.arange(1, n)[:, None]

    def curve(pos: np.ndarray) -> np.ndarray:
        # Path-graph Laplacian eigenvectors as continuous functions of the position in (0, 1].
        return np.sin(np.pi * k * pos[None, :] + np.pi * (n - k) / (2 * n))

    y = curve(np.arange(1, n + 1) / n)  # (n-1, n)
    # Linear map M with M y_i = q_i, so new curve points map back to frame space.
    m, *_ = np.linalg.lstsq(y.T, q.T, rcond=None)  # (n-1, n-1): q^T = y^T m
    pos = 1.0 / n + np.linspace(0.0, 1.0, length) * (1.0 - 1.0 / n)
    out = u @ (m.T @ curve(pos)) + mu
    return out.T.reshape((length,) + arr.shape[1:])


def block_slices(length: int, n_blocks: int, overlap: float = 0.0) -> list[slice]:
    """Split ``length`` pixels into ``n_blocks`` (possibly overlapping) contiguous blocks.

    With ``overlap = r`` the blocks overlap by ``r * length / n_blocks`` pixels
    (meb's definition); ``r = 0`` gives a plain partition.
    """
    if n_blocks < 1 or n_blocks > length:
        raise ConfigError(f"cannot split {length} pixels into {n_blocks} blocks; need 1 <= blocks <= pixels.")
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"block overlap ratio must be in [0, 1); got {overlap}.")
    over = overlap * length / n_blocks
    size = (length + (n_blocks - 1) * over) / n_blocks
    step = size - over
    return [slice(int(round(i * step)), int(round(i * step + size))) for i in range(n_blocks)]


def lbp_top(
    clip: np.ndarray,
    length: int | None = 10,
    radius: int = 3,
    neighbours: int = 8,
    grid: tuple[int, int] = (8, 8),
    overlap: float = 0.7,
    interpolation: str = "tim",
) -> np.ndarray:
    """LBP-TOP descriptor of a grayscale clip (MEGC2019 baseline settings by default).

    Args:
        clip: ``(T, H, W)`` grayscale frames, grey levels 0..255 (uint8 or
            float), onset to offset; rounded to integers after interpolation.
        length: frames after temporal interpolation (``None`` keeps ``T``);
            must be at least ``2 * radius + 1``.
        radius: LBP radius in pixels (x, y) and frames (t).
        neighbours: sampling points per plane (8 -> 59 uniform-2 bins).
        grid: ``(rows, cols)`` block grid.
        overlap: block overlap ratio (see :func:`block_slices`).
        interpolation: ``"tim"`` or ``"linear"`` (see :func:`tim_interpolate`).

    Returns:
        float32 ``(rows * cols * 3 * 59,)``, ordered block (row-major), then
        plane (XY, XT, YT), then bin. 11,328 values with the defaults.
    """
    arr = np.asarray(clip)
    if arr.ndim != 3:
        raise ShapeError(f"clip must have shape (T, H, W) (grayscale); got {arr.shape}.")
    if neighbours not in _LBP_BINS:
        raise ConfigError(f"neighbours must be one of {sorted(_LBP_BINS)}; got {neighbours}.")
    frames = tim_interpolate(arr, length, interpolation) if length is not None else arr.astype(np.float64)
    # Integer grey levels (meb rounds TIM's output too): LBP compares neighbours with >=, and
    # float noise from interpolation would otherwise flip comparisons in flat regions.
    frames = np.rint(frames).astype(np.int32)
    t, h, w = frames.shape
    if t < 2 * radius + 1 or min(h, w) < 2 * radius + grid[0] or min(h, w) < 2 * radius + grid[1]:
        raise ShapeError(
            f"clip of shape {frames.shape} (after interpolation) is too small for LBP-TOP with radius {radius} "
            f"and a {grid} grid; need T >= {2 * radius + 1} and H, W >= {2 * radius + max(grid)}."
        )
    n_bins = _LBP_BINS[neighbours]
    xy = np.stack([local_binary_pattern(frames[i], neighbours, radius, "nri_uniform") for i in range(t)])
    xt = np.stack([local_binary_pattern(frames[:, y, :], neighbours, radius, "nri_uniform") for y in range(h)], axis=1)
    yt = np.stack([local_binary_pattern(frames[:, :, x], neighbours, radius, "nri_uniform") for x in range(w)], axis=2)
    r = radius
    valid = [c[r : t - r, r : h - r, r : w - r].astype(np.int64) for c in (xy, xt, yt)]
    rows = block_slices(h - 2 * r, grid[0], overlap)
    cols = block_slices(w - 2 * r, grid[1], overlap)
    hist = np.zeros((grid[0], grid[1], 3, n_bins))
    for i, rs in enumerate(rows):
        for j, cs in enumerate(cols):
            for p, codes in enumerate(valid):
                counts = np.bincount(codes[:, rs, cs].ravel(), minlength=n_bins)[:n_bins]
                hist[i, j, p] = counts / max(counts.sum(), 1)
    return hist.ravel().astype(np.float32)


def _check_flow2d(flow: np.ndarray) -> np.ndarray:
    arr = np.asarray(flow)
    if arr.ndim != 3 or arr.shape[2] != 2 or arr.dtype.kind != "f":
        raise ShapeError(
            f"flow must be a float array of shape (H, W, 2) with channels (u, v); got {arr.shape} {arr.dtype}.")
    return arr


def _orientation_bins(theta: np.ndarray, lo: float, hi: float, n_bins: int) -> np.ndarray:
    idx = np.floor((theta - lo) / (hi - lo) * n_bins).astype(np.int64)
    return np.clip(idx, 0, n_bins - 1)  # theta == hi (e.g. atan2 = pi) joins the last bin


def biwoof(
    flow: np.ndarray,
    strain: np.ndarray | None = None,
    grid: tuple[int, int] = (5, 5),
    bins: int = 8,
) -> np.ndarray:
    """Bi-Weighted Oriented Optical Flow of an onset -> apex flow.

    Args:
        flow: ``(H, W, 2)`` float flow ``(u, v)`` in pixels.
        strain: ``(H, W)`` optical strain magnitude; computed from ``flow``
            (central differences) when ``None``.
        grid: ``(rows, cols)`` blocks (5x5 in the paper).
        bins: orientation bins over [-pi, pi) (8 in the paper).

    Returns:
        float32 ``(rows * cols * bins,)``, L2-normalised (all zero for zero flow).
    """
    arr = _check_flow2d(flow)
    strain = optical_strain(arr) if strain is None else np.asarray(strain)
    if strain.shape != arr.shape[:2]:
        raise ShapeError(f"strain must have shape {arr.shape[:2]} to match the flow; got {strain.shape}.")
    mag = flow_magnitude(arr)
    idx = _orientation_bins(flow_orientation(arr), -np.pi, np.pi, bins)
    rows = block_slices(arr.shape[0], grid[0])
    cols = block_slices(arr.shape[1], grid[1])
    feats = np.zeros((grid[0], grid[1], bins))
    for i, rs in enumerate(rows):
        for j, cs in enumerate(cols):
            hist = np.bincount(idx[rs, cs].ravel(), weights=mag[rs, cs].ravel(), minlength=bins)
            total = hist.sum()
            if total > 0:
                feats[i, j] = hist / total * strain[rs, cs].sum()  # local then global weighting
    vec = feats.ravel()
    norm = np.linalg.norm(vec)
    return (vec / norm if norm > 0 else vec).astype(np.float32)


def hoof(flow: np.ndarray, bins: int = 8, grid: tuple[int, int] = (1, 1), mirror: bool = True) -> np.ndarray:
    """Histogram of Oriented Optical Flow.

    Args:
        flow: ``(H, W, 2)`` float flow ``(u, v)`` in pixels.
        bins: orientation bins.
        grid: ``(rows, cols)`` blocks, one histogram each.
        mirror: Chaudhry's left/right symmetry: bin ``atan2(v, |u|)`` over
            [-pi/2, pi/2]; ``False`` bins ``atan2(v, u)`` over [-pi, pi).

    Returns:
        float32 ``(rows * cols * bins,)``; each block's histogram sums to 1
        (or is all zero where the block has no motion).
    """
    arr = _check_flow2d(flow)
    mag = flow_magnitude(arr)
    if mirror:
        idx = _orientation_bins(np.arctan2(arr[..., 1], np.abs(arr[..., 0])), -np.pi / 2, np.pi / 2, bins)
    else:
        idx = _orientation_bins(flow_orientation(arr), -np.pi, np.pi, bins)
    out = []
    for rs in block_slices(arr.shape[0], grid[0]):
        for cs in block_slices(arr.shape[1], grid[1]):
            hist = np.bincount(idx[rs, cs].ravel(), weights=mag[rs, cs].ravel(), minlength=bins)
            total = hist.sum()
            out.append(hist / total if total > 0 else hist)
    return np.concatenate(out).astype(np.float32)
