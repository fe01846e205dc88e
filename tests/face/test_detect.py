"""Detection and 68 landmarks on real photos; backend registry; no-face and several-face cases."""

import re

import cv2
import numpy as np
import pytest

from merkit.errors import ConfigError, FaceNotFoundError, ShapeError, UnknownNameError
from merkit.face import LANDMARK_GROUPS, DlibBackend, create_backend, detect_face, list_backends


def _group(landmarks, name):
    a, b = LANDMARK_GROUPS[name]
    return landmarks[a:b]


def test_one_face_and_landmarks_on_the_right_regions(face_photo):
    det = detect_face(face_photo)
    assert det.n_faces == 1
    lm = det.landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    box = det.box
    # 68 points lie inside the detector box (dlib's box cuts the chin and brows a little: 10% slack)
    slack_x, slack_y = 0.1 * box.width, 0.1 * box.height
    assert (lm[:, 0] >= box.left - slack_x).all() and (lm[:, 0] <= box.right + slack_x).all()
    assert (lm[:, 1] >= box.top - slack_y).all() and (lm[:, 1] <= box.bottom + slack_y).all()
    eyes_y = np.concatenate([_group(lm, "right_eye"), _group(lm, "left_eye")])[:, 1].mean()
    nose_tip_y = lm[30, 1]
    mouth_y = _group(lm, "outer_mouth")[:, 1].mean()
    brows_y = np.concatenate([_group(lm, "right_brow"), _group(lm, "left_brow")])[:, 1].mean()
    chin_y = lm[8, 1]
    assert brows_y < eyes_y < nose_tip_y < mouth_y < chin_y
    # the subject's right eye is on the image left, and the nose between the eyes
    right_x, left_x = _group(lm, "right_eye")[:, 0].mean(), _group(lm, "left_eye")[:, 0].mean()
    assert right_x < lm[30, 0] < left_x


def test_no_face_error_names_the_image():
    blank = np.full((240, 320, 3), 127, np.uint8)
    with pytest.raises(FaceNotFoundError, match=re.escape("no face found in frame 3 of 'clip'")):
        detect_face(blank, where="frame 3 of 'clip'")


def test_several_faces_keeps_the_largest(astronaut):
    big = cv2.resize(astronaut, None, fx=1.4, fy=1.4)
    canvas = np.zeros((big.shape[0], astronaut.shape[1] + big.shape[1], 3), np.uint8)
    canvas[: astronaut.shape[0], : astronaut.shape[1]] = astronaut
    canvas[:, astronaut.shape[1]:] = big
    det = detect_face(canvas)
    assert det.n_faces == 2
    assert det.box.left >= astronaut.shape[1]  # the enlarged copy on the right
    assert det.box.width > 100


def test_registry_and_backend_options():
    assert "dlib" in list_backends()
    backend = create_backend("dlib", upsample=1)
    assert isinstance(backend, DlibBackend) and backend.upsample == (1,)
    assert create_backend(backend) is backend
    with pytest.raises(UnknownNameError, match="Did you mean 'dlib'"):
        create_backend("dlb")
    with pytest.raises(ConfigError, match="upsample"):
        DlibBackend(upsample=(0, 7))
    with pytest.raises(ShapeError, match="uint8"):
        backend.detect(np.zeros((10, 10), np.float32))


def test_upsampling_finds_small_faces(astronaut):
    small = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)  # face ~35 px
    assert DlibBackend(upsample=0).detect(small) == []
    assert len(DlibBackend(upsample=(0, 1, 2)).detect(small)) >= 1
