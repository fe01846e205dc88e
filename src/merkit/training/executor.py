"""A local process-pool fold executor implementing the runner's ``Executor`` interface.

The runner maps one picklable job (``job(task) -> prediction rows``) over
fold tasks. :class:`ProcessPoolFoldExecutor` ships the job once to each
worker (pool initializer) instead of once per task, because the job holds the
sample table and the precomputed features; tasks are small. Workers are
started with ``spawn`` (no inherited threads or CUDA state) and each limits
torch to ``threads`` CPU threads so that ``workers x threads`` does not
oversubscribe the machine. Results are yielded as folds finish; the runner
writes each fold's predictions as it arrives, so a killed run resumes.

A cluster executor only needs the same ``map(fn, tasks)`` method.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from merkit.errors import ConfigError

__all__ = ["ProcessPoolFoldExecutor"]

_JOB: Callable | None = None


def _init_worker(job: Callable, threads: int) -> None:
    global _JOB
    _JOB = job
    import torch

    torch.set_num_threads(max(1, threads))


def _run(task):
    return _JOB(task)


class ProcessPoolFoldExecutor:
    """Run fold tasks in ``workers`` local processes.

    Args:
        workers: number of processes.
        threads: torch CPU threads per process.
    """

    def __init__(self, workers: int = 2, threads: int = 1) -> None:
        if workers < 1 or threads < 1:
            raise ConfigError(f"workers and threads must be >= 1; got workers={workers!r}, threads={threads!r}.")
        self.workers = workers
        self.threads = threads

    def map(self, fn: Callable, tasks: Sequence) -> Iterator:
        """Yield ``fn(task)`` for every task, in completion order."""
        if not tasks:
            return
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(fn, self.threads)) as pool:
            pending = {pool.submit(_run, t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
