"""Real face photos shipped inside installed packages (no downloads, no committed binaries)."""

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """skimage's astronaut portrait (Eileen Collins, public domain), 512x512 RGB."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """matplotlib's Grace Hopper portrait (public domain), 600x512 RGB."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session", params=["astronaut", "grace_hopper"])
def face_photo(request) -> np.ndarray:
    return request.getfixturevalue(request.param)


def rotate_translate(image: np.ndarray, degrees: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Rotate ``image`` about its centre and shift it; return the image and the 2x3 map used."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    matrix[:, 2] += shift
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), matrix
