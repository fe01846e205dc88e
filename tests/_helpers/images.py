"""Known image transforms."""

from __future__ import annotations

import numpy as np


def rotate_translate(image: np.ndarray, degrees: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Rotate ``image`` about its centre and shift it; return the image and the 2x3 map used."""
    import cv2

    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    matrix[:, 2] += shift
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), matrix
