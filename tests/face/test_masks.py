"""Eye and face masks from landmarks."""

import numpy as np
import pytest

from merkit.errors import ConfigError, ShapeError
from merkit.face import AlignConfig, apply_mask, compute_alignment, detect_face, eye_mask, face_mask, mer_mask


@pytest.fixture(scope="module")
def crop_landmarks(astronaut):
    det = detect_face(astronaut)
    alignment = compute_alignment(det.landmarks, astronaut.shape, AlignConfig(size=128))
    return alignment.points(det.landmarks)


def _at(mask, point):
    x, y = np.round(point).astype(int)
    return bool(mask[y, x])


def test_eye_mask_covers_eyes_only(crop_landmarks):
    lm = crop_landmarks
    eyes = eye_mask(lm, (128, 128))
    assert eyes.dtype == bool and eyes.shape == (128, 128)
    assert _at(eyes, lm[36:42].mean(0)) and _at(eyes, lm[42:48].mean(0))
    assert all(_at(eyes, p) for p in lm[36:48])  # every eye point, corners included
    assert not _at(eyes, lm[30]) and not _at(eyes, lm[62]) and not _at(eyes, lm[8])  # nose tip, mouth, chin
    # the margin grows the region monotonically
    assert eye_mask(lm, (128, 128), margin=0.5).sum() > eyes.sum() > eye_mask(lm, (128, 128), margin=0).sum() > 0


def test_face_mask_and_mer_mask(crop_landmarks):
    lm = crop_landmarks
    face = face_mask(lm, (128, 128), forehead=0)
    assert all(_at(face, p) for p in lm[[30, 33, 51, 57, 27]])
    assert not face[0, 0] and not face[0, 127] and not face[127, 0]
    with_forehead = face_mask(lm, (128, 128), forehead=0.3)
    assert with_forehead.sum() > face.sum()
    above_brows = lm[17:27].mean(0) - [0, 6]
    assert _at(with_forehead, above_brows) and not _at(face, above_brows)
    keep = mer_mask(lm, (128, 128))
    assert not _at(keep, lm[36:42].mean(0)) and _at(keep, lm[30])
    with pytest.raises(ShapeError, match=r"\(68, 2\)"):
        eye_mask(lm[:10], (128, 128))
    with pytest.raises(ConfigError, match="margin"):
        eye_mask(lm, (128, 128), margin=-1)


def test_apply_mask_layouts():
    keep = np.zeros((4, 5), bool)
    keep[1:3, 1:4] = True
    for shape in [(4, 5), (4, 5, 3), (2, 4, 5), (2, 4, 5, 3)]:
        images = np.full(shape, 9, np.uint8)
        out = apply_mask(images, keep, fill=0)
        assert out.shape == shape and out.dtype == np.uint8
        assert out.sum() == 9 * keep.sum() * (np.prod(shape) // 20)
    assert apply_mask(np.full((4, 5), 9, np.uint8), keep)[0, 0] == 0
    with pytest.raises(ShapeError, match="does not match"):
        apply_mask(np.zeros((3, 3)), keep)
