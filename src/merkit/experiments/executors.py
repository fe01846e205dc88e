"""Fold executors implementing the runner's ``Executor`` interface: a local process pool and Ray.

The runner maps one picklable job (``job(task) -> prediction rows``) over
fold tasks. :class:`ProcessPoolFoldExecutor` ships the job once to each
worker (pool initializer) instead of once per task, because the job holds the
sample table and the precomputed features; tasks are small. Workers are
started with ``spawn`` (no inherited threads or CUDA state) and each limits
torch to ``threads`` CPU threads so that ``workers x threads`` does not
oversubscribe the machine. Results are yielded as folds finish; the runner
writes each fold's predictions as it arrives, so a killed run resumes.

:class:`RayFoldExecutor` runs the same job as Ray tasks, locally or on a cluster.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import torch

from merkit.errors import ConfigError

__all__ = ["ProcessPoolFoldExecutor", "RayFoldExecutor"]

_JOB: Callable | None = None


def _init_worker(job: Callable, threads: int) -> None:
    global _JOB
    _JOB = job
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


def _run_with_threads(fn: Callable, task, threads: int):
    torch.set_num_threads(max(1, threads))
    return fn(task)


class RayFoldExecutor:
    """Run fold tasks as Ray tasks, on this machine or on a cluster (``run.executor = "ray"``).

    The job (the method with its inputs: features are computed once, by the driver) goes into
    Ray's object store once and every task reads it from there; tasks are small. Each task runs
    with ``threads`` torch threads and 1 CPU. A task whose worker process dies is retried
    (``max_retries``), so a killed worker does not end the run; results are yielded as folds finish,
    and the runner writes each fold as it arrives, so a run whose driver dies resumes.
    Predictions equal the process pool's: every fold is seeded from ``(seed, fold name)``.

    Args:
        address: an existing cluster (``"ray://host:10001"`` or ``"auto"``); "" starts a local one
            with ``workers`` CPUs (``docs/training.md``, "Running on a Ray cluster").
        workers: CPUs of a local cluster.
        threads: torch CPU threads per task.
        max_retries: retries of a task whose worker died.

    Raises:
        ConfigError: Ray is not installed (``pip install 'merkit[ray]'``).
    """

    def __init__(self, address: str = "", workers: int = 2, threads: int = 1, max_retries: int = 3) -> None:
        if workers < 1 or threads < 1 or max_retries < 0:
            raise ConfigError(f"workers and threads must be >= 1 and max_retries >= 0; got {workers!r}, "
                              f"{threads!r}, {max_retries!r}.")
        try:
            import ray  # noqa: F401  (optional extra merkit[ray]: checked here, imported where used)
        except ImportError:
            raise ConfigError("run.executor = 'ray' needs Ray: pip install 'merkit[ray]'.") from None
        self.address, self.workers, self.threads, self.max_retries = address, workers, threads, max_retries

    def _init(self) -> None:
        import ray  # optional extra (merkit[ray]), checked in __init__

        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)

    def map(self, fn: Callable, tasks: Sequence) -> Iterator:
        """Yield ``fn(task)`` for every task, in completion order."""
        if not tasks:
            return
        import ray  # optional extra (merkit[ray]), checked in __init__

        self._init()
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_run_with_threads)
        job = ray.put(fn)
        pending = [remote.remote(job, task, self.threads) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
