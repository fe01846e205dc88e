"""The 68-point (iBUG 300-W / dlib) landmark layout used by the synthetic faces.

``MEAN_SHAPE_68`` was measured once with dlib's ``shape_predictor_68_face_landmarks``
on ``skimage.data.astronaut()`` (a public-domain NASA photo), made left/right
symmetric and normalised: origin at the midpoint of the two eye centres, x to
the subject's left in the image (image right), y downwards, unit = inter-ocular
distance (IOD, distance between the eye centres). The mouth was closed by hand
(the photo smiles), so the neutral face has lips together.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEAN_SHAPE_68", "MIRROR_68", "REGIONS_68"]

_RAW = [
    (-1.072, 0.072), (-1.037, 0.348), (-1.003, 0.602), (-0.957, 0.879), (-0.865, 1.134),
    (-0.715, 1.353), (-0.496, 1.537), (-0.265, 1.700), (0.000, 1.735), (0.265, 1.700),
    (0.496, 1.537), (0.715, 1.353), (0.865, 1.134), (0.957, 0.879), (1.003, 0.602),
    (1.037, 0.348), (1.072, 0.072),
    (-0.912, -0.147), (-0.784, -0.297), (-0.601, -0.320), (-0.415, -0.297), (-0.231, -0.239),
    (0.231, -0.239), (0.415, -0.297), (0.601, -0.320), (0.784, -0.297), (0.912, -0.147),
    (0.000, -0.021), (0.000, 0.188), (0.000, 0.371), (0.000, 0.555),
    (-0.231, 0.660), (-0.115, 0.695), (0.000, 0.718), (0.115, 0.695), (0.231, 0.660),
    (-0.693, 0.004), (-0.576, -0.088), (-0.415, -0.088), (-0.289, 0.050), (-0.439, 0.061), (-0.588, 0.062),
    (0.289, 0.050), (0.415, -0.088), (0.576, -0.088), (0.693, 0.004), (0.588, 0.062), (0.439, 0.061),
    # mouth, closed: outer lip 48-59, inner lip 60-67
    (-0.470, 0.900), (-0.300, 0.870), (-0.125, 0.855), (0.000, 0.872), (0.125, 0.855), (0.300, 0.870),
    (0.470, 0.900), (0.310, 0.985), (0.140, 1.030), (0.000, 1.040), (-0.140, 1.030), (-0.310, 0.985),
    (-0.420, 0.902), (-0.125, 0.925), (0.000, 0.930), (0.125, 0.925), (0.420, 0.902),
    (0.125, 0.935), (0.000, 0.940), (-0.125, 0.935),
]

#: (68, 2) float64 neutral face, IOD units, eye midpoint at the origin, y down.
MEAN_SHAPE_68: np.ndarray = np.asarray(_RAW, dtype=np.float64)
MEAN_SHAPE_68.setflags(write=False)

#: Index of each point's mirror image (left <-> right) in the 68-point layout.
MIRROR_68: tuple[int, ...] = tuple(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)

#: Named index groups of the layout ("left"/"right" as seen in the image).
REGIONS_68: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brow_left": tuple(range(17, 22)),
    "brow_right": tuple(range(22, 27)),
    "nose_bridge": tuple(range(27, 31)),
    "nostrils": tuple(range(31, 36)),
    "eye_left": tuple(range(36, 42)),
    "eye_right": tuple(range(42, 48)),
    "lips_outer": tuple(range(48, 60)),
    "lips_inner": tuple(range(60, 68)),
}
