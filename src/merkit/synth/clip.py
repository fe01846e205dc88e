"""Render one clip: a placed face, moved by AU, blink, habit and head fields, then filmed.

Every frame ``t`` of a clip is the noise-free onset image ``R`` warped by
one dense forward field ``H_t`` (pixels, on the onset grid, see
:mod:`merkit.synth.actions` for the convention)::

    H_t(x) = S_t(x + N_t(x)) - x,    N_t = sum_k c_k(t) * E_k

where ``E_k`` are the blob fields of the clip's components (the class AUs,
an optional blink, an optional habitual AU), ``c_k(t)`` their temporal
profiles taken relative to the onset frame (so ``H_onset = 0``), and
``S_t`` the head's similarity motion relative to the onset pose. The rigid
part is faded out towards the background by a smooth weight ``w`` (the
blurred subject mask), so the full field is
``H_t(x) = N_t(x) + w(x) * (S_t(x + N_t(x)) - x - N_t(x))``. The
noise-free frame is ``warp_by_flow(R, H_t)``; then illumination drift,
flicker, sensor noise, quantisation and compression are applied. The
stored ground truth ``flow_onset_apex.npy`` is ``H_apex`` itself, so
warping the noise-free onset by it reproduces the noise-free apex up to
8-bit rounding (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from merkit.errors import ShapeError
from merkit.synth.actions import Blob, dense_field, evaluate_blobs

__all__ = ["Component", "HeadMotion", "Illumination", "ClipFrames", "warp_by_flow", "raised_cosine_profile",
           "bump_profile", "onset_field", "pair_field", "render_clip", "appearance_source"]


@dataclass(frozen=True)
class Component:
    """One non-rigid motion source of a clip.

    Attributes:
        name: ``'au'``, ``'blink'`` or ``'habit'``.
        blobs: its displacement blobs, vectors scaled so that profile 1 is the peak, pixels.
        profile: (T,) float64 activation per frame on disk (1 = peak).
    """

    name: str
    blobs: tuple[Blob, ...]
    profile: np.ndarray


@dataclass(frozen=True)
class HeadMotion:
    """Per-frame similarity motion of the head about ``centre``, relative to the onset frame.

    Attributes:
        centre: (x, y) pixel centre of rotation and scaling (the face centre).
        shift: (T, 2) translation in pixels.
        angle_deg: (T,) roll in degrees (positive = clockwise in image coordinates).
        scale: (T,) relative scale (1 = onset size).
    """

    centre: tuple[float, float]
    shift: np.ndarray
    angle_deg: np.ndarray
    scale: np.ndarray

    def matrix(self, t: int) -> np.ndarray:
        """2x3 float64 map from onset-frame pixels to frame ``t`` pixels."""
        a = np.deg2rad(self.angle_deg[t])
        rot = self.scale[t] * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        c = np.asarray(self.centre)
        return np.concatenate([rot, (c - rot @ c + self.shift[t])[:, None]], 1)


@dataclass(frozen=True)
class Illumination:
    """Per-frame lighting: ``gain(x, y) = global * (1 + gx * xn + gy * yn)``, xn, yn in [-0.5, 0.5].

    Attributes:
        gain: (T,) global gain (drift and flicker), 1 = as rendered.
        grad_x: (T,) left-right gain slope.
        grad_y: (T,) top-bottom gain slope.
    """

    gain: np.ndarray
    grad_x: np.ndarray
    grad_y: np.ndarray


@dataclass(frozen=True)
class ClipFrames:
    """A rendered clip.

    Attributes:
        frames: T arrays, (H, W, 3) RGB or (H, W) grey, uint8, as they go to disk (before compression).
        landmarks: (T, 68, 2) float32 landmark pixel coordinates per frame.
        flow_onset_apex: (H, W, 2) float32 forward field from onset to apex, pixels (all motion).
        au_flow_onset_apex: (H, W, 2) float32, the class-AU part of that field only.
        onset_clean: noise-free onset frame, uint8.
        apex_clean: noise-free apex frame, uint8.
    """

    frames: list[np.ndarray]
    landmarks: np.ndarray
    flow_onset_apex: np.ndarray
    au_flow_onset_apex: np.ndarray
    onset_clean: np.ndarray
    apex_clean: np.ndarray


def warp_by_flow(image: np.ndarray, flow: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Move the content of ``image`` along a forward displacement field.

    The result ``out`` satisfies ``out(x + flow(x)) = image(x)``: the pixel at
    ``x`` moves to ``x + flow(x)``. The inverse map is found per output pixel
    by the fixed-point iteration ``x <- y - flow(x)``, which converges when
    the field's spatial derivatives are below 1 (true for every SynthME field).

    Args:
        image: (H, W) or (H, W, C) float32 or uint8 image.
        flow: (H, W, 2) float32 forward displacement (u, v) in pixels.
        iterations: number of flow evaluations in the fixed-point inversion.

    Returns:
        The warped image, same shape and dtype (bilinear, edges replicated).

    Raises:
        ShapeError: if ``flow`` is not (H, W, 2) matching ``image``.
    """
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[:2] != image.shape[:2]:
        raise ShapeError(
            f"flow must have shape (H, W, 2) = ({image.shape[0]}, {image.shape[1]}, 2) to match the image; "
            f"got {tuple(flow.shape)}."
        )
    mx, my = _inverse_map(flow, iterations)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _inverse_map(flow: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Sampling maps ``(mx, my)`` of the inverse of ``x -> x + flow(x)``, by fixed-point iteration.

    ``flow`` is (H, W, 2); the result, used with ``cv2.remap``, pulls from the first grid the
    point that ``flow`` moves onto each target pixel.
    """
    flow = np.ascontiguousarray(flow, dtype=np.float32)
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx - flow[..., 0], gy - flow[..., 1]
    for _ in range(iterations - 1):
        f = cv2.remap(flow, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mx, my = gx - f[..., 0], gy - f[..., 1]
    return mx, my


def raised_cosine_profile(frame_numbers: Sequence[int], onset: int, apex: int, offset: int) -> np.ndarray:
    """Onset-apex-offset profile: 0 at onset, cosine rise to 1 at apex, cosine fall to 0 at offset.

    Args:
        frame_numbers: frame numbers on disk.
        onset, apex, offset: frame numbers with ``onset <= apex <= offset``.

    Returns:
        (T,) float64 activation in [0, 1], 0 outside [onset, offset].
    """
    f = np.asarray(frame_numbers, np.float64)
    out = np.zeros_like(f)
    rise = (f >= onset) & (f <= apex)
    out[rise] = 0.5 - 0.5 * np.cos(np.pi * (f[rise] - onset) / max(apex - onset, 1e-9))
    fall = (f > apex) & (f <= offset)
    out[fall] = 0.5 + 0.5 * np.cos(np.pi * (f[fall] - apex) / max(offset - apex, 1e-9))
    if onset == apex:
        out[f == apex] = 1.0
    return out


def bump_profile(times_s: np.ndarray, start_s: float, duration_s: float, peak_at: float = 0.4) -> np.ndarray:
    """A smooth 0-1-0 bump (blink, habit) starting at ``start_s``; peak at ``peak_at`` of its duration."""
    t = (np.asarray(times_s, np.float64) - start_s) / duration_s
    out = np.zeros_like(t)
    rise = (t >= 0) & (t <= peak_at)
    out[rise] = 0.5 - 0.5 * np.cos(np.pi * t[rise] / peak_at)
    fall = (t > peak_at) & (t <= 1)
    out[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - peak_at) / (1 - peak_at))
    return out


def onset_field(
    fields: Sequence[np.ndarray],
    profiles: Sequence[np.ndarray],
    head: HeadMotion,
    head_weight: np.ndarray,
    t: int,
) -> np.ndarray:
    """The full forward field ``H_t`` from the onset frame to frame ``t`` (module docstring).

    This is the field :func:`render_clip` warps the onset image with, so
    ``warp_by_flow(onset_clean, onset_field(..., t))`` is the noise-free frame ``t``.

    Args:
        fields: one (H, W, 2) float32 dense blob field per component (:func:`dense_field`), pixels.
        profiles: one (T,) activation per component, already relative to the onset
            (``profile - profile[onset_index]``).
        head: the rigid head motion.
        head_weight: (H, W) float32 in [0, 1], how much each pixel follows the head.
        t: 0-based frame position in the clip.

    Returns:
        (H, W, 2) float32 forward displacement (u, v) on the onset grid, pixels.
    """
    h, w = head_weight.shape
    nonrigid = np.zeros((h, w, 2), np.float32)
    for f, r in zip(fields, profiles):
        if r[t] != 0.0:
            nonrigid += np.float32(r[t]) * f
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    (a, b, c), (d, e, g) = head.matrix(t).astype(np.float32)
    sx, sy = gx + nonrigid[..., 0], gy + nonrigid[..., 1]
    # The head's rigid motion, faded out towards the static background.
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0] = nonrigid[..., 0] + head_weight * ((a - 1) * sx + b * sy + c)
    flow[..., 1] = nonrigid[..., 1] + head_weight * (d * sx + (e - 1) * sy + g)
    return flow


def pair_field(field_from: np.ndarray, field_to: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Forward field between two frames ``i`` and ``j`` of a clip, on frame ``i``'s grid.

    With ``H_i``, ``H_j`` the onset fields of the two frames (:func:`onset_field`),
    the skin point at onset position ``x`` is at ``y = x + H_i(x)`` in frame ``i``
    and at ``x + H_j(x)`` in frame ``j``. The result ``F`` satisfies
    ``F(y) = H_j(x) - H_i(x)``, the convention of ``cv2.calcOpticalFlow*(frame_i, frame_j)``
    and of :func:`warp_by_flow` (``warp_by_flow(clean_i, F)`` is ``clean_j``). ``x`` is
    found from ``y`` by the same fixed-point inversion as :func:`warp_by_flow`.

    Args:
        field_from: (H, W, 2) float32 ``H_i``, pixels.
        field_to: (H, W, 2) float32 ``H_j``, pixels.
        iterations: fixed-point iterations of the inversion of ``x -> x + H_i(x)``.

    Returns:
        (H, W, 2) float32 forward displacement (u, v) from frame ``i`` to frame ``j``, pixels.

    Raises:
        ShapeError: if the fields are not two (H, W, 2) arrays of the same shape.
    """
    if field_from.ndim != 3 or field_from.shape[2] != 2 or field_from.shape != field_to.shape:
        raise ShapeError(f"pair_field needs two (H, W, 2) fields of the same shape; got {tuple(field_from.shape)} "
                         f"and {tuple(field_to.shape)}.")
    mx, my = _inverse_map(field_from, iterations)
    diff = np.ascontiguousarray(field_to, dtype=np.float32) - np.asarray(field_from, dtype=np.float32)
    return cv2.remap(diff, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def appearance_source(reference: np.ndarray, appearance: np.ndarray, activation: float) -> np.ndarray:
    """The onset image with the AU appearance cue at ``activation``: ``reference * max(1 + activation * A, 0)``.

    Args:
        reference: (H, W) or (H, W, C) float32 onset image.
        appearance: (H, W) float32 map ``A`` (:func:`merkit.synth.appearance.appearance_map`).
        activation: the class AUs' activation relative to the onset.
    """
    if activation == 0.0:
        return reference
    gain = np.maximum(1 + np.float32(activation) * appearance, 0)
    return reference * (gain[..., None] if reference.ndim == 3 else gain)


def render_clip(
    reference: np.ndarray,
    landmarks: np.ndarray,
    components: Sequence[Component],
    head: HeadMotion,
    light: Illumination,
    *,
    onset_index: int,
    apex_index: int,
    noise_sigma: float,
    shot_noise: float,
    rng: np.random.Generator,
    head_weight: np.ndarray | None = None,
    iterations: int = 8,
    appearance: np.ndarray | None = None,
) -> ClipFrames:
    """Film a clip from its noise-free onset image.

    Args:
        reference: (H, W, 3) or (H, W) float32 noise-free onset image, grey levels 0..255.
        landmarks: (68, 2) landmarks of ``reference`` in pixels.
        components: non-rigid motion sources; their profiles are used relative to the onset frame.
        head: rigid head motion (must be identity at ``onset_index``).
        light: per-frame illumination.
        onset_index, apex_index: 0-based positions of onset and true apex among the frames.
        noise_sigma: read-noise standard deviation, grey levels.
        shot_noise: variance added per grey level of signal.
        rng: generator for the sensor noise.
        head_weight: (H, W) float32 in [0, 1], how much each pixel follows the head (1 on the
            subject, 0 on the static background, smooth in between so the field stays invertible);
            None moves the whole frame with the head.
        iterations: fixed-point iterations of :func:`warp_by_flow`.
        appearance: (H, W) float32 relative luminance change of the class AUs at activation 1, on
            the onset grid (:func:`merkit.synth.appearance.appearance_map`); frame ``t`` warps
            ``reference * max(1 + c(t) * appearance, 0)``, ``c`` the relative profile of the
            ``'au'`` component, so the creases move with the skin. None: no appearance change.

    Returns:
        :class:`ClipFrames`.
    """
    h, w = reference.shape[:2]
    n = len(head.scale)
    fields = [dense_field(c.blobs, (h, w)) for c in components]
    at_landmarks = [evaluate_blobs(c.blobs, landmarks) for c in components]
    rel = [c.profile - c.profile[onset_index] for c in components]
    au_rel = next((r for c, r in zip(components, rel) if c.name == "au"), np.zeros(n))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xn = gx / max(w - 1, 1) - 0.5
    yn = gy / max(h - 1, 1) - 0.5
    weight = np.ones((h, w), np.float32) if head_weight is None else head_weight.astype(np.float32)
    lm_weight = cv2.remap(weight, landmarks[:, 0].astype(np.float32)[None], landmarks[:, 1].astype(np.float32)[None],
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0].astype(np.float64)
    frames, lms = [], np.zeros((n, 68, 2), np.float32)
    flow_apex = au_apex = clean_apex = None
    for t in range(n):
        lm_move = np.zeros((68, 2))
        for at_lm, r in zip(at_landmarks, rel):
            if r[t] != 0.0:
                lm_move += r[t] * at_lm
        m = head.matrix(t)
        flow = onset_field(fields, rel, head, weight, t)
        clean = reference if t == onset_index else warp_by_flow(
            reference if appearance is None else appearance_source(reference, appearance, au_rel[t]),
            flow, iterations)
        pts = landmarks + lm_move
        lms[t] = pts + lm_weight[:, None] * (pts @ m[:, :2].T + m[:, 2] - pts)
        if t == apex_index:
            flow_apex = flow
            au_apex = sum((np.float32(r[t]) * f for comp, f, r in zip(components, fields, rel) if comp.name == "au"),
                          np.zeros((h, w, 2), np.float32))
            clean_apex = clean
        gain = np.float32(light.gain[t]) * (1 + np.float32(light.grad_x[t]) * xn + np.float32(light.grad_y[t]) * yn)
        lit = clean * (gain[..., None] if clean.ndim == 3 else gain)
        np.maximum(lit, 0, out=lit)
        sigma = np.sqrt(np.float32(noise_sigma**2) + np.float32(shot_noise) * lit)
        lit += sigma * rng.standard_normal(lit.shape, dtype=np.float32)
        frames.append(np.clip(lit, 0, 255).round().astype(np.uint8))
    return ClipFrames(
        frames=frames,
        landmarks=lms,
        flow_onset_apex=flow_apex,
        au_flow_onset_apex=au_apex,
        onset_clean=np.clip(np.rint(reference), 0, 255).astype(np.uint8),
        apex_clean=np.clip(np.rint(clean_apex), 0, 255).astype(np.uint8),
    )
