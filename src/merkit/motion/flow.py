"""Dense optical-flow methods behind one interface, and their registry.

Every method maps two images to a float32 displacement field of shape
``(H, W, 2)`` in pixels, channels ordered ``(u, v)``: ``u`` is the horizontal
displacement (positive to the right), ``v`` the vertical one (positive
downwards), such that ``next[y + v, x + u] ~= prev[y, x]``.

Registered methods (all OpenCV, all offline):

* ``tvl1``: Dual TV-L1 (Zach et al. 2007; Sanchez et al., IPOL 2013) via
  ``cv2.optflow.DualTVL1OpticalFlow`` with OpenCV's default parameters,
  which is what the MER reference code uses (MOL ``utils/compute_TVL1.py``,
  MEAN ``feature_extraction.py``, Off-TANet ``data.py``;
  ``docs/motion.md``). This is the reference method.
* ``tvl1_fast``: the same solver with a looser stopping threshold
  (``epsilon`` 0.05 instead of 0.01) and 3 instead of 5 warps per scale;
  every other parameter is OpenCV's default. The solver then stops after
  far fewer iterations: about 10x more pairs per second, for an end-point
  error within ~0.01 px of ``tvl1`` on micro-expression-sized smooth motion
  (1-3 px) at 224x224 (BENCHMARKS.md, "Motion features"). Chosen among
  fewer scales / warps / iterations / larger epsilon on that benchmark.
* ``farneback``: ``cv2.calcOpticalFlowFarneback`` with the parameters of the
  OpenCV tutorial (pyramid scale 0.5, 3 levels, window 15, 3 iterations,
  poly_n 5, poly_sigma 1.2). Paper 000 (MiER-CvT) most likely used Farneback.
* ``dis``: ``cv2.DISOpticalFlow`` (Kroeger et al. 2016), preset ``medium``
  by default (``preset="ultrafast" | "fast" | "medium"``).

Inputs: ``uint8`` images (0..255) or floating images in ``[0, 1]``, either
grayscale ``(H, W)`` or colour ``(H, W, 3)`` in OpenCV's BGR order; colour is
converted to grayscale (``cv2.COLOR_BGR2GRAY``) and floats are scaled to
0..255 and rounded, because every backend works on 8-bit grayscale.

Example:
    >>> import numpy as np
    >>> a = np.zeros((32, 32), np.uint8); a[10:20, 10:20] = 255
    >>> compute_flow(a, a, method="farneback").shape
    (32, 32, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import cv2
import numpy as np

from merkit._options import unknown_name
from merkit.errors import ConfigError, ShapeError

__all__ = [
    "FlowMethod",
    "TVL1Flow",
    "FarnebackFlow",
    "DISFlow",
    "register_flow",
    "create_flow",
    "list_flow_methods",
    "compute_flow",
    "to_gray_uint8",
]

_FLOW_REGISTRY: dict[str, Callable[..., FlowMethod]] = {}


def register_flow(name: str) -> Callable[[Callable[..., FlowMethod]], Callable[..., FlowMethod]]:
    """Register a flow-method factory under ``name`` (lowercase snake_case).

    Raises:
        ConfigError: if ``name`` is already registered or not snake_case.
    """

    def decorator(factory: Callable[..., FlowMethod]) -> Callable[..., FlowMethod]:
        if not name.replace("_", "").isalnum() or name.lower() != name:
            raise ConfigError(f"flow method name {name!r} must be lowercase snake_case.")
        if name in _FLOW_REGISTRY:
            raise ConfigError(f"flow method {name!r} is already registered; names must be unique.")
        _FLOW_REGISTRY[name] = factory
        return factory

    return decorator


def list_flow_methods() -> list[str]:
    """Return the registered flow-method names, sorted."""
    return sorted(_FLOW_REGISTRY)


def create_flow(name: str, **overrides: Any) -> FlowMethod:
    """Build the flow method ``name`` with parameter ``overrides``.

    Raises:
        UnknownNameError: if ``name`` is not registered (lists close matches).
        ConfigError: if an override is not a parameter of that method.
    """
    if name not in _FLOW_REGISTRY:
        raise unknown_name("flow method", name, _FLOW_REGISTRY, "See merkit.motion.list_flow_methods().")
    return _FLOW_REGISTRY[name](**overrides)


def compute_flow(prev: np.ndarray, next: np.ndarray, method: str | FlowMethod = "tvl1", **overrides: Any) -> np.ndarray:
    """Compute dense flow from ``prev`` to ``next``.

    Args:
        prev: first image, ``(H, W)`` or ``(H, W, 3)`` BGR, uint8 or float in [0, 1].
        next: second image, same shape as ``prev``.
        method: registered name or a :class:`FlowMethod` instance.
        **overrides: parameters for :func:`create_flow` (only with a name).

    Returns:
        float32 array ``(H, W, 2)``: ``(u, v)`` displacement in pixels.
    """
    if isinstance(method, FlowMethod):
        if overrides:
            raise ConfigError("pass overrides to create_flow(), not with a FlowMethod instance.")
        return method(prev, next)
    return create_flow(method, **overrides)(prev, next)


def to_gray_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert ``image`` to 8-bit grayscale ``(H, W)``.

    Args:
        image: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (BGR); uint8, or float in [0, 1].
        name: what to call the image in error messages.

    Raises:
        ShapeError: on another shape, dtype, or a float image outside [0, 1].
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 3:
        if arr.dtype != np.uint8:
            arr = _float_to_uint8(arr, name)
        return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_BGR2GRAY)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name} must have shape (H, W) or (H, W, 3); got {arr.shape}. Pass one grayscale or BGR frame."
        )
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    return _float_to_uint8(arr, name)


def _float_to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind != "f":
        raise ShapeError(f"{name} must be uint8 or floating in [0, 1]; got dtype {arr.dtype}.")
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if lo < -1e-6 or hi > 1 + 1e-6 or not np.isfinite(arr).all():
        raise ShapeError(
            f"{name} is floating with values in [{lo:.4g}, {hi:.4g}]; expected finite values in [0, 1] "
            f"(or pass uint8 0..255)."
        )
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


@dataclass
class FlowMethod:
    """Base class: a picklable, parameterised dense-flow method.

    Subclasses hold their parameters as dataclass fields and implement
    :meth:`_flow` on two 8-bit grayscale images. The OpenCV solver object is
    built lazily per process (it cannot be pickled), so instances can be sent
    to worker processes.
    """

    name: ClassVar[str] = ""
    _solver: Any = field(default=None, init=False, repr=False, compare=False)

    def settings(self) -> dict[str, Any]:
        """Everything that determines the output: method, parameters, OpenCV version (for cache keys)."""
        params = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        return {"method": self.name, "params": params, "opencv": cv2.__version__}

    def __call__(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        """Return the ``(H, W, 2)`` float32 flow from ``prev`` to ``next`` in pixels."""
        a = to_gray_uint8(prev, "prev")
        b = to_gray_uint8(next, "next")
        if a.shape != b.shape:
            raise ShapeError(f"prev and next must have the same size; got {a.shape} and {b.shape}.")
        if min(a.shape) < 8:
            raise ShapeError(f"images must be at least 8x8 pixels for optical flow; got {a.shape}.")
        flow = self._flow(a, b)
        return np.ascontiguousarray(flow, dtype=np.float32)

    def _flow(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} must define _flow(prev, next); FlowMethod is abstract.")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_solver"] = None
        return state


@dataclass
class TVL1Flow(FlowMethod):
    """OpenCV Dual TV-L1 optical flow. Field defaults are OpenCV's (the MER default).

    Args:
        tau: time step of the numerical scheme.
        lambda_: weight of the data term (smaller = smoother flow).
        theta: tightness of the coupling between the two variables.
        scales: number of pyramid scales.
        warps: number of warpings per scale.
        epsilon: stopping criterion threshold.
        inner_iterations: inner iterations per warping.
        outer_iterations: outer iterations per warping.
        scale_step: pyramid down-scaling factor.
        gamma: weight of the illumination-change term (0 = off).
        median_filtering: median filter kernel size applied to the flow.
    """

    name: ClassVar[str] = "tvl1"
    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    scales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5

    def _flow(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        if self._solver is None:
            self._solver = cv2.optflow.DualTVL1OpticalFlow_create(
                tau=self.tau, lambda_=self.lambda_, theta=self.theta, nscales=self.scales,
                warps=self.warps, epsilon=self.epsilon, innnerIterations=self.inner_iterations,
                outerIterations=self.outer_iterations, scaleStep=self.scale_step, gamma=self.gamma,
                medianFiltering=self.median_filtering, useInitialFlow=False,
            )
        return self._solver.calc(prev, next, None)


@dataclass
class FarnebackFlow(FlowMethod):
    """OpenCV Farneback polynomial-expansion flow (OpenCV tutorial parameters)."""

    name: ClassVar[str] = "farneback"
    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def _flow(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(
            prev, next, None, self.pyr_scale, self.levels, self.winsize, self.iterations,
            self.poly_n, self.poly_sigma, 0,
        )


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass
class DISFlow(FlowMethod):
    """OpenCV Dense Inverse Search flow with one of OpenCV's presets."""

    name: ClassVar[str] = "dis"
    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.preset not in _DIS_PRESETS:
            raise ConfigError(f"DIS preset must be one of {sorted(_DIS_PRESETS)!r}; got {self.preset!r}.")

    def _flow(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
        if self._solver is None:
            self._solver = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        return self._solver.calc(prev, next, None)


#: The cheaper TV-L1 schedule behind ``tvl1_fast`` (see the module docstring).
TVL1_FAST_PARAMS: dict[str, Any] = dict(epsilon=0.05, warps=3)


def _build(cls: type[FlowMethod], defaults: dict[str, Any], overrides: dict[str, Any]) -> FlowMethod:
    params = {**defaults, **overrides}
    try:
        return cls(**params)
    except TypeError:
        valid = sorted(k for k in cls.__dataclass_fields__ if not k.startswith("_"))
        bad = sorted(set(params) - set(valid))
        raise ConfigError(f"unknown parameter(s) {bad!r} for flow method {cls.name!r}; valid: {valid!r}.") from None


@register_flow("tvl1")
def tvl1(**overrides: Any) -> FlowMethod:
    """Dual TV-L1 with OpenCV's default parameters (the MER default)."""
    return _build(TVL1Flow, {}, overrides)


@register_flow("tvl1_fast")
def tvl1_fast(**overrides: Any) -> FlowMethod:
    """Dual TV-L1 with the cheaper schedule :data:`TVL1_FAST_PARAMS`."""
    return _build(TVL1Flow, TVL1_FAST_PARAMS, overrides)


@register_flow("farneback")
def farneback(**overrides: Any) -> FlowMethod:
    """Farneback flow with the OpenCV tutorial parameters."""
    return _build(FarnebackFlow, {}, overrides)


@register_flow("dis")
def dis(**overrides: Any) -> FlowMethod:
    """DIS flow, preset ``medium`` unless overridden."""
    return _build(DISFlow, {}, overrides)
