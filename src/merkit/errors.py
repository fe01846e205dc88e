"""Exception and warning hierarchy.

Every merkit error derives from :class:`MerkitError` and from the matching
built-in exception, so callers can catch either ``MerkitError`` or, say,
``ValueError``. Messages follow one template: what went wrong, what was
expected, what was found, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "MerkitError",
    "MerkitWarning",
    "DatasetNotFoundError",
    "AnnotationError",
    "ShapeError",
    "UnknownNameError",
    "ConfigError",
    "ProtocolError",
    "FrameReadError",
    "FaceNotFoundError",
]


class MerkitError(Exception):
    """Root of all merkit errors."""


class MerkitWarning(UserWarning):
    """Emitted when merkit repairs or flags something the user should know about."""


class DatasetNotFoundError(MerkitError, FileNotFoundError):
    """A dataset root, annotation file or clip folder is missing."""


class AnnotationError(MerkitError, ValueError):
    """An annotation file or row does not have the expected content."""


class ShapeError(MerkitError, ValueError):
    """An array or tensor has the wrong shape."""


class UnknownNameError(MerkitError, ValueError):
    """A registry lookup (model, dataset, protocol, flow method, ...) failed."""


class ConfigError(MerkitError, ValueError):
    """A configuration key is unknown or has the wrong type or value."""


class ProtocolError(MerkitError, ValueError):
    """A protocol, fold or label set is inconsistent with the data."""


class FrameReadError(MerkitError, OSError):
    """A frame or video cannot be read or decoded."""


class FaceNotFoundError(MerkitError, ValueError):
    """No face was detected where one was required."""
