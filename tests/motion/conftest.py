"""Shared fixtures for the motion tests: a real photo (skimage astronaut) as a face-sized texture."""

import cv2
import numpy as np
import pytest
from skimage import data


@pytest.fixture(scope="session")
def photo_gray() -> np.ndarray:
    """128x128 uint8 grayscale crop of the astronaut's face region."""
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    return cv2.resize(img[0:300, 100:400], (128, 128), interpolation=cv2.INTER_AREA)
