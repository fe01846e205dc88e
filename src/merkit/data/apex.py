"""Apex policies: how a loader fills an apex the annotation does not give.

SMIC has no apex at all; CASME II writes ``/`` in one row; SAMM and
CAS(ME)^3 have apexes outside ``[onset, offset]`` (docs/datasets.md, "Rules
every loader follows": apex policy). A loader never guesses silently: it
asks the *apex policy* for a frame and flags the sample ``apex_estimated``
(and ``apex_out_of_range`` when an annotated apex was rejected).

A policy is a callable ``policy(context) -> frame number``. Built in:

* ``"midpoint"``: ``onset + (offset - onset) // 2`` (the convention of meb and
  most public loaders); when that frame is missing on disk, the nearest
  frame present in ``[onset, offset]`` (the earlier one on a tie).

Other policies register themselves with :func:`register_apex_policy` and are
then selectable by name in every loader, or are passed to a loader directly as
a callable. ``"motion_peak"`` (the motion-based estimate of
:mod:`merkit.motion.keyframes`) is selectable by name without importing
:mod:`merkit.motion` first: :func:`get_apex_policy` imports it on first use
(a lookup by name, so the data layer still imports nothing above it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from merkit._options import unknown_name
from merkit.errors import ConfigError

__all__ = ["ApexContext", "ApexPolicy", "register_apex_policy", "get_apex_policy", "list_apex_policies", "midpoint_apex"]


@dataclass(frozen=True)
class ApexContext:
    """What an apex policy may look at.

    Attributes:
        sample_key: ``'<dataset>/<subject>/<clip>'``, for messages.
        onset: onset frame number (dataset numbering).
        offset: offset frame number.
        frame_numbers: frame numbers present on disk within ``[onset, offset]``, increasing.
        frame_paths: their files, parallel to ``frame_numbers``.
        fps: recording frame rate, frames per second.
    """

    sample_key: str
    onset: int
    offset: int
    frame_numbers: tuple[int, ...]
    frame_paths: tuple[str, ...]
    fps: float


#: An apex policy: returns a frame number from ``context.frame_numbers``.
ApexPolicy = Callable[[ApexContext], int]

_POLICIES: dict[str, ApexPolicy] = {}
#: Policies that a higher layer registers when it is imported, by name -> that package (for messages only:
#: the data layer never imports upwards). ``merkit.load_dataset``, experiment files and the CLI import
#: :mod:`merkit.motion` first, so ``apex_policy="motion_peak"`` works there by name.
_REGISTERED_ABOVE: dict[str, str] = {"motion_peak": "merkit.motion"}


def register_apex_policy(name: str, policy: ApexPolicy) -> ApexPolicy:
    """Register ``policy`` under ``name`` (lowercase snake_case); a duplicate name is an error."""
    if name in _POLICIES:
        raise ConfigError(f"apex policy {name!r} is already registered; choose another name.")
    _POLICIES[name] = policy
    return policy


def list_apex_policies() -> list[str]:
    """Names of the apex policies: registered ones and those a higher layer registers (``motion_peak``)."""
    return sorted(set(_POLICIES) | set(_REGISTERED_ABOVE))


def get_apex_policy(policy: str | ApexPolicy) -> ApexPolicy:
    """Return the policy registered as ``policy``, or ``policy`` itself if it is callable.

    A name registered by a higher layer (``"motion_peak"``) is known once that layer is imported
    (``merkit.load_dataset`` and experiment files import it; or pass the callable,
    ``merkit.motion.keyframes.MotionPeakApex()``).

    Raises:
        UnknownNameError: ``policy`` is neither callable nor a known name (the message lists the
            valid names). Every loader, the composite and :func:`merkit.data.registry.load_dataset_spec`
            raise this same class for a bad apex policy.
    """
    if callable(policy):
        return policy
    if isinstance(policy, str) and policy not in _POLICIES and policy in _REGISTERED_ABOVE:
        raise unknown_name("apex policy", policy, _POLICIES,
                           hint=f"{policy!r} is registered when {_REGISTERED_ABOVE[policy]} is imported: import it "
                                f"first, call merkit.load_dataset (which does), or pass the policy object.")
    if not isinstance(policy, str) or policy not in _POLICIES:
        raise unknown_name("apex policy", str(policy), list_apex_policies(),
                           hint="Pass a registered name or a callable policy(ApexContext) -> frame number.")
    return _POLICIES[policy]


def nearest_frame(target: int, numbers: Sequence[int]) -> int:
    """The number in ``numbers`` closest to ``target`` (the smaller one on a tie)."""
    return min(numbers, key=lambda n: (abs(n - target), n))


def midpoint_apex(context: ApexContext) -> int:
    """``onset + (offset - onset) // 2``, or the nearest frame on disk to it.

    Example:
        >>> midpoint_apex(ApexContext("smic_hs/s1/s1_ne_01", 36230, 36234, (36230, 36231, 36232, 36233, 36234), ("",) * 5, 100.0))
        36232
    """
    return nearest_frame(context.onset + (context.offset - context.onset) // 2, context.frame_numbers)


register_apex_policy("midpoint", midpoint_apex)
