"""Augmentation off the training thread: augmented audio batches made by a pool of worker processes.

Why: `kws.augmenter.Augmenter` is NumPy code that holds the GIL. Run inside `tf.data.Dataset.from_generator`
it made the training loop wait on one Python thread (measured on 2 cores: the main thread at 100 % while
TensorFlow's compute threads idled). Here each batch is a job for a worker process that holds its own
copy of the augmenter (sent once, when the pool starts); the generator only hands out jobs and collects
results in order, a few batches ahead of training.

Determinism: a batch's augmentation depends only on (seed, epoch, position of the batch), never on which
worker made it or how many there are; `jobs=1` makes the same batches in this process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import weakref
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from corpus.engines import default_jobs

if TYPE_CHECKING:  # pragma: no cover
    from kws.augmenter import Augmenter

__all__ = ["AugmentWorkers", "batch_rng"]

_AUGMENTER: "Augmenter | None" = None  # the worker process's copy


def batch_rng(seed: int, epoch: int, first: int) -> np.random.Generator:
    """The generator of one batch: a pure function of (seed, epoch, first example's position)."""
    return np.random.default_rng([seed, epoch, first, 0xDA7A])


def _start_worker(augmenter: "Augmenter") -> None:
    global _AUGMENTER
    # one process per core already: BLAS threads on top would oversubscribe the cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _AUGMENTER = augmenter


def _augment_batch(job: tuple[np.ndarray, tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    indices, (seed, epoch, first) = job
    return _AUGMENTER.audio(indices, batch_rng(seed, epoch, first))


def _shutdown(executor: ProcessPoolExecutor) -> None:
    executor.shutdown(wait=False, cancel_futures=True)


class AugmentWorkers:
    """Ordered, bounded-lookahead map of augmentation jobs over worker processes (started on first use,
    kept for every later epoch, stopped when this object goes away)."""

    def __init__(self, augmenter: "Augmenter", *, jobs: int | None = None, ahead_per_job: int = 3,
                 min_batches: int = 32) -> None:
        self.augmenter = augmenter
        self.jobs = default_jobs() if jobs is None else max(1, int(jobs))
        # starting workers (imports, a copy of the clip pool each) costs seconds: a short pass with no pool
        # running yet is made here (the batches are the same either way)
        self.min_batches = min_batches
        self.ahead = max(2, self.jobs * ahead_per_job)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # forkserver, not fork: this process runs TensorFlow's threads, and a fork copies their locks
            context = mp.get_context("forkserver")
            self._executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context,
                                                 initializer=_start_worker, initargs=(self.augmenter,))
            weakref.finalize(self, _shutdown, self._executor)
        return self._executor

    def map(self, jobs: Iterable[tuple[np.ndarray, tuple[int, int, int]]]
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(audio int16 [B, samples], front-end start per row) for each (indices, (seed, epoch, first))."""
        jobs = list(jobs)
        if self.jobs == 1 or (self._executor is None and len(jobs) < self.min_batches):
            for indices, (seed, epoch, first) in jobs:
                yield self.augmenter.audio(indices, batch_rng(seed, epoch, first))
            return
        pool = self._pool()
        pending: deque[Future] = deque()
        try:
            for job in jobs:
                pending.append(pool.submit(_augment_batch, job))
                if len(pending) >= self.ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # an epoch abandoned half-way: drop the work queued for it
                future.cancel()

    def close(self) -> None:
        if self._executor is not None:
            _shutdown(self._executor)
            self._executor = None
