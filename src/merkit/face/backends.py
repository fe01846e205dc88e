"""Face detection and 68-point landmark backends behind one small interface.

A backend finds face boxes in an image and places the 68 iBUG-300W landmarks
(the dlib / Multi-PIE layout: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
mouth 48-67) inside a box. Everything downstream (alignment, masks, crops)
only sees numpy arrays, so another detector can be plugged in by registering
a class that follows :class:`LandmarkBackend`.

The shipped backend, ``"dlib"``, is what papers 002/003 and MOL use: dlib's
HOG + linear SVM frontal face detector and the ERT 68-point shape predictor
from ``face-recognition-models`` (weights inside the installed package, so
nothing is downloaded; see ``docs/face.md`` for why the
package is located with ``importlib`` instead of being imported).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from merkit._options import unknown_name
from merkit.errors import ConfigError, DatasetNotFoundError, ShapeError

__all__ = [
    "FaceBox",
    "LandmarkBackend",
    "DlibBackend",
    "register_backend",
    "create_backend",
    "list_backends",
    "face_models_dir",
    "N_LANDMARKS",
]

log = logging.getLogger(__name__)

#: Number of landmarks every backend returns (iBUG 300-W layout).
N_LANDMARKS = 68


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned face box in image pixels (``right``/``bottom`` exclusive, as dlib).

    Attributes:
        left, top, right, bottom: box edges in pixels.
        score: detector confidence (backend specific; larger is more confident).
    """

    left: float
    top: float
    right: float
    bottom: float
    score: float = 0.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def as_tuple(self) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)``."""
        return (self.left, self.top, self.right, self.bottom)


@runtime_checkable
class LandmarkBackend(Protocol):
    """What a face backend provides.

    Attributes:
        name: registered name of the backend.
    """

    name: str

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Find faces.

        Args:
            image: ``(H, W)`` gray or ``(H, W, 3)`` RGB uint8.

        Returns:
            Face boxes in image pixels, in any order (possibly empty).
        """
        ...

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """Place the 68 landmarks of the face in ``box``.

        Returns:
            ``(68, 2)`` float32 ``(x, y)`` in image pixels.
        """
        ...

    def settings(self) -> dict:
        """Everything that changes this backend's output (enters cache keys)."""
        ...


_BACKENDS: dict[str, Callable[..., LandmarkBackend]] = {}


def register_backend(name: str) -> Callable[[Callable[..., LandmarkBackend]], Callable[..., LandmarkBackend]]:
    """Class decorator that registers a backend factory under ``name``.

    Raises:
        ConfigError: ``name`` is already registered.
    """

    def decorator(factory: Callable[..., LandmarkBackend]) -> Callable[..., LandmarkBackend]:
        if name in _BACKENDS:
            raise ConfigError(f"face backend {name!r} is already registered; pick another name.")
        _BACKENDS[name] = factory
        return factory

    return decorator


def list_backends() -> list[str]:
    """Names of the registered face backends, sorted."""
    return sorted(_BACKENDS)


def create_backend(name: str | LandmarkBackend = "dlib", **options) -> LandmarkBackend:
    """Build a backend by name (an existing backend instance is returned unchanged).

    Raises:
        UnknownNameError: no backend of that name; the message lists close matches.
    """
    if not isinstance(name, str):
        return name
    if name not in _BACKENDS:
        raise unknown_name("face backend", name, _BACKENDS, hint="See merkit.face.list_backends().")
    return _BACKENDS[name](**options)


def face_models_dir() -> Path:
    """Folder of the dlib model files shipped by ``face-recognition-models``.

    The package is located without importing it: its ``__init__`` imports
    ``pkg_resources``, which setuptools >= 82 no longer provides.

    Raises:
        DatasetNotFoundError: the package is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "the dlib landmark models are missing: package 'face-recognition-models' is not installed; "
            "run `pip install face-recognition-models`."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _as_dlib_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ShapeError(
            f"face backends need an (H, W) or (H, W, 3) uint8 image; got shape {image.shape} dtype {image.dtype}."
        )
    return np.ascontiguousarray(image)


# dlib models are large (the 68-point predictor is 100 MB, 0.5 s to load): load once per process
_DLIB_MODELS: dict[str, object] = {}


@register_backend("dlib")
class DlibBackend:
    """dlib HOG face detector + 68-point ERT shape predictor (CPU, offline).

    Args:
        upsample: image pyramid up-sampling levels tried in order until a face
            is found. dlib's HOG detector finds faces of about 80 px and larger
            at level 0; each level doubles the image (finds ~40 px faces, 4x
            slower). ``(0, 1)`` keeps large faces fast and still finds small ones.
        threshold: detector score threshold adjustment (dlib's
            ``adjust_threshold``; negative finds more, less certain faces).
        predictor_path: a different 68-point ``shape_predictor`` ``.dat`` file.

    Example:
        >>> backend = DlibBackend()  # doctest: +SKIP
        >>> boxes = backend.detect(image); backend.landmarks(image, boxes[0]).shape  # doctest: +SKIP
        (68, 2)
    """

    name = "dlib"

    def __init__(
        self,
        upsample: int | Sequence[int] = (0, 1),
        threshold: float = 0.0,
        predictor_path: str | os.PathLike | None = None,
    ) -> None:
        levels = (upsample,) if isinstance(upsample, int) else tuple(upsample)
        if not levels or any((not isinstance(u, (int, np.integer))) or u < 0 or u > 3 for u in levels):
            raise ConfigError(f"upsample must be an int or a sequence of ints in [0, 3]; got {upsample!r}.")
        self.upsample = tuple(int(u) for u in levels)
        self.threshold = float(threshold)
        self.predictor_path = Path(predictor_path) if predictor_path else face_models_dir() / (
            "shape_predictor_68_face_landmarks.dat"
        )
        if not self.predictor_path.is_file():
            raise DatasetNotFoundError(
                f"dlib 68-point shape predictor not found at {str(self.predictor_path)!r}; "
                f"reinstall 'face-recognition-models' or pass predictor_path=."
            )

    def settings(self) -> dict:
        return {
            "backend": self.name,
            "upsample": list(self.upsample),
            "threshold": self.threshold,
            "predictor": self.predictor_path.name,
        }

    def _detector(self):
        import dlib  # deferred: dlib loads only when the dlib backend runs

        if "hog" not in _DLIB_MODELS:
            _DLIB_MODELS["hog"] = dlib.get_frontal_face_detector()
        return _DLIB_MODELS["hog"]

    def _predictor(self):
        import dlib  # deferred: dlib loads only when the dlib backend runs

        key = f"sp:{self.predictor_path}"
        if key not in _DLIB_MODELS:
            log.debug("loading dlib shape predictor %s", self.predictor_path)
            _DLIB_MODELS[key] = dlib.shape_predictor(str(self.predictor_path))
        return _DLIB_MODELS[key]

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        image = _as_dlib_image(image)
        detector = self._detector()
        for level in self.upsample:
            rects, scores, _ = detector.run(image, level, self.threshold)
            if len(rects):
                # dlib rectangles are inclusive; FaceBox edges are exclusive
                return [
                    FaceBox(float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1), float(s))
                    for r, s in zip(rects, scores)
                ]
        return []

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        import dlib  # deferred: dlib loads only when the dlib backend runs

        image = _as_dlib_image(image)
        rect = dlib.rectangle(
            int(round(box.left)), int(round(box.top)), int(round(box.right)) - 1, int(round(box.bottom)) - 1
        )
        shape = self._predictor()(image, rect)
        if shape.num_parts != N_LANDMARKS:
            raise ShapeError(
                f"shape predictor {self.predictor_path.name!r} returned {shape.num_parts} points; expected "
                f"{N_LANDMARKS} (pass a 68-point model)."
            )
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
