"""Content-addressed feature cache.

Expensive per-sample results (aligned faces, optical flow, strain, descriptors)
are stored once under a key derived from *what produced them*: a namespace
(the kind of result, e.g. ``"flow"``), the settings that shaped it, and the
input files it was computed from. Changing any setting or any input file gives
a new key, so stale entries are never served; they are simply not found.

Key recipe (:meth:`FeatureCache.key`): SHA-256 over

1. the cache format version (:data:`CACHE_FORMAT`),
2. the namespace,
3. the settings as canonical JSON (sorted keys, no whitespace; tuples are
   lists, numpy scalars are Python numbers, paths are strings),
4. one fingerprint per input file, in the given order:

   * ``fingerprint="content"`` (default): the SHA-256 of the file's bytes.
     Robust to copies, moves, ``touch`` and re-extraction of a dataset
     archive; costs one read of each input (memoised per process on
     ``(path, size, mtime_ns)``, so a file is hashed once per process).
   * ``fingerprint="stat"``: ``(absolute path, size, mtime_ns)``. Free, but a
     moved dataset or a re-extracted archive misses the cache, and an
     in-place edit that keeps size and mtime would be served stale.

The key is ``"<namespace>-<64 hex digits>"``; the entry lives at
``<root>/<namespace>/<hex[:2]>/<hex>.npz``.

Storage: one uncompressed (or, on request, deflate-compressed) ``.npz`` per
entry holding the arrays exactly as given (float32 flow stays float32; nothing
is quantised to 8-bit images) plus a JSON metadata record. Each entry is written
to a unique temporary file and renamed into place (:mod:`merkit._io`), so a
reader never sees a half-written entry, and two processes that prepare the
same sample at once both succeed: the entries they write are identical and
the last rename wins.

Root: the ``root`` argument, else ``$MERKIT_CACHE_DIR``, else
``~/.cache/merkit``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from merkit._io import atomic_path
from merkit.errors import ConfigError, ShapeError

__all__ = ["CACHE_FORMAT", "CacheInfo", "FeatureCache", "default_cache_dir", "memoise"]

log = logging.getLogger(__name__)

#: Bumped when the on-disk layout or the key recipe changes; old entries then miss.
CACHE_FORMAT = 1

_NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_.]*$")
_KEY_RE = re.compile(r"^([a-z0-9][a-z0-9_.]*)-([0-9a-f]{64})$")
_SHARD_RE = re.compile(r"^[0-9a-f]{2}$")
_ENTRY_RE = re.compile(r"^[0-9a-f]{64}\.npz$")
_META_NAME = "__meta__"
_HASH_CHUNK = 1 << 20

# (absolute path, size, mtime_ns) -> sha256 hex of the content; per process.
_content_hash_memo: dict[tuple[str, int, int], str] = {}


def default_cache_dir() -> Path:
    """Return ``$MERKIT_CACHE_DIR`` if set and non-empty, else ``~/.cache/merkit``."""
    env = os.environ.get("MERKIT_CACHE_DIR", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "merkit"


@dataclass(frozen=True)
class CacheInfo:
    """Summary of a cache directory.

    Attributes:
        root: the cache root.
        namespaces: namespace -> ``(entries, bytes)``.
    """

    root: Path
    namespaces: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def entries(self) -> int:
        """Total number of entries over all namespaces."""
        return sum(n for n, _ in self.namespaces.values())

    @property
    def size_bytes(self) -> int:
        """Total size of all entries in bytes."""
        return sum(b for _, b in self.namespaces.values())


class FeatureCache:
    """Content-addressed store of named float arrays, keyed by settings and input files.

    Args:
        root: cache directory; ``None`` uses :func:`default_cache_dir`.
        fingerprint: how input files enter the key: ``"content"`` (SHA-256 of
            the bytes, default) or ``"stat"`` (path, size, mtime). See the
            module docstring for the trade-off.
        compress: store entries with deflate compression (smaller, slower).

    Example:
        >>> import tempfile, numpy as np
        >>> cache = FeatureCache(tempfile.mkdtemp())
        >>> key = cache.key("flow", {"method": "tvl1"}, [])
        >>> _ = cache.save(key, {"flow": np.zeros((4, 4, 2), np.float32)}, {"sample": "x"})
        >>> cache.load(key)["flow"].shape
        (4, 4, 2)
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        fingerprint: Literal["content", "stat"] = "content",
        compress: bool = False,
    ) -> None:
        if fingerprint not in ("content", "stat"):
            raise ConfigError(
                f"FeatureCache fingerprint must be one of ['content', 'stat']; got {fingerprint!r}."
            )
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.fingerprint = fingerprint
        self.compress = bool(compress)

    def __repr__(self) -> str:
        return f"FeatureCache(root={str(self.root)!r}, fingerprint={self.fingerprint!r})"

    # ------------------------------------------------------------------ keys
    def key(
        self,
        namespace: str,
        settings: Mapping[str, Any],
        inputs: Sequence[str | os.PathLike] = (),
    ) -> str:
        """Return the key of the entry produced by ``settings`` from ``inputs``.

        Args:
            namespace: kind of result, lowercase ``[a-z0-9_.]`` (e.g. ``"flow"``).
            settings: everything that changes the result (method, size, options).
                Must be JSON-serialisable after converting tuples, numpy
                scalars and paths.
            inputs: the files the result is computed from, in a fixed order.

        Returns:
            ``"<namespace>-<sha256 hex>"``.

        Raises:
            ConfigError: if the namespace is malformed or a setting cannot be
                serialised.
            FileNotFoundError: if an input file does not exist.
        """
        _check_namespace(namespace)
        h = hashlib.sha256()
        h.update(f"merkit-cache-v{CACHE_FORMAT}\0{namespace}\0".encode())
        h.update(_canonical_json(settings, namespace).encode())
        for path in inputs:
            h.update(b"\0")
            h.update(self._fingerprint_file(Path(path)).encode())
        return f"{namespace}-{h.hexdigest()}"

    def _fingerprint_file(self, path: Path) -> str:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"cache key input {str(path)!r} does not exist; every input of a cached result "
                f"must be an existing file."
            ) from None
        resolved = str(path.resolve())
        if self.fingerprint == "stat":
            return f"stat:{resolved}:{st.st_size}:{st.st_mtime_ns}"
        memo_key = (resolved, st.st_size, st.st_mtime_ns)
        digest = _content_hash_memo.get(memo_key)
        if digest is None:
            hasher = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
                    hasher.update(chunk)
            digest = hasher.hexdigest()
            _content_hash_memo[memo_key] = digest
        return f"sha256:{digest}"

    def path(self, key: str) -> Path:
        """Return the file that holds (or would hold) the entry ``key``."""
        namespace, digest = _split_key(key)
        return self.root / namespace / digest[:2] / f"{digest}.npz"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    # ------------------------------------------------------------ read/write
    def save(
        self,
        key: str,
        arrays: Mapping[str, np.ndarray],
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        """Store ``arrays`` (and JSON ``meta``) under ``key`` atomically.

        Arrays are stored bit-exactly in their own dtype; object arrays are
        refused because they would need pickle to load.

        Args:
            key: a key from :meth:`key`.
            arrays: name -> array. Names must be identifiers not starting with ``__``.
            meta: JSON-serialisable description (sample key, timings, versions).

        Returns:
            The entry's path.

        Raises:
            ShapeError: if an array has object dtype or a name is invalid.
            ConfigError: if ``meta`` is not JSON-serialisable.
        """
        target = self.path(key)
        payload: dict[str, np.ndarray] = {}
        for name, value in arrays.items():
            if not name.isidentifier() or name.startswith("__"):
                raise ShapeError(
                    f"cache entry {key!r}: array name {name!r} is invalid; expected a Python "
                    f"identifier that does not start with '__'."
                )
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise ShapeError(
                    f"cache entry {key!r}: array {name!r} has dtype {arr.dtype}; expected a "
                    f"bool, integer or floating dtype (object/string arrays need pickle)."
                )
            payload[name] = arr
        meta_record = {"key": key, "format": CACHE_FORMAT, **dict(meta or {})}
        payload[_META_NAME] = np.array(_canonical_json(meta_record, key, what="meta"))
        writer = np.savez_compressed if self.compress else np.savez
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                writer(fh, **payload)
        return target

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """Return the arrays stored under ``key``, or ``None`` if there is no such entry.

        An entry that cannot be read (truncated by a disk failure, written by
        an incompatible numpy) is logged, removed, and reported as a miss so it
        gets recomputed.
        """
        loaded = self._read(key)
        if loaded is None:
            return None
        loaded.pop(_META_NAME, None)
        return loaded

    def meta(self, key: str) -> dict[str, Any] | None:
        """Return the metadata stored with ``key``, or ``None`` if there is no such entry."""
        loaded = self._read(key)
        if loaded is None:
            return None
        return json.loads(str(loaded[_META_NAME]))

    def _read(self, key: str) -> dict[str, np.ndarray] | None:
        target = self.path(key)
        try:
            with np.load(target, allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
        except FileNotFoundError:
            return None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
            log.warning("cache entry %s is unreadable (%s); removing it so it is recomputed", target, exc)
            target.unlink(missing_ok=True)
            return None

    # ----------------------------------------------------------- management
    def info(self) -> CacheInfo:
        """Count entries and bytes per namespace (temporary files are not counted)."""
        namespaces: dict[str, tuple[int, int]] = {}
        if not self.root.is_dir():
            return CacheInfo(self.root, namespaces)
        for ns_dir, entries in self._namespace_entries(None):
            if entries:
                namespaces[ns_dir.name] = (len(entries), sum(e.stat().st_size for e in entries))
        return CacheInfo(self.root, namespaces)

    def clear(self, namespace: str | None = None) -> int:
        """Delete all entries, or only those of ``namespace``; return how many were removed.

        Only files laid out as entries (``<namespace>/<hex[:2]>/<hex>.npz``) are
        deleted, so a root that also holds other files never loses them.
        """
        if namespace is not None:
            _check_namespace(namespace)
        if not self.root.is_dir():
            return 0
        removed = 0
        for ns_dir, entries in self._namespace_entries(namespace):
            for entry in entries:
                entry.unlink(missing_ok=True)
                removed += 1
            # Temporaries left by writers killed mid-write (older than an hour, so a writer that
            # is running right now keeps its file), then the emptied shard folders.
            stale_before = time.time() - 3600
            for shard in (p for p in ns_dir.iterdir() if _SHARD_RE.match(p.name) and p.is_dir()):
                for tmp in shard.glob(".*.tmp.npz"):
                    with contextlib.suppress(FileNotFoundError):
                        if tmp.stat().st_mtime < stale_before:
                            tmp.unlink()
                with contextlib.suppress(OSError):
                    shard.rmdir()
            with contextlib.suppress(OSError):
                ns_dir.rmdir()
        return removed

    def _namespace_entries(self, namespace: str | None) -> list[tuple[Path, list[Path]]]:
        # Only files matching the entry layout <ns>/<hex[:2]>/<hex>.npz count, so a root that
        # also holds unrelated files never has them listed or deleted.
        found = []
        if not self.root.is_dir():
            return found
        for ns_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if not _NAMESPACE_RE.match(ns_dir.name) or (namespace is not None and ns_dir.name != namespace):
                continue
            entries = [
                e
                for e in sorted(ns_dir.glob("*/*.npz"))
                if _SHARD_RE.match(e.parent.name) and _ENTRY_RE.match(e.name) and e.name.startswith(e.parent.name)
            ]
            found.append((ns_dir, entries))
        return found


def memoise(
    cache: FeatureCache | None,
    namespace: str,
    settings: Mapping[str, Any],
    inputs: Sequence[str | os.PathLike],
    compute: Callable[[], Mapping[str, np.ndarray]],
    meta: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of ``compute()``, read from ``cache`` when an entry for these settings and inputs exists.

    The one memoisation recipe of every cached preparation step: key from
    ``(namespace, settings, inputs)`` (:meth:`FeatureCache.key`), load on a hit,
    otherwise compute, store atomically and return. ``cache=None`` always computes.
    """
    if cache is None:
        return dict(compute())
    key = cache.key(namespace, settings, inputs)
    hit = cache.load(key)
    if hit is not None:
        return hit
    arrays = dict(compute())
    cache.save(key, arrays, meta=meta)
    return {k: np.asarray(v) for k, v in arrays.items()}


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
        raise ConfigError(
            f"cache namespace {namespace!r} is invalid; expected lowercase letters, digits, '_' "
            f"and '.', starting with a letter or digit (e.g. 'flow', 'faces')."
        )


def _split_key(key: str) -> tuple[str, str]:
    match = _KEY_RE.match(key) if isinstance(key, str) else None
    if match is None:
        raise ConfigError(
            f"cache key {key!r} is malformed; expected '<namespace>-<64 hex digits>' as returned "
            f"by FeatureCache.key()."
        )
    return match.group(1), match.group(2)


def _json_ready(obj: Any) -> Any:
    # Canonical form: mappings with str keys, lists for tuples, plain numbers for numpy scalars.
    if isinstance(obj, Mapping):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(_json_ready(v) for v in obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _canonical_json(obj: Any, where: str, what: str = "settings") -> str:
    try:
        return json.dumps(_json_ready(obj), sort_keys=True, separators=(",", ":"), allow_nan=True)
    except TypeError as exc:
        raise ConfigError(
            f"cache {what} for {where!r} are not JSON-serialisable ({exc}); pass plain numbers, "
            f"strings, lists and dicts."
        ) from None
