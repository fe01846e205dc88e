"""FACS action units as smooth local displacement fields anchored on 68 landmarks.

Each action unit (AU) is a small set of Gaussian displacement *blobs*: a
centre tied to landmarks, a direction and a width, both in units of the
inter-ocular distance (IOD). A blob moves the skin around its centre along
its direction with a Gaussian falloff, so the field is smooth and local,
and its peak sits where FACS puts the muscle's visible effect (Ekman &
Friesen's FACS manual: AU1 lifts the inner brow, AU4 lowers and draws the
brows together, AU12 pulls the lip corners up and out, ...). Bilateral AUs
are written for the image-left side (the subject's right) and mirrored.

Field convention (used everywhere in :mod:`merkit.synth`): a field is a
*forward* displacement in pixels on the reference (onset) frame grid, like
``cv2.calcOpticalFlow*(onset, apex)``: the skin point at ``x`` in the onset
frame is at ``x + d(x)`` in the later frame. Channels are ordered (u, v) =
(x, y), y down.

The blob geometry is reconstructed from the FACS descriptions, not fitted
to real faces; the widths keep every field's largest spatial derivative
well below 1 so the motion never folds (see ``max_strain`` in the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from merkit._options import unknown_name
from merkit.synth._landmarks import MIRROR_68

__all__ = [
    "Blob",
    "AU_BLOBS",
    "CLASS_AU_COMBOS",
    "OTHER_AU_COMBOS",
    "parse_aus",
    "au_blobs",
    "evaluate_blobs",
    "dense_field",
    "normalise_peak",
    "amplify",
    "max_jacobian",
    "MAX_JACOBIAN",
]

#: Largest spatial derivative a SynthME field may have; keeps every warp invertible
#: (fold-free, and the fixed-point inversion contracts by at least this factor per step).
MAX_JACOBIAN = 0.4


@dataclass(frozen=True)
class Blob:
    """One Gaussian displacement blob, already placed in frame pixels.

    Attributes:
        centre: (x, y) in pixels.
        vector: (u, v) displacement at the centre, in pixels.
        sigma: Gaussian width in pixels.
    """

    centre: tuple[float, float]
    vector: tuple[float, float]
    sigma: float

    def to_list(self) -> list[float]:
        """``[cx, cy, u, v, sigma]``, as stored in the ground-truth ``clip.json``."""
        return [*map(float, self.centre), *map(float, self.vector), float(self.sigma)]


# (anchor landmark indices, anchor offset (IOD), direction (unit-ish), sigma (IOD), weight, mirrored)
# Anchors are the mean of the listed landmarks plus the offset. Directions are for the image-left
# side; mirrored blobs flip x. ``mirrored=False`` marks midline blobs.
_Spec = tuple[tuple[int, ...], tuple[float, float], tuple[float, float], float, float, bool]

AU_BLOBS: dict[str, tuple[_Spec, ...]] = {
    # AU1 inner brow raiser: inner brow and the medial forehead move up.
    "1": (((20, 21), (0.0, -0.02), (0.0, -1.0), 0.16, 1.0, True),
          ((20, 21), (0.05, -0.3), (0.0, -1.0), 0.2, 0.5, True)),
    # AU2 outer brow raiser: lateral brow moves up.
    "2": (((17, 18), (0.0, -0.02), (0.0, -1.0), 0.16, 1.0, True),),
    # AU4 brow lowerer: inner brows move down and towards the midline.
    "4": (((20, 21), (0.0, 0.02), (0.5, 0.85), 0.16, 1.0, True),
          ((21, 22), (0.0, 0.05), (0.0, 0.3), 0.14, 0.4, False)),
    # AU5 upper lid raiser: upper lid moves up.
    "5": (((37, 38), (0.0, 0.0), (0.0, -1.0), 0.09, 1.0, True),),
    # AU6 cheek raiser: infra-orbital cheek moves up, lower lid bulges up.
    "6": (((40, 41), (0.0, 0.3), (0.15, -1.0), 0.2, 1.0, True),
          ((40, 41), (0.0, 0.04), (0.0, -1.0), 0.09, 0.6, True)),
    # AU7 lid tightener: lower lid moves up, upper lid slightly down.
    "7": (((40, 41), (0.0, 0.02), (0.0, -1.0), 0.1, 1.0, True),
          ((37, 38), (0.0, 0.0), (0.0, 1.0), 0.09, 0.35, True)),
    # AU9 nose wrinkler: nose sides and ala move up, inner brows down a little.
    "9": (((29, 31), (-0.05, 0.0), (0.1, -1.0), 0.12, 1.0, True),
          ((21,), (0.0, 0.05), (0.2, 0.6), 0.12, 0.4, True)),
    # AU10 upper lip raiser: upper lip moves up, strongest off-centre.
    "10": (((49, 50), (0.0, 0.0), (0.0, -1.0), 0.13, 1.0, True),),
    # AU12 lip corner puller: lip corners move out and up.
    "12": (((48,), (0.0, 0.0), (-0.75, -0.65), 0.15, 1.0, True),
           ((48,), (0.1, -0.25), (-0.3, -0.8), 0.2, 0.35, True)),
    # AU14 dimpler: lip corners tighten back (laterally) and slightly in.
    "14": (((48,), (0.02, 0.0), (-1.0, -0.1), 0.1, 1.0, True),),
    # AU15 lip corner depressor: lip corners move down.
    "15": (((48,), (0.0, 0.02), (0.1, 1.0), 0.13, 1.0, True),),
    # AU17 chin raiser: chin boss and lower lip push up (midline).
    "17": (((57, 8), (0.0, 0.0), (0.0, -1.0), 0.22, 1.0, False),),
    # AU24 lip pressor: lips press together (upper down, lower up; midline).
    "24": (((51,), (0.0, 0.02), (0.0, 1.0), 0.12, 1.0, False),
           ((57,), (0.0, -0.02), (0.0, -1.0), 0.12, 1.0, False)),
    # AU25 lips part: lower lip moves down (midline).
    "25": (((57,), (0.0, 0.0), (0.0, 1.0), 0.12, 1.0, False),),
    # AU26 jaw drop: chin and lower lip move down (midline, wide).
    "26": (((57, 8), (0.0, 0.0), (0.0, 1.0), 0.3, 1.0, False),
           ((57,), (0.0, 0.0), (0.0, 1.0), 0.12, 0.5, False)),
    # AU45 blink: upper lid moves down over the eye.
    "45": (((37, 38), (0.0, 0.01), (0.0, 1.0), 0.1, 1.0, True),),
}

#: Class -> ((AU combination, probability), ...). Issue 3's distributions over FACS combinations.
CLASS_AU_COMBOS: dict[str, tuple[tuple[str, float], ...]] = {
    "negative": (("4", 0.2), ("4+7", 0.2), ("14", 0.15), ("9", 0.1), ("10", 0.1), ("15", 0.12), ("17", 0.13)),
    "positive": (("12", 0.5), ("6+12", 0.5)),
    "surprise": (("1+2", 0.4), ("1+2+5", 0.3), ("26", 0.3)),
}

#: AU combinations of the "others" clips (CASME II ``others``, SAMM ``Other``), dropped by MEGC 3-class.
OTHER_AU_COMBOS: tuple[tuple[str, float], ...] = (("1", 0.3), ("2", 0.2), ("25", 0.3), ("7", 0.2))


def parse_aus(combo: str) -> list[tuple[str, str]]:
    """Split ``'R14+17'`` into ``[('R', '14'), ('', '17')]`` (side prefix: L, R or '')."""
    out = []
    for part in str(combo).split("+"):
        part = part.strip()
        side = part[0] if part[:1] in ("L", "R") else ""
        code = part[len(side):]
        if code not in AU_BLOBS:
            raise unknown_name("action unit", code, AU_BLOBS, hint=f"(in combination {combo!r})")
        out.append((side, code))
    return out


def _rotation(matrix: np.ndarray) -> np.ndarray:
    """The linear part of a 2x3 similarity, normalised to a pure rotation."""
    a = np.asarray(matrix, np.float64)[:, :2]
    return a / np.sqrt(abs(np.linalg.det(a)))


def au_blobs(
    combo: str,
    landmarks: np.ndarray,
    iod_px: float,
    rotation: np.ndarray | None = None,
    weights: Sequence[float] | None = None,
) -> list[Blob]:
    """Place the blobs of an AU combination on a face.

    Args:
        combo: FACS string such as ``'6+12'`` or ``'R14'``. ``R`` is the
            subject's right, which is the image-left side of a frontal face.
        landmarks: (68, 2) landmark pixel coordinates of the face.
        iod_px: the face's inter-ocular distance in pixels.
        rotation: 2x2 rotation of the face in the frame (identity if None).
        weights: one relative amplitude per AU in ``combo`` (default all 1).

    Returns:
        Blobs with unit-scale vectors (peak about 1 px before normalisation).
    """
    rot = np.eye(2) if rotation is None else np.asarray(rotation, np.float64)
    units = parse_aus(combo)
    weights = [1.0] * len(units) if weights is None else list(weights)
    mirror = list(MIRROR_68)
    blobs: list[Blob] = []
    for (side, code), w in zip(units, weights):
        for idx, offset, direction, sigma, weight, mirrored in AU_BLOBS[code]:
            sides = ("image_left", "image_right") if mirrored else ("mid",)
            if side == "R":  # subject's right = image left
                sides = tuple(s for s in sides if s != "image_right")
            elif side == "L":
                sides = tuple(s for s in sides if s != "image_left")
            for s in sides:
                flip = -1.0 if s == "image_right" else 1.0
                ids = [mirror[i] for i in idx] if s == "image_right" else list(idx)
                anchor_local = np.array([offset[0] * flip, offset[1]])
                direction_local = np.array([direction[0] * flip, direction[1]])
                direction_local /= np.linalg.norm(direction_local)
                centre = landmarks[ids].mean(0) + rot @ anchor_local * iod_px
                vector = rot @ direction_local * weight * w
                blobs.append(Blob(tuple(centre), tuple(vector), float(sigma * iod_px)))
    return blobs


def evaluate_blobs(blobs: Sequence[Blob], points: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Evaluate the summed blob field at arbitrary points.

    Args:
        blobs: the field's blobs.
        points: (N, 2) pixel coordinates (x, y).
        scale: factor applied to every blob vector.

    Returns:
        (N, 2) float64 displacement (u, v) in pixels.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.zeros_like(pts)
    for b in blobs:
        d2 = ((pts - b.centre) ** 2).sum(1)
        out += np.exp(-d2 / (2 * b.sigma**2))[:, None] * b.vector
    return out * scale


def dense_field(blobs: Sequence[Blob], shape_hw: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """Evaluate the blob field on the pixel grid.

    Args:
        blobs: the field's blobs.
        shape_hw: (H, W) of the frame.
        scale: factor applied to every blob vector.

    Returns:
        (H, W, 2) float32 forward displacement (u, v) in pixels. Each blob is
        evaluated only within 4 sigma of its centre (the rest is < 4e-4 of its peak).
    """
    h, w = shape_hw
    out = np.zeros((h, w, 2), np.float64)
    for b in blobs:
        r = 4.0 * b.sigma
        x0, x1 = max(0, int(np.floor(b.centre[0] - r))), min(w, int(np.ceil(b.centre[0] + r)) + 1)
        y0, y1 = max(0, int(np.floor(b.centre[1] - r))), min(h, int(np.ceil(b.centre[1] + r)) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        gx = np.exp(-((np.arange(x0, x1) - b.centre[0]) ** 2) / (2 * b.sigma**2))
        gy = np.exp(-((np.arange(y0, y1) - b.centre[1]) ** 2) / (2 * b.sigma**2))
        g = gy[:, None] * gx[None, :]
        out[y0:y1, x0:x1] += g[..., None] * np.asarray(b.vector)
    return (out * scale).astype(np.float32)


def max_jacobian(blobs: Sequence[Blob]) -> float:
    """Largest absolute entry of the field's Jacobian (du/dx, du/dy, dv/dx, dv/dy), evaluated
    analytically on a grid of spacing ``sigma_min / 3`` covering every blob to 3 sigma."""
    if not blobs:
        return 0.0
    c = np.array([b.centre for b in blobs])
    sig = np.array([b.sigma for b in blobs])
    lo, hi = (c - 3 * sig[:, None]).min(0), (c + 3 * sig[:, None]).max(0)
    step = sig.min() / 3
    xs, ys = np.arange(lo[0], hi[0] + step, step), np.arange(lo[1], hi[1] + step, step)
    px, py = np.meshgrid(xs, ys)
    jac = np.zeros((4,) + px.shape)
    for b in blobs:
        dx, dy = px - b.centre[0], py - b.centre[1]
        g = np.exp(-(dx**2 + dy**2) / (2 * b.sigma**2)) / b.sigma**2
        for k, (vec, d) in enumerate(((b.vector[0], dx), (b.vector[0], dy), (b.vector[1], dx), (b.vector[1], dy))):
            jac[k] -= vec * d * g
    return float(np.abs(jac).max())


def normalise_peak(blobs: Sequence[Blob], peak_px: float) -> tuple[list[Blob], float]:
    """Scale ``blobs`` so the summed field peaks at ``peak_px``, capped to stay invertible.

    The peak is measured at the blob centres. The scale is capped so that the
    field's largest spatial derivative (:func:`max_jacobian`) stays below
    :data:`MAX_JACOBIAN`. The cap binds on small faces (the ``tiny`` preset),
    where narrow blobs cannot carry a 2 px motion without folding, and for
    opposing blob pairs such as AU24's lip press.

    Returns:
        (scaled blobs, the peak actually used in pixels).
    """
    centres = np.array([b.centre for b in blobs])
    current = float(np.linalg.norm(evaluate_blobs(blobs, centres), axis=1).max())
    k = peak_px / current
    k = min(k, MAX_JACOBIAN / max(max_jacobian(blobs), 1e-12))
    return [Blob(b.centre, (b.vector[0] * k, b.vector[1] * k), b.sigma) for b in blobs], float(current * k)


#: Largest factor by which :func:`amplify` widens an AU's blobs; beyond it the peak is capped instead.
MAX_WIDENING = 4.0


def amplify(blobs: Sequence[Blob], factor: float) -> tuple[list[Blob], float]:
    """Scale a field's peak by ``factor``, widening its blobs where it would otherwise fold.

    The ``amplitude_scale`` knob of :class:`~merkit.synth.config.SynthConfig`. The vectors are
    multiplied by ``factor``. If that lifts the field's largest spatial derivative
    (:func:`max_jacobian`) above :data:`MAX_JACOBIAN`, every blob's sigma grows by the smallest
    common factor ``f`` (found by bisection, to 1 %) for which the field, renormalised to
    ``factor`` times the original peak (measured at the blob centres, as in
    :func:`normalise_peak`), stays below it: wider blobs spread a large motion over more skin, as
    a macro-expression does, instead of folding the image. ``f`` is at most
    :data:`MAX_WIDENING`; where even that is not enough (small faces at large factors, blobs that
    push against each other such as AU7's lids) the scale is capped as in :func:`normalise_peak`
    and the returned peak falls short of the target.

    Returns:
        (scaled blobs, the peak actually reached in pixels).
    """
    centres = np.array([b.centre for b in blobs])

    def peak(bs: Sequence[Blob]) -> float:
        return float(np.linalg.norm(evaluate_blobs(bs, centres), axis=1).max())

    def widened(f: float) -> list[Blob]:
        wide = [Blob(b.centre, b.vector, b.sigma * f) for b in blobs]
        k = target / max(peak(wide), 1e-12)
        return [Blob(b.centre, (b.vector[0] * k, b.vector[1] * k), b.sigma) for b in wide]

    target = peak(blobs) * float(factor)
    out = [Blob(b.centre, (b.vector[0] * factor, b.vector[1] * factor), b.sigma) for b in blobs]
    if max_jacobian(out) <= MAX_JACOBIAN:
        return out, peak(out)
    lo, hi = 1.0, MAX_WIDENING
    if max_jacobian(widened(hi)) > MAX_JACOBIAN:  # not reachable: widest blobs, capped scale
        out = widened(hi)
        k = MAX_JACOBIAN / max_jacobian(out)
        out = [Blob(b.centre, (b.vector[0] * k, b.vector[1] * k), b.sigma) for b in out]
        return out, peak(out)
    while hi / lo > 1.01:
        mid = float(np.sqrt(lo * hi))
        if max_jacobian(widened(mid)) <= MAX_JACOBIAN:
            hi = mid
        else:
            lo = mid
    out = widened(hi)
    return out, peak(out)
