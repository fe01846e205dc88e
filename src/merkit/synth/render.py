"""Procedural face rendering from 68 landmarks (OpenCV drawing, supersampled).

A face is drawn once per subject and camera, upright, on a canvas with an
alpha mask; clips then place it in the frame with a similarity transform
(:func:`place_face`). Drawing order: hair mass, neck and shoulders, ears,
face (jaw outline closed by a forehead arc at the subject's hairline), skin
shading and texture, eye sockets, brows, eyes, nose, lips, glasses. Drawing
happens at ``supersample`` times the target size and is reduced with area
averaging, so edges are anti-aliased and the image is smooth enough to be
warped by sub-pixel displacement fields without aliasing.

The goal is not photo-realism but the structure a face detector and an
optical-flow method respond to: dark brows over bright lids, eye and mouth
slits, a nose shadow, a face oval against hair and background. Whether
dlib's HOG detector finds these faces is tested (tests/synth/test_render.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from merkit.synth.identity import Identity

__all__ = ["FaceImage", "render_face", "place_face", "CANVAS_IOD", "ORIGIN_IOD"]

#: Canvas size in IOD units (width, height) and the eye midpoint's position on it.
CANVAS_IOD: tuple[float, float] = (4.6, 5.6)
ORIGIN_IOD: tuple[float, float] = (2.3, 2.5)


@dataclass(frozen=True)
class FaceImage:
    """A rendered, upright face on its own canvas.

    Attributes:
        image: (H, W, 3) float32 RGB in [0, 1].
        alpha: (H, W) float32 coverage in [0, 1] (0 = background shows through).
        landmarks: (68, 2) float64 pixel coordinates (x, y) on the canvas.
        iod_px: inter-ocular distance in pixels.
        origin_px: (x, y) canvas position of the identity shape's origin (the eye midpoint of the
            mean face), pixels.
    """

    image: np.ndarray
    alpha: np.ndarray
    landmarks: np.ndarray
    iod_px: float
    origin_px: tuple[float, float]


def _pts(points: np.ndarray, s: float) -> np.ndarray:
    # OpenCV drawing with 4 fractional bits: sub-pixel accurate polygons.
    return np.round(points * s * 16).astype(np.int32).reshape(-1, 1, 2)


def _fill(canvas: np.ndarray, points: np.ndarray, colour, s: float = 1.0) -> None:
    cv2.fillPoly(canvas, [_pts(points, s)], colour, lineType=cv2.LINE_AA, shift=4)


def _line(canvas: np.ndarray, points: np.ndarray, colour, thickness: int, closed: bool = False) -> None:
    cv2.polylines(canvas, [_pts(points, 1.0)], closed, colour, max(1, thickness), lineType=cv2.LINE_AA, shift=4)


def _ellipse(canvas, centre, axes, colour, angle: float = 0.0, thickness: int = -1) -> None:
    c = (int(round(centre[0] * 16)), int(round(centre[1] * 16)))
    a = (max(1, int(round(axes[0] * 16))), max(1, int(round(axes[1] * 16))))
    cv2.ellipse(canvas, c, a, angle, 0, 360, colour, thickness, lineType=cv2.LINE_AA, shift=4)


def _mask(shape_hw: tuple[int, int], draw) -> np.ndarray:
    m = np.zeros(shape_hw, np.float32)
    draw(m)
    return m


def _box(mask: np.ndarray) -> tuple[slice, slice]:
    x, y, w, h = cv2.boundingRect((mask > 0).astype(np.uint8))
    return slice(y, y + h), slice(x, x + w)


def _blend(img: np.ndarray, mask: np.ndarray, colour) -> None:
    # Only the mask's bounding box changes; working on it keeps rendering fast on big canvases.
    ys, xs = _box(mask)
    roi = img[ys, xs]
    roi += mask[ys, xs, None] * (np.asarray(colour, np.float32) - roi)


def _shade(img: np.ndarray, mask: np.ndarray, strength: float) -> None:
    """Multiply ``img`` by ``1 + strength * mask`` (negative strength darkens)."""
    ys, xs = _box(mask)
    img[ys, xs] *= (1 + strength * mask[ys, xs])[..., None]


def render_face(identity: Identity, iod_px: float, *, supersample: int = 2) -> FaceImage:
    """Draw ``identity`` upright with an inter-ocular distance of ``iod_px`` pixels.

    Args:
        identity: the subject to draw.
        iod_px: inter-ocular distance (between eye centres) in output pixels; a
            face's jaw width is about 2.1 IOD.
        supersample: drawing resolution factor before area reduction.

    Returns:
        :class:`FaceImage` with canvas size ``CANVAS_IOD * iod_px`` (rounded).
    """
    s = float(iod_px) * supersample
    w = int(round(CANVAS_IOD[0] * iod_px)) * supersample
    h = int(round(CANVAS_IOD[1] * iod_px)) * supersample
    origin = np.array(ORIGIN_IOD)
    lm = (identity.shape + origin) * s  # supersampled pixel coordinates
    rng = np.random.default_rng(identity.texture_seed)
    skin = np.asarray(identity.skin_rgb, np.float32)
    hair = np.asarray(identity.hair_rgb, np.float32)
    img = np.zeros((h, w, 3), np.float32)
    hw = (h, w)

    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    brow_y = lm[17:27, 1].min()
    top = brow_y - identity.hairline * s
    jaw_half = (lm[16, 0] - lm[0, 0]) / 2
    cx = (lm[0, 0] + lm[16, 0]) / 2
    # Head: hair mass (or a bald scalp) behind the face.
    head_c = (cx, (top + lm[8, 1]) / 2 - 0.25 * s)
    head_ax = (jaw_half + identity.hair_volume * s, (lm[8, 1] - top) / 2 + (0.25 + identity.hair_volume) * s)
    head = _mask(hw, lambda m: _ellipse(m, head_c, head_ax, 1.0))
    neck = _mask(hw, lambda m: _fill(m, np.array([
        [cx - 0.55 * s, lm[5, 1]], [cx + 0.55 * s, lm[11, 1]], [cx + 0.6 * s, h], [cx - 0.6 * s, h]]), 1.0))
    shoulders = _mask(hw, lambda m: _ellipse(m, (cx, h + 0.6 * s), (2.1 * s, 1.5 * s), 1.0))
    ears = _mask(hw, lambda m: (
        _ellipse(m, (lm[1, 0] + 0.02 * s, lm[1, 1] - 0.05 * s), (0.14 * s, 0.3 * s), 1.0),
        _ellipse(m, (lm[15, 0] - 0.02 * s, lm[15, 1] - 0.05 * s), (0.14 * s, 0.3 * s), 1.0)))
    # Face: jaw polyline closed by a forehead arc up to the hairline.
    arc_t = np.linspace(0, np.pi, 25)
    fore_top = top + 0.1 * s
    arc = np.stack([cx + jaw_half * 0.98 * np.cos(arc_t), lm[0, 1] - (lm[0, 1] - fore_top) * np.sin(arc_t)], 1)
    face_poly = np.concatenate([lm[0:17], arc])
    face = _mask(hw, lambda m: _fill(m, face_poly, 1.0))

    cloth = np.asarray(rng.uniform(0.1, 0.8, 3), np.float32)
    _blend(img, shoulders, cloth)
    _blend(img, head, skin * 0.85 if identity.bald else hair)
    _blend(img, neck, skin * 0.8)
    _blend(img, ears, skin * 0.9)
    _blend(img, face, skin)
    alpha = np.clip(np.maximum.reduce([head, neck, shoulders, ears, face]), 0, 1)

    # Shading: darker towards the face outline, a side light, and cheek/under-brow shadows.
    dist = cv2.distanceTransform((face > 0.5).astype(np.uint8), cv2.DIST_L2, 5) / s
    shade = 0.72 + 0.28 * np.clip(dist / 0.45, 0, 1)
    xs = (np.arange(w, dtype=np.float32) - cx) / (jaw_half + 1e-6)
    shade = shade * (1.0 + 0.12 * identity.light_side * np.clip(xs, -1.2, 1.2))[None, :]
    skin_region = np.clip(face + neck + ears, 0, 1)
    img *= (1 + skin_region * (shade - 1))[..., None]
    # Skin texture: smooth blotches and fine pores, multiplicative, fixed per subject.
    low = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.25 * s)
    low /= low.std() + 1e-6
    fine = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.012 * s)
    fine /= fine.std() + 1e-6
    img *= (1 + skin_region * (0.05 * low + 0.025 * fine))[..., None]
    # Hair strands: directional texture on the hair mass.
    if not identity.bald:
        strands = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), sigmaX=0.01 * s,
                                   sigmaY=0.08 * s)
        strands /= strands.std() + 1e-6
        hair_only = np.clip(head - face - neck - ears, 0, 1)
        img *= (1 + hair_only * 0.12 * strands)[..., None]

    # Eye sockets: a soft shadow between brow and eye, and under the eye.
    for eye in (eye_l, eye_r):
        sock = _mask(hw, lambda m, e=eye: _ellipse(m, (e[0], e[1] - 0.06 * s), (0.32 * s, 0.2 * s), 1.0))
        sock = cv2.GaussianBlur(sock, (0, 0), 0.08 * s)
        _shade(img, sock, -0.22)
    # Nose: shadows along both sides of the bridge, a lit ridge, a dark base.
    for side in (-1, 1):
        side_line = np.stack([lm[27:31, 0] + side * 0.12 * s, lm[27:31, 1]], 1)
        side_line = np.concatenate([side_line, [[lm[30, 0] + side * 0.2 * s, lm[31, 1]]]])
        sh = _mask(hw, lambda m, line=side_line: _line(m, line, 1.0, int(0.08 * s)))
        _shade(img, cv2.GaussianBlur(sh, (0, 0), 0.05 * s), -0.25)
    ridge = _mask(hw, lambda m: _line(m, lm[27:31], 1.0, int(0.06 * s)))
    _shade(img, cv2.GaussianBlur(ridge, (0, 0), 0.04 * s), 0.12)
    base = _mask(hw, lambda m: _line(m, lm[31:36], 1.0, int(0.06 * s)))
    _shade(img, cv2.GaussianBlur(base, (0, 0), 0.03 * s), -0.3)
    for n in (lm[32], lm[34]):
        nos = _mask(hw, lambda m, c=n: _ellipse(m, (c[0], c[1] - 0.01 * s), (0.05 * s, 0.03 * s), 1.0))
        _blend(img, nos * 0.8, skin * 0.25)

    # Brows: tapered bands below the brow landmarks.
    t = identity.brow_thickness * s
    for idx, outer_first in ((slice(17, 22), True), (slice(22, 27), False)):
        upper = lm[idx]
        taper = np.linspace(0.5, 1.0, 5) if outer_first else np.linspace(1.0, 0.5, 5)
        lower = upper + np.stack([np.zeros(5), taper * t], 1)
        brow = _mask(hw, lambda m, u=upper, lo=lower: _fill(m, np.concatenate([u, lo[::-1]]), 1.0))
        brow = cv2.GaussianBlur(brow, (0, 0), 0.015 * s)
        _blend(img, brow * 0.9, hair * 0.8)

    # Eyes: sclera, iris, pupil, a dark upper lid line and a lighter lower lid.
    for idx in (slice(36, 42), slice(42, 48)):
        pts = lm[idx]
        sclera = _mask(hw, lambda m, p=pts: _fill(m, p, 1.0))
        _blend(img, sclera, np.array([0.86, 0.84, 0.82], np.float32))
        c = pts.mean(0)
        r = 0.12 * s
        iris = _mask(hw, lambda m: _ellipse(m, c, (r, r), 1.0)) * sclera
        _blend(img, iris, np.asarray(identity.iris_rgb, np.float32))
        pupil = _mask(hw, lambda m: _ellipse(m, c, (0.45 * r, 0.45 * r), 1.0)) * sclera
        _blend(img, pupil, np.zeros(3, np.float32))
        glint = _mask(hw, lambda m: _ellipse(m, (c[0] + 0.3 * r, c[1] - 0.3 * r), (0.15 * r, 0.15 * r), 1.0))
        _blend(img, glint * sclera, np.ones(3, np.float32))
        upper_lid = _mask(hw, lambda m, p=pts: _line(m, p[[0, 1, 2, 3]], 1.0, int(0.045 * s)))
        _blend(img, upper_lid, np.array([0.05, 0.04, 0.04], np.float32))
        lower_lid = _mask(hw, lambda m, p=pts: _line(m, p[[3, 4, 5, 0]], 1.0, int(0.015 * s)))
        _blend(img, lower_lid * 0.6, skin * 0.5)
        crease = _mask(hw, lambda m, p=pts: _line(m, p[[0, 1, 2, 3]] - [0, 0.07 * s], 1.0, int(0.015 * s)))
        _shade(img, crease, -0.2)

    # Lips and the mouth slit.
    lips = _mask(hw, lambda m: _fill(m, lm[48:60], 1.0))
    _blend(img, lips, np.asarray(identity.lip_rgb, np.float32))
    slit = _mask(hw, lambda m: _line(m, np.concatenate([lm[[48]], lm[60:65], lm[[54]]]), 1.0, int(0.03 * s)))
    _blend(img, slit * 0.85, np.asarray(identity.lip_rgb, np.float32) * 0.3)
    chin = _mask(hw, lambda m: _ellipse(m, (lm[57, 0], lm[57, 1] + 0.15 * s), (0.25 * s, 0.06 * s), 1.0))
    _shade(img, cv2.GaussianBlur(chin, (0, 0), 0.05 * s), -0.12)

    if identity.glasses:
        g = np.asarray(identity.glasses_rgb, np.float32)
        rims = np.zeros(hw, np.float32)
        for e in (eye_l, eye_r):
            if identity.glasses_round:
                _ellipse(rims, (e[0], e[1] + 0.02 * s), (0.27 * s, 0.22 * s), 1.0, thickness=int(0.04 * s))
            else:
                box = np.array([[-0.3, -0.18], [0.3, -0.18], [0.28, 0.2], [-0.28, 0.2]]) * s + e
                _line(rims, box, 1.0, int(0.04 * s), closed=True)
        bridge = np.array([[eye_l[0] + 0.26 * s, eye_l[1] - 0.05 * s], [eye_r[0] - 0.26 * s, eye_r[1] - 0.05 * s]])
        _line(rims, bridge, 1.0, int(0.035 * s))
        for e, side in ((eye_l, -1), (eye_r, 1)):
            _line(rims, np.array([[e[0] + side * 0.28 * s, e[1] - 0.05 * s],
                                  [e[0] + side * 0.55 * s, e[1] - 0.02 * s]]), 1.0, int(0.03 * s))
        _blend(img, np.clip(rims, 0, 1), g)

    img = np.clip(img, 0, 1)
    out_w, out_h = w // supersample, h // supersample
    img = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (out_w, out_h), interpolation=cv2.INTER_AREA)
    # A supersampled pixel centre i lands at (i + 0.5) / k - 0.5 after k-fold area reduction.
    shift = 0.5 / supersample - 0.5
    landmarks = (identity.shape + origin) * float(iod_px) + shift
    origin_px = (float(origin[0] * iod_px + shift), float(origin[1] * iod_px + shift))
    return FaceImage(image=img, alpha=alpha, landmarks=landmarks, iod_px=float(iod_px), origin_px=origin_px)


def place_face(
    face: FaceImage,
    background: np.ndarray,
    matrix: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite ``face`` onto ``background`` through a 2x3 similarity ``matrix``.

    Args:
        face: the upright rendered face.
        background: (H, W, 3) float32 RGB in [0, 1], the frame's background.
        matrix: 2x3 float64 affine map from canvas pixels to frame pixels.

    Returns:
        (frame, landmarks): the (H, W, 3) float32 composite and the (68, 2)
        landmarks in frame pixel coordinates.
    """
    h, w = background.shape[:2]
    warped = cv2.warpAffine(face.image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    a = cv2.warpAffine(face.alpha, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    frame = background * (1 - a[..., None]) + warped * a[..., None]
    pts = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    return frame.astype(np.float32), pts
