"""Real face photos shipped inside installed packages (no downloads, no committed binaries).

``astronaut`` is in tests/conftest.py (the inputs tests use it too).
"""

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """matplotlib's Grace Hopper portrait (public domain), 600x512 RGB."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session", params=["astronaut", "grace_hopper"])
def face_photo(request) -> np.ndarray:
    return request.getfixturevalue(request.param)

