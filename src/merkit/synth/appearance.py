"""The appearance cue of action units: creases, furrows and folds that real apex frames carry.

Pure warping moves texture but never creates it, while a real frown deepens
the furrows between the brows and a smile deepens the nasolabial folds. With
``SynthConfig.appearance_contrast > 0`` every class AU of a clip darkens (or,
for AU5, lightens) a fixed pattern of *creases* in its region. A crease is a
polyline anchored on the 68 landmarks (each point is the mean of some
landmarks plus an offset in IOD units, rotated with the face) with a
Gaussian cross-section; its pattern is 1 on the line and falls off as
``exp(-d^2 / (2 w^2))`` with the distance ``d`` from it, ``w = width * IOD``
(at least :data:`MIN_WIDTH_PX`). Creases of one AU combine by maximum, so an
AU's pattern peaks at exactly 1.

The clip's *appearance map* (:func:`appearance_map`) is
``A(x) = sum_AU sign_AU * intensity_AU * pattern_AU(x)`` on the onset grid;
frame ``t`` is the onset image times ``1 + c(t) * A`` (``c`` the class AUs'
activation relative to the onset), warped by the frame's field, so the
creases move with the skin (:func:`merkit.synth.clip.render_clip`).
``intensity_AU`` is ``appearance_contrast * AU weight * expressiveness`` (planned in
:mod:`merkit.synth._plan`): the peak relative luminance change on the crease
at the apex. Like :data:`~merkit.synth.actions.AU_BLOBS`, the patterns are
reconstructed from the FACS descriptions of each AU's appearance changes,
not fitted to real faces; ``docs/synthme.md`` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from merkit.synth._landmarks import MIRROR_68
from merkit.synth.actions import parse_aus

__all__ = ["AU_CREASES", "MIN_WIDTH_PX", "crease_pattern", "appearance_map"]

#: Smallest Gaussian width of a crease in pixels (tiny faces would otherwise alias).
MIN_WIDTH_PX = 0.6

# One crease: (points, width (IOD), sign (-1 darkens, +1 lightens), mirrored). Each point is
# (anchor landmark indices, offset (IOD)); written for the image-left side (the subject's right),
# mirrored ones are drawn on both sides, others (midline) once.
_Point = tuple[tuple[int, ...], tuple[float, float]]
_Crease = tuple[tuple[_Point, ...], float, float, bool]

AU_CREASES: dict[str, tuple[_Crease, ...]] = {
    # AU1 inner brow raiser: horizontal lines across the middle of the forehead.
    "1": (((((21, 22), (-0.3, -0.22)), ((21, 22), (0.0, -0.26)), ((21, 22), (0.3, -0.22))), 0.025, -1.0, False),
          ((((21, 22), (-0.25, -0.38)), ((21, 22), (0.0, -0.42)), ((21, 22), (0.25, -0.38))), 0.025, -1.0, False)),
    # AU2 outer brow raiser: an arched line above each outer brow.
    "2": (((((17, 18), (-0.12, -0.18)), ((18, 19), (0.0, -0.24)), ((19, 20), (0.08, -0.22))), 0.025, -1.0, True),),
    # AU4 brow lowerer: vertical furrows between the brows (glabella).
    "4": (((((21, 22), (-0.08, -0.16)), ((21, 22), (-0.06, 0.04))), 0.025, -1.0, True),),
    # AU5 upper lid raiser: the raised lid shows a lighter band above the eye.
    "5": (((((37,), (-0.05, -0.06)), ((38,), (0.05, -0.06))), 0.03, 1.0, True),),
    # AU6 cheek raiser: crow's feet fanning out from the outer eye corner.
    "6": (((((36,), (-0.07, -0.03)), ((36,), (-0.22, -0.09))), 0.02, -1.0, True),
          ((((36,), (-0.07, 0.01)), ((36,), (-0.23, 0.01))), 0.02, -1.0, True),
          ((((36,), (-0.07, 0.05)), ((36,), (-0.21, 0.11))), 0.02, -1.0, True)),
    # AU7 lid tightener: a tension line under the lower lid.
    "7": (((((41,), (-0.06, 0.07)), ((40, 41), (0.0, 0.09)), ((40,), (0.06, 0.07))), 0.02, -1.0, True),),
    # AU9 nose wrinkler: horizontal wrinkles across the root of the nose.
    "9": (((((27,), (-0.12, 0.0)), ((27,), (0.12, 0.0))), 0.02, -1.0, False),
          ((((27, 28), (-0.1, 0.0)), ((27, 28), (0.1, 0.0))), 0.02, -1.0, False)),
    # AU10 upper lip raiser: the upper part of the nasolabial fold deepens.
    "10": (((((31,), (-0.06, -0.04)), ((31, 48), (-0.12, 0.0))), 0.03, -1.0, True),),
    # AU12 lip corner puller: the nasolabial fold, from beside the nose wing to outside the lip corner.
    "12": (((((31,), (-0.06, -0.04)), ((31, 48), (-0.12, 0.0)), ((48,), (-0.1, -0.02))), 0.03, -1.0, True),),
    # AU14 dimpler: a short dimple line beside the lip corner.
    "14": (((((48,), (-0.07, -0.06)), ((48,), (-0.07, 0.05))), 0.025, -1.0, True),),
    # AU15 lip corner depressor: a line running down from the lip corner.
    "15": (((((48,), (-0.02, 0.04)), ((48,), (-0.06, 0.25))), 0.025, -1.0, True),),
    # AU17 chin raiser: the crease between lower lip and chin boss.
    "17": (((((57,), (-0.18, 0.1)), ((57,), (0.0, 0.13)), ((57,), (0.18, 0.1))), 0.025, -1.0, False),),
    # AU25 lips part, AU26 jaw drop: the mouth opening darkens along the lip line.
    "25": (((((48,), (0.0, 0.0)), ((61,), (0.0, 0.0)), ((62,), (0.0, 0.0)), ((63,), (0.0, 0.0)),
              ((54,), (0.0, 0.0))), 0.025, -1.0, False),),
    "26": (((((48,), (0.0, 0.0)), ((61,), (0.0, 0.0)), ((62,), (0.0, 0.0)), ((63,), (0.0, 0.0)),
              ((54,), (0.0, 0.0))), 0.035, -1.0, False),),
    # AU24 (lip pressor) and AU45 (blink) only occur as habits and blinks, which carry no appearance cue.
    "24": (),
    "45": (),
}


def _polyline_distance(points: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Distance of every grid point to the polyline ``points`` (N, 2)."""
    best = np.full(gx.shape, np.inf)
    for a, b in zip(points[:-1], points[1:]):
        ab = b - a
        t = ((gx - a[0]) * ab[0] + (gy - a[1]) * ab[1]) / max(float(ab @ ab), 1e-12)
        t = np.clip(t, 0.0, 1.0)
        d2 = (gx - a[0] - t * ab[0]) ** 2 + (gy - a[1] - t * ab[1]) ** 2
        np.minimum(best, d2, out=best)
    return np.sqrt(best)


def crease_pattern(code: str, side: str, landmarks: np.ndarray, iod_px: float, shape_hw: tuple[int, int],
                   rotation: np.ndarray | None = None) -> np.ndarray:
    """One AU's crease pattern on the pixel grid, 1 on its creases.

    Args:
        code: the AU number as a string (``'12'``).
        side: ``''`` (both sides), ``'R'`` (subject's right = image left) or ``'L'``.
        landmarks: (68, 2) landmark pixel coordinates of the face.
        iod_px: the face's inter-ocular distance in pixels.
        shape_hw: (H, W) of the frame.
        rotation: 2x2 rotation of the face in the frame (identity if None).

    Returns:
        (H, W) float64 pattern in [0, 1].
    """
    rot = np.eye(2) if rotation is None else np.asarray(rotation, np.float64)
    lm = np.asarray(landmarks, np.float64)
    h, w = shape_hw
    out = np.zeros((h, w), np.float64)
    mirror = list(MIRROR_68)
    for points, width, _sign, mirrored in AU_CREASES[code]:
        sides = ("image_left", "image_right") if mirrored else ("mid",)
        if side == "R":
            sides = tuple(s for s in sides if s != "image_right")
        elif side == "L":
            sides = tuple(s for s in sides if s != "image_left")
        sigma = max(width * iod_px, MIN_WIDTH_PX)
        for s in sides:
            flip = -1.0 if s == "image_right" else 1.0
            pts = np.array([lm[[mirror[i] for i in ids] if s == "image_right" else list(ids)].mean(0)
                            + rot @ np.array([off[0] * flip, off[1]]) * iod_px for ids, off in points])
            r = 3.0 * sigma
            x0, x1 = max(0, int(np.floor(pts[:, 0].min() - r))), min(w, int(np.ceil(pts[:, 0].max() + r)) + 1)
            y0, y1 = max(0, int(np.floor(pts[:, 1].min() - r))), min(h, int(np.ceil(pts[:, 1].max() + r)) + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
            g = np.exp(-_polyline_distance(pts, gx, gy) ** 2 / (2 * sigma**2))
            np.maximum(out[y0:y1, x0:x1], g, out=out[y0:y1, x0:x1])
    return out


def appearance_map(combo: str, intensities: Sequence[float], landmarks: np.ndarray, iod_px: float,
                   shape_hw: tuple[int, int], rotation: np.ndarray | None = None) -> np.ndarray:
    """The relative luminance change of a clip's class AUs at activation 1, on the onset grid.

    Args:
        combo: FACS string such as ``'6+12'`` or ``'R14'``.
        intensities: one peak relative change per AU of ``combo`` (``ClipPlan.appearance``).
        landmarks, iod_px, shape_hw, rotation: as in :func:`crease_pattern`.

    Returns:
        (H, W) float32 map ``A``; negative darkens (``0.05 * -1`` = 5 % darker). The frame is the
        image times ``max(1 + c * A, 0)``.
    """
    out = np.zeros(shape_hw, np.float64)
    for (side, code), intensity in zip(parse_aus(combo), intensities):
        if not AU_CREASES[code]:
            continue
        sign = AU_CREASES[code][0][2]  # every AU's creases share one sign (tested)
        out += sign * float(intensity) * crease_pattern(code, side, landmarks, iod_px, shape_hw, rotation)
    return out.astype(np.float32)
