"""Atomic file writing: a reader never sees a half-written file.

Every file merkit writes (run outputs, caches, generated datasets) goes
through these helpers: the content is written to a temporary file in the
same folder, flushed to disk, then renamed over the target. A process
killed at any moment leaves either the old file or the new one.

Crash testing: with ``MERKIT_CRASH_AT="<text>:<n>"`` in the environment the
process kills itself with SIGKILL at the worst moment of the ``n``-th write
whose target path contains ``<text>``: the temporary file is complete and
synced, the rename has not happened. ``tests/evaluation/test_crash_resume.py``
uses it to prove that an interrupted run resumes to byte-identical results.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_text", "write_bytes", "write_json", "plain_data"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    Use this for writers that want a path (``DataFrame.to_csv``, ``savefig``,
    ``np.save``). On an exception the temporary file is removed and ``target``
    is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        _crash_point(target)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


_crash_counts: dict[str, int] = {}


def _crash_point(target: Path) -> None:
    spec = os.environ.get("MERKIT_CRASH_AT")
    if not spec:
        return
    text, _, nth = spec.rpartition(":")
    if text and text in str(target):
        _crash_counts[text] = _crash_counts.get(text, 0) + 1
        if _crash_counts[text] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``target``; return the target path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``target``; return the target path."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, paths and sets show up in configs and metrics
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def plain_data(obj: Any) -> Any:
    """``obj`` as plain YAML/JSON data: dicts with string keys, lists for tuples, Python scalars, paths as text."""
    if isinstance(obj, dict):
        return {str(k): plain_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_data(v) for v in obj]
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:  # numpy scalar
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj
