"""One parallel map for every per-sample preparation step (features, masked faces, MOL videos).

:func:`parallel_map` applies a picklable function to items in chunks, in this
process (``workers=1``) or in a ``spawn`` process pool, and returns the
results in input order with one progress bar. ``spawn`` because a fork after
OpenCV, dlib or torch started their thread pools can deadlock the children;
each worker runs OpenCV on one thread, since the pool already uses the cores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["parallel_map"]

T = TypeVar("T")
R = TypeVar("R")


def _init_worker() -> None:
    # One OpenCV thread per worker process: the pool already uses the cores.
    try:
        import cv2  # deferred: only pool workers touch OpenCV; keeps this rank-0 helper free of cv2
    except ImportError:  # pragma: no cover - OpenCV is a dependency; kept optional for this helper
        return
    cv2.setNumThreads(1)


def _apply_chunk(args: tuple[Callable[[Any], Any], list]) -> list:
    fn, chunk = args
    return [fn(item) for item in chunk]


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int = 1,
    chunk_size: int = 8,
    progress: bool = False,
    desc: str = "",
) -> list[R]:
    """``[fn(item) for item in items]``, in ``workers`` processes when ``workers > 1``.

    Args:
        fn: a picklable (module-level) function or callable object.
        items: picklable inputs.
        workers: processes; 1 runs in this process.
        chunk_size: items sent to a worker at once (amortises pickling of ``fn``).
        progress: show a tqdm bar counting items.
        desc: the bar's label.

    Returns:
        The results, in the order of ``items``.
    """
    from tqdm.auto import tqdm  # deferred: tqdm.auto costs ~60 ms and merkit.synth imports this module

    items = list(items)
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), max(1, chunk_size))]
    results: list[R] = []
    with tqdm(total=len(items), desc=desc or None, disable=not progress, leave=False) as bar:
        if workers > 1 and len(chunks) > 1:
            # deferred: multiprocessing + concurrent.futures add ~15 % to importing merkit.synth; only a pool needs them
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker) as pool:
                for part in pool.map(_apply_chunk, [(fn, c) for c in chunks]):
                    results.extend(part)
                    bar.update(len(part))
        else:
            for chunk in chunks:
                results.extend(_apply_chunk((fn, chunk)))
                bar.update(len(chunk))
    return results
