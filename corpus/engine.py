"""The local engine: run a pure per-item function over items on a process pool, in order, with progress.

Stage functions are plain top-level functions of one picklable item, so the same function runs here
and on Spark (corpus.mswc.spark). Results come back in input order whatever the pool's timing, which
keeps outputs deterministic.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm import tqdm

__all__ = ["map_ordered", "default_jobs"]

A = TypeVar("A")
B = TypeVar("B")


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def _quiet_worker() -> None:
    # TensorFlow and BLAS each start a thread per core; with one process per core that oversubscribes.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def map_ordered(func: Callable[[A], B], items: Iterable[A], *, jobs: int | None = None, desc: str = "",
                unit: str = "item", total: int | None = None, chunksize: int = 4,
                progress: bool = True) -> Iterator[B]:
    """Yield func(item) for each item, in order. jobs=1 runs in this process (easier to debug)."""
    items = list(items)
    total = len(items) if total is None else total
    jobs = default_jobs() if jobs is None else max(1, jobs)
    bar = tqdm(total=total, desc=desc, unit=unit, disable=not progress or total == 0, leave=False,
               dynamic_ncols=True)
    try:
        if jobs == 1 or len(items) <= 1:
            for item in items:
                yield func(item)
                bar.update(1)
            return
        context = mp.get_context("forkserver") if os.name == "posix" else mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_quiet_worker) as pool:
            for result in pool.map(func, items, chunksize=chunksize):
                yield result
                bar.update(1)
    finally:
        bar.close()
