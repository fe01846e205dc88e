"""Face alignment: one 2x3 affine map from a frame to a square face crop.

An alignment is computed once from the landmarks of one frame (the onset of
a clip) and the same map is applied to every frame, so the crop itself never
moves between frames: re-aligning each frame would turn landmark jitter into
fake motion, which swamps micro-expressions.

Modes (:class:`AlignConfig` ``mode``):

``"eye_line"`` (papers 002/003)
    Rotate about the eye centre C by the eye-line angle
    gamma = arctan((y_left - y_right) / (x_left - x_right)) so the eyes are
    level, then crop the square around the bounding box of the rotated 68
    landmarks, enlarged by ``margin`` of its side on every side. The papers
    crop the detector box; the landmark box is used here because it is the same
    for every backend (named choice, see ``docs/face.md``).
``"similarity"``
    Least-squares similarity transform of landmarks 17-67 onto dlib's mean
    face template (``dlib.get_face_chip_details``, the template dlib's face
    recognition uses), with ``padding`` of the template size around it.
``"mol"`` (MOL, seed 001; follows ``CYF-cuber/MOL utils/align_face.py``)
    Rotate by the eye-centre line, then crop the square around the eye
    centres, nose tip (30) and mouth corners (48, 54), enlarged ``box_enlarge``
    times (2.5 in MOL), mapped onto ``size - 1`` pixels exactly as the code does.
``"none"``
    Already-cropped data: the whole frame is resized to ``size`` x ``size``.

Pixel convention: integer coordinates are pixel centres (OpenCV's); the map
sends a source point ``p`` to ``matrix[:, :2] @ p + matrix[:, 2]`` in the crop.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from merkit.errors import ConfigError, ShapeError
from merkit.face.backends import N_LANDMARKS
from merkit.face.detect import eye_centres

__all__ = ["ALIGN_MODES", "AlignConfig", "Alignment", "compute_alignment", "eye_line_angle", "transform_points"]

#: Alignment modes, see the module docstring.
ALIGN_MODES: tuple[str, ...] = ("eye_line", "mol", "none", "similarity")
_INTERPOLATIONS = ("area", "cubic", "linear")
_BORDERS = ("constant", "replicate")
_LANDMARK_MODES = ("every_frame", "reference", "skip")
_CROP_BOXES = ("extent", "moments")
#: Side of the 68-landmark box over the landmarks' RMS radius on frontal faces (2.65 on
#: skimage's astronaut, 2.70 on matplotlib's grace_hopper); converts the "moments" box to the
#: size of the "extent" box.
EXTENT_PER_RMS = 2.7


@dataclass(frozen=True)
class AlignConfig:
    """How faces are aligned and cropped (every field enters the cache key).

    Attributes:
        mode: ``"eye_line"``, ``"similarity"``, ``"mol"`` or ``"none"`` (see module docstring).
        size: side of the square output in pixels (28, 112, 128, 144, 224, 256, ...).
        color: ``"gray"`` (papers 002/003, MOL) or ``"rgb"``.
        margin: ``eye_line`` only: extra border around the landmark box, as a
            fraction of the box side on each side.
        crop_box: ``eye_line`` only: how the landmark box is measured after
            rotation. ``"moments"`` (default): centred on the landmarks'
            centroid, side ``EXTENT_PER_RMS`` x their RMS radius; stable to
            well under a pixel. ``"extent"``: the min/max box of the 68 points,
            closer to a detector crop but it moves with the outermost points.
        padding: ``similarity`` only: dlib's chip padding (0.25 = dlib's face recognition chips).
        box_enlarge: ``mol`` only: enlargement of the 5-point box (2.5 in MOL).
        interpolation: ``"area"`` (area averaging when shrinking, bilinear when
            enlarging; avoids aliasing at 28 px), ``"linear"`` or ``"cubic"``.
        border: fill outside the frame: ``"constant"`` (``border_value``) or ``"replicate"``.
        border_value: gray level of a constant border (MOL uses 128).
        landmarks: ``"reference"`` places landmarks on the reference (onset)
            frame only; ``"every_frame"`` also runs the landmark predictor on
            every frame inside the reference face box (MOL's per-frame
            targets); ``"skip"`` detects nothing (only with ``mode="none"``).
    """

    mode: str = "eye_line"
    size: int = 224
    color: str = "gray"
    margin: float = 0.1
    crop_box: str = "moments"
    padding: float = 0.25
    box_enlarge: float = 2.5
    interpolation: str = "area"
    border: str = "constant"
    border_value: int = 0
    landmarks: str = "reference"

    def __post_init__(self) -> None:
        _choice("mode", self.mode, ALIGN_MODES)
        _choice("color", self.color, ("gray", "rgb"))
        _choice("interpolation", self.interpolation, _INTERPOLATIONS)
        _choice("border", self.border, _BORDERS)
        _choice("landmarks", self.landmarks, _LANDMARK_MODES)
        _choice("crop_box", self.crop_box, _CROP_BOXES)
        if not isinstance(self.size, (int, np.integer)) or not 8 <= self.size <= 4096:
            raise ConfigError(f"size must be an int in [8, 4096] pixels; got {self.size!r}.")
        if not 0 <= self.border_value <= 255:
            raise ConfigError(f"border_value must be a gray level in [0, 255]; got {self.border_value!r}.")
        if not -0.4 < self.margin <= 2:
            raise ConfigError(f"margin must be in (-0.4, 2]; got {self.margin!r}.")
        if not 0 <= self.padding <= 2:
            raise ConfigError(f"padding must be in [0, 2]; got {self.padding!r}.")
        if not 0.5 <= self.box_enlarge <= 10:
            raise ConfigError(f"box_enlarge must be in [0.5, 10]; got {self.box_enlarge!r}.")
        if self.landmarks == "skip" and self.mode != "none":
            raise ConfigError(
                f"landmarks='skip' only works with mode='none'; mode={self.mode!r} needs landmarks to align."
            )

    def to_dict(self) -> dict:
        """Plain settings dict (cache keys, run records)."""
        return asdict(self)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {sorted(choices)!r}; got {value!r}.")


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine map to points.

    Args:
        points: ``(..., 2)`` ``(x, y)``.
        matrix: ``(2, 3)``.

    Returns:
        ``(..., 2)`` float32.
    """
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return (pts @ m[:, :2].T + m[:, 2]).astype(np.float32)


def eye_line_angle(landmarks: np.ndarray) -> float:
    """Angle of the line from the right-eye centre to the left-eye centre, in degrees.

    Positive when the subject's left eye (image right) is lower in the image
    (y grows downwards). Level eyes give 0.
    """
    right, left = eye_centres(landmarks)
    return math.degrees(math.atan2(left[1] - right[1], left[0] - right[0]))


@dataclass(frozen=True)
class Alignment:
    """An affine map from frame pixels to a square crop.

    Attributes:
        matrix: ``(2, 3)`` float64 map, frame -> crop pixels.
        size: crop side in pixels.
        source_shape: ``(H, W)`` of the frame it was computed on.
        config: the settings used.
    """

    matrix: np.ndarray
    size: int
    source_shape: tuple[int, int]
    config: AlignConfig

    @property
    def inverse(self) -> np.ndarray:
        """``(2, 3)`` map from crop pixels back to frame pixels."""
        import cv2  # deferred: cv2 adds ~90 ms to importing merkit.face

        return cv2.invertAffineTransform(self.matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel."""
        return float(math.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def points(self, points: np.ndarray) -> np.ndarray:
        """Frame points ``(..., 2)`` -> crop points ``(..., 2)`` float32."""
        return transform_points(points, self.matrix)

    def inverse_points(self, points: np.ndarray) -> np.ndarray:
        """Crop points ``(..., 2)`` -> frame points ``(..., 2)`` float32."""
        return transform_points(points, self.inverse)

    def crop_corners(self) -> np.ndarray:
        """Corners of the crop in frame pixels, ``(4, 2)``: top-left, top-right, bottom-right, bottom-left."""
        s = self.size - 0.5
        corners = np.array([[-0.5, -0.5], [s, -0.5], [s, s], [-0.5, s]])
        return transform_points(corners, self.inverse)

    def warp(self, image: np.ndarray) -> np.ndarray:
        """Crop one frame.

        Args:
            image: ``(H, W)`` or ``(H, W, 3)`` uint8 frame of ``source_shape``.

        Returns:
            ``(size, size)`` or ``(size, size, 3)`` uint8, same channels as ``image``.

        Raises:
            ShapeError: the frame size differs from the reference frame's.
        """
        import cv2  # deferred: cv2 adds ~90 ms to importing merkit.face

        if tuple(image.shape[:2]) != tuple(self.source_shape):
            raise ShapeError(
                f"frame of shape {tuple(image.shape[:2])} does not match the reference frame "
                f"{tuple(self.source_shape)} the alignment was computed on; all frames of a clip must share one size."
            )
        cfg = self.config
        border = cv2.BORDER_CONSTANT if cfg.border == "constant" else cv2.BORDER_REPLICATE
        value = (cfg.border_value,) * (3 if image.ndim == 3 else 1)
        size = self.size
        if cfg.mode == "none" and cfg.interpolation == "area":
            # a pure (possibly anisotropic) resize: cv2.resize matches the matrix exactly
            return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        if cfg.interpolation == "area" and self.scale < 1.0:
            # Warp at native resolution, then area-average down: a direct bilinear warp from
            # 300 px to 28 px samples 1 pixel in 10 and aliases.
            native = max(size, int(round(size / self.scale)))
            k = native / size
            m = self.matrix * k
            m[:, 2] += 0.5 * k - 0.5
            big = cv2.warpAffine(image, m, (native, native), flags=cv2.INTER_LINEAR, borderMode=border,
                                 borderValue=value)
            return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
        flags = cv2.INTER_CUBIC if cfg.interpolation == "cubic" else cv2.INTER_LINEAR
        return cv2.warpAffine(image, self.matrix, (size, size), flags=flags, borderMode=border, borderValue=value)


def compute_alignment(
    landmarks: np.ndarray | None,
    source_shape: tuple[int, ...],
    config: AlignConfig | None = None,
) -> Alignment:
    """Compute the frame -> crop map for one face.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` frame pixels of the reference frame
            (may be ``None`` for ``mode="none"``).
        source_shape: shape of the reference frame, ``(H, W[, C])``.
        config: alignment settings; defaults to :class:`AlignConfig()`.

    Returns:
        The :class:`Alignment`.

    Raises:
        ShapeError: landmarks are not ``(68, 2)`` finite values, or the eyes coincide.
    """
    config = config or AlignConfig()
    h, w = int(source_shape[0]), int(source_shape[1])
    size = int(config.size)
    if config.mode == "none":
        sx, sy = size / w, size / h
        matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
        return Alignment(matrix, size, (h, w), config)
    pts = _check_landmarks(landmarks)
    if config.mode == "similarity":
        matrix = _similarity_matrix(pts, size, config.padding)
    else:
        right, left = eye_centres(pts)
        delta = left - right
        dist = float(np.hypot(*delta))
        if dist < 1e-6:
            raise ShapeError("the two eye centres coincide; the landmarks are degenerate, cannot align.")
        cos, sin = delta / dist
        # rotation by -gamma about the origin makes the eye line horizontal (MOL's mat1)
        rot = np.array([[cos, sin], [-sin, cos]])
        if config.mode == "eye_line":
            centre = (right + left) / 2.0
            rotated = (pts - centre) @ rot.T + centre
            if config.crop_box == "extent":
                lo, hi = rotated.min(axis=0), rotated.max(axis=0)
                side = float(max(hi - lo)) * (1.0 + 2.0 * config.margin)
                mid = (lo + hi) / 2.0
            else:
                # centroid and RMS radius average all 68 points, so a single jittery jaw or brow
                # point cannot move the crop (the extent box jitters by several pixels)
                mid = rotated.mean(axis=0)
                rms = float(np.sqrt(((rotated - mid) ** 2).sum(axis=1).mean()))
                side = EXTENT_PER_RMS * rms * (1.0 + 2.0 * config.margin)
            scale = size / side
            lin = scale * rot
            offset = scale * (centre - rot @ centre - mid) + (size - 1) / 2.0
        else:  # mol: copied semantics of align_face(img, land, box_enlarge, img_size)
            five = np.stack([right, left, pts[30], pts[48], pts[54]]) @ rot.T
            lo, hi = five.min(axis=0), five.max(axis=0)
            c = (lo + hi) / 2.0
            half = 0.5 * config.box_enlarge * float(max(hi - lo))
            scale = (size - 1) / 2.0 / half
            lin = scale * rot
            offset = scale * (half - c)
        matrix = np.concatenate([lin, offset[:, None]], axis=1)
    return Alignment(np.asarray(matrix, dtype=np.float64), size, (h, w), config)


def _check_landmarks(landmarks: np.ndarray | None) -> np.ndarray:
    if landmarks is None:
        raise ShapeError("alignment needs (68, 2) landmarks; got None (only mode='none' works without them).")
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (N_LANDMARKS, 2):
        raise ShapeError(f"landmarks must have shape ({N_LANDMARKS}, 2) (x, y); got {pts.shape}.")
    if not np.isfinite(pts).all():
        raise ShapeError("landmarks contain NaN or infinite values; cannot align.")
    return pts


def _similarity_matrix(pts: np.ndarray, size: int, padding: float) -> np.ndarray:
    """Frame -> chip map of ``dlib.get_face_chip_details`` (mirrors dlib's ``get_mapping_to_chip``)."""
    import dlib  # deferred: dlib loads only when the dlib backend runs

    left, top = np.floor(pts.min(axis=0)).astype(int)
    right, bottom = np.ceil(pts.max(axis=0)).astype(int)
    # dlib points are integers; rounding costs at most 0.5 px, far below dlib's landmark error
    parts = dlib.points([dlib.point(int(round(x)), int(round(y))) for x, y in pts])
    det = dlib.full_object_detection(dlib.rectangle(int(left), int(top), int(right), int(bottom)), parts)
    chip = dlib.get_face_chip_details(det, size=size, padding=padding)
    rect = chip.rect
    centre = np.array([(rect.left() + rect.right()) / 2.0, (rect.top() + rect.bottom()) / 2.0])
    cos, sin = math.cos(chip.angle), math.sin(chip.angle)
    rot = np.array([[cos, -sin], [sin, cos]])
    tl = rot @ (np.array([rect.left(), rect.top()]) - centre) + centre
    tr = rot @ (np.array([rect.right(), rect.top()]) - centre) + centre
    # similarity taking tl -> (0, 0) and tr -> (cols - 1, 0)
    edge = tr - tl
    scale = (chip.cols - 1) / float(np.hypot(*edge))
    c, s = edge / np.hypot(*edge)
    lin = scale * np.array([[c, s], [-s, c]])
    offset = -lin @ tl
    return np.concatenate([lin, offset[:, None]], axis=1)
