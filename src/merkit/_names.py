"""Helpers for name lookups with helpful errors (shared by every registry)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from merkit.errors import UnknownNameError


def unknown_name(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the error for an unknown registry name, listing the closest matches."""
    valid = sorted(choices)
    close = difflib.get_close_matches(name, valid, n=3)
    msg = f"unknown {kind} {name!r}; valid names: {valid!r}."
    if close:
        msg += f" Did you mean {close[0]!r}?"
    if hint:
        msg += f" {hint}"
    return UnknownNameError(msg)
