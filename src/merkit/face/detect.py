"""Find the one face of a frame and its 68 landmarks; landmark index groups.

Micro-expression datasets film one participant, so a frame should hold one
face. When the detector returns several (a poster, a reflection, a false
positive on a badge), :func:`detect_face` keeps the *largest* box and records
how many it saw in :attr:`FaceDetection.n_faces`, so batch outputs can say so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from merkit.errors import FaceNotFoundError
from merkit.face.backends import FaceBox, LandmarkBackend, create_backend

__all__ = ["FaceDetection", "detect_face", "LANDMARK_GROUPS", "eye_centres"]

log = logging.getLogger(__name__)

#: iBUG 68-point index ranges (half-open). "right_eye" is the subject's right eye (image left).
LANDMARK_GROUPS: dict[str, tuple[int, int]] = {
    "jaw": (0, 17),
    "right_brow": (17, 22),
    "left_brow": (22, 27),
    "nose_bridge": (27, 31),
    "nose_base": (31, 36),
    "right_eye": (36, 42),
    "left_eye": (42, 48),
    "outer_mouth": (48, 60),
    "inner_mouth": (60, 68),
}


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the six points of each eye.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixels.

    Returns:
        ``(right_eye, left_eye)`` centres, each ``(2,)`` float64: the subject's
        right eye (image left, points 36-41) first.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    r0, r1 = LANDMARK_GROUPS["right_eye"]
    l0, l1 = LANDMARK_GROUPS["left_eye"]
    return pts[r0:r1].mean(axis=0), pts[l0:l1].mean(axis=0)


@dataclass(frozen=True)
class FaceDetection:
    """The face chosen in one frame.

    Attributes:
        box: the face box in frame pixels.
        landmarks: ``(68, 2)`` float32 ``(x, y)`` in frame pixels.
        n_faces: how many faces the detector found (the largest was kept).
    """

    box: FaceBox
    landmarks: np.ndarray
    n_faces: int


def detect_face(
    image: np.ndarray,
    backend: str | LandmarkBackend = "dlib",
    where: str = "image",
) -> FaceDetection:
    """Detect the largest face of ``image`` and place its 68 landmarks.

    Args:
        image: ``(H, W)`` gray or ``(H, W, 3)`` RGB uint8.
        backend: a registered backend name or instance.
        where: what the image is (file and frame), used in messages.

    Returns:
        The largest face, its landmarks, and how many faces were found.

    Raises:
        FaceNotFoundError: no face was detected.
    """
    backend = create_backend(backend)
    boxes = backend.detect(image)
    if not boxes:
        raise FaceNotFoundError(
            f"no face found in {where} (image {tuple(np.shape(image))}) by the {backend.name!r} backend; "
            f"expected one frontal face. For small faces allow more up-sampling (upsample=(0, 1, 2)); "
            f"for already-cropped faces use mode='none' with landmarks='skip'."
        )
    box = max(boxes, key=lambda b: (b.area, b.score))
    if len(boxes) > 1:
        log.warning("%d faces found in %s; using the largest %s", len(boxes), where, box.as_tuple())
    return FaceDetection(box=box, landmarks=backend.landmarks(image, box), n_faces=len(boxes))
