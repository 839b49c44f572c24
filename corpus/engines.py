"""Where per-item work runs: a local process pool or Apache Spark, behind one interface.

    from corpus.engines import make_engine
    with make_engine("local", jobs=4) as engine:          # or make_engine("spark", spark_master="local[2]")
        lengths = list(engine.map(len, ["a", "bb", "ccc"], desc="demo", unit="word"))

`Engine.map(func, items)` yields `func(item)` for every item IN INPUT ORDER, whatever the workers'
timing, so a stage's output never depends on the engine. `func` is a plain top-level function of one
picklable item (a frozen dataclass), the same function on either engine. Builders (`corpus.stages`),
the aligner (`corpus.align`) and the dataset generators all run their work through this module.

- `LocalEngine(jobs)`: a `ProcessPoolExecutor` (forkserver) of `jobs` workers, kept for the engine's
  life so workers keep what they loaded (a model, compiled kernels); `jobs=1` runs in this process.
  A worker that dies (a decoder crash) breaks the pool: a new one takes over the items not yet
  returned, once. `shared_local_engine(jobs)` is one such engine per process (closed at exit).
- `SparkEngine(master, conf=...)`: a SparkSession on `master` (`local[2]`, `spark://host:7077`, `yarn`,
  `k8s://...`). Items are `parallelize`d in batches, run with `mapPartitions`, `collect`ed in partition
  order. The project's packages that exist (`corpus`, `kws`, `asr`, `export`) are zipped and shipped to
  the workers with `addPyFile` on every master, so stage functions that import any of them run on
  workers where the project is not installed; the workers need only Python with the dependencies
  (`spark.pyspark.python`, or `python=`) and the data paths (a shared filesystem). Spark needs Java
  17+; without it `SparkEngine` raises `EngineError` saying what to install.
- `map_ordered(func, items, jobs=)`: the one-shot form (a pool for one call) for scripts and generators.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence, TypeVar

from tqdm import tqdm

__all__ = ["Engine", "EngineError", "LocalEngine", "SparkEngine", "make_engine", "map_ordered", "default_jobs",
           "shared_local_engine", "java_version", "project_zip", "parse_spark_conf", "PROJECT_PACKAGES", "ENGINES"]

log = logging.getLogger(__name__)

A = TypeVar("A")
B = TypeVar("B")

ENGINES = ("local", "spark")
# Top-level packages of the project, bottom layer first; those present are shipped to Spark workers.
PROJECT_PACKAGES = ("corpus", "export", "kws", "asr")


class EngineError(RuntimeError):
    """The engine cannot run (e.g. Spark without Java) or returned something inconsistent."""


class Engine(Protocol):
    """What builders need from an engine (LocalEngine and SparkEngine both are one)."""

    name: str

    def map(self, func: Callable[[A], B], items: Iterable[A], *, desc: str = "", unit: str = "item",
            progress: bool = True) -> Iterator[B]: ...

    def close(self) -> None: ...


def default_jobs() -> int:
    """All the cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


def one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which BLAS (numpy's OpenBLAS) runs on one thread: per-item work runs one process per
    core, and BLAS threads on top oversubscribe the cores (2-3x slower wall time measured). A no-op
    without threadpoolctl (it comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def quiet_worker() -> None:
    """Pool worker start-up: TensorFlow and BLAS each start a thread per core, and with one process per
    core that oversubscribes; TensorFlow's C++ log lines would interleave with the progress bars.
    `OMP_NUM_THREADS` alone comes too late where the forkserver already loaded numpy, so BLAS is also
    limited in place."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    one_blas_thread()  # threadpool_limits applies at once; the context is never exited in a worker


def _context():
    return mp.get_context("forkserver") if os.name == "posix" else mp.get_context("spawn")


class LocalEngine:
    """Per-item functions on a process pool of `jobs` workers (1: in this process), results in order.

    `initializer` runs once in each worker (default `quiet_worker`); `chunksize` None picks one from the
    number of items (small chunks keep the workers evenly busy, larger ones cut pickling overhead).
    """

    name = "local"

    def __init__(self, jobs: int | None = None, *, initializer: Callable[[], None] | None = quiet_worker,
                 chunksize: int | None = None) -> None:
        if jobs is not None and int(jobs) < 1:
            raise EngineError(f"jobs must be a positive number of worker processes, got {jobs}")
        self.jobs = default_jobs() if jobs is None else int(jobs)
        self.initializer = initializer
        self.chunksize = chunksize
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        pool = self._pool
        if pool is None or getattr(pool, "_broken", False) or getattr(pool, "_shutdown_thread", False):
            pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=_context(), initializer=self.initializer)
            self._pool = pool
        return pool

    def map(self, func: Callable[[A], B], items: Iterable[A], *, desc: str = "", unit: str = "item",
            progress: bool = True, chunksize: int | None = None) -> Iterator[B]:
        items = list(items)
        bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress or not items, leave=False,
                   dynamic_ncols=True)
        try:
            if self.jobs == 1 or len(items) <= 1:
                for item in items:
                    yield func(item)
                    bar.update(1)
                return
            size = chunksize or self.chunksize or max(1, min(8, len(items) // (4 * self.jobs) or 1))
            done = 0
            for attempt in range(2):
                try:
                    for result in self._executor().map(func, items[done:], chunksize=size):
                        done += 1
                        bar.update(1)
                        yield result
                    return
                except BrokenProcessPool:  # a worker died (e.g. a decoder crash): a new pool goes on, once
                    self._pool = None
                    if attempt:
                        raise
                    log.warning("%s: a worker process died; restarting the pool at item %d", desc or "map", done)
        finally:
            bar.close()

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers (items not started are cancelled; with `wait`, running ones finish first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SHARED: dict[tuple[int, Any], LocalEngine] = {}


def shared_local_engine(jobs: int | None = None, *, initializer: Callable[[], None] | None = quiet_worker
                        ) -> LocalEngine:
    """One LocalEngine per (jobs, initializer) for the life of this process: callers that map chunk after
    chunk (a builder aligning batch by batch) pay the workers' start-up and model loading once."""
    key = (default_jobs() if jobs is None else int(jobs), initializer)
    engine = _SHARED.get(key)
    if engine is None:
        if not _SHARED:
            atexit.register(_close_shared)
        engine = _SHARED[key] = LocalEngine(key[0], initializer=initializer)
    return engine


def _close_shared() -> None:
    for engine in _SHARED.values():
        engine.close(wait=False)  # at exit: do not wait for workers
    _SHARED.clear()


def map_ordered(func: Callable[[A], B], items: Iterable[A], *, jobs: int | None = None, desc: str = "",
                unit: str = "item", total: int | None = None, chunksize: int = 4,
                progress: bool = True) -> Iterator[B]:
    """Yield func(item) for each item, in order, on a pool made for this call (jobs=1: in this process).

    `total` is accepted for callers that pass it; the bar counts the items.
    """
    with LocalEngine(jobs, chunksize=chunksize) as engine:
        yield from engine.map(func, items, desc=desc, unit=unit, progress=progress)


# ------------------------------------------------------------------------------------------------ Spark

def java_version() -> int | None:
    """The major version of the `java` on PATH (or in JAVA_HOME), or None when there is none."""
    java = None
    if os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        java = str(candidate) if candidate.exists() else None
    java = java or shutil.which("java")
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in out.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and token[0].isdigit():
            major = int(head)
            return int(token.split(".")[1]) if major == 1 and "." in token else major
    return None


_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.spark.name = org.apache.spark
logger.spark.level = error
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
"""


def project_zip(target: str | os.PathLike[str], packages: Sequence[str] = PROJECT_PACKAGES) -> Path:
    """A zip of the project's packages that exist next to this one (sources only, no caches), for workers
    that do not have the project installed. Entries are sorted and dated 1980, so the bytes depend
    only on the sources."""
    root = Path(__file__).resolve().parents[1]
    target = Path(target)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in packages:
            folder = root / package
            if not (folder / "__init__.py").is_file():
                continue
            for path in sorted(folder.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".so"):
                    info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())
    return target


def _run_partition(func: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    # Runs on a Spark Python worker: one thread per worker for numeric libraries, as in the local pool.
    quiet_worker()
    for item in items:
        yield func(item)


class SparkEngine:
    """Per-item functions on Spark RDDs (`parallelize` -> `mapPartitions` -> `collect`, in order).

    `conf`: extra Spark settings (`spark.executor.memory`, `spark.executorEnv.X`, ...), applied last.
    `python`: the workers' Python (default: `conf["spark.pyspark.python"]`, else this interpreter; on a
    cluster, one with the dependencies at the same path on every worker).
    """

    name = "spark"

    def __init__(self, master: str = "local[2]", *, conf: Mapping[str, str] | None = None, python: str | None = None,
                 batch: int | None = None, app_name: str = "foundspeech") -> None:
        version = java_version()
        if version is None:
            raise EngineError("the Spark engine needs Java 17 or newer and none was found: run `make java` "
                              "(installs Debian's default-jre-headless) or set JAVA_HOME; or use --engine local")
        if version < 17:
            raise EngineError(f"the Spark engine needs Java 17 or newer, found Java {version}: run `make java` "
                              "or point JAVA_HOME at a newer runtime")
        try:
            from pyspark.sql import SparkSession
        except ImportError as error:  # pragma: no cover - pyspark is a pinned dependency
            raise EngineError(f"pyspark is not installed ({error}); run `make setup`") from None
        self.master = master
        self._tmp = tempfile.TemporaryDirectory(prefix="foundspeech-spark-")
        folder = Path(self._tmp.name)
        log4j = folder / "log4j2.properties"
        log4j.write_text(_LOG4J2)
        # Workers run this interpreter (the venv with numpy, soundfile, ...) unless told otherwise; pyspark
        # itself reads only the environment, so `spark.pyspark.python` from `conf` is applied here.
        os.environ["PYSPARK_PYTHON"] = python or (conf or {}).get("spark.pyspark.python") or sys.executable
        os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
        java_opts = f"-Dlog4j2.configurationFile=file:{log4j} -Dlog4j.configurationFile=file:{log4j}"
        builder = (SparkSession.builder.master(master).appName(app_name)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.extraJavaOptions", java_opts)
                   .config("spark.executor.extraJavaOptions", java_opts)
                   .config("spark.executorEnv.OMP_NUM_THREADS", "1")
                   .config("spark.executorEnv.PYTHONHASHSEED", "0")
                   .config("spark.python.worker.reuse", "true")
                   .config("spark.task.maxFailures", "1" if master.startswith("local") else "4"))
        for key, value in (conf or {}).items():
            builder = builder.config(str(key), str(value))
        logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines would interleave with our output
        started = time.perf_counter()
        self.session = builder.getOrCreate()
        self.context = self.session.sparkContext
        self.context.setLogLevel("ERROR")
        # addPyFile also puts the zip on this driver's sys.path, ahead of the source tree; the driver
        # keeps importing the project from where it already does (data files are read next to modules).
        path_before = list(sys.path)
        self.context.addPyFile(str(project_zip(folder / "foundspeech.zip")))
        sys.path[:] = path_before
        self.parallelism = max(1, int(self.context.defaultParallelism))
        self.batch = batch or max(512, 128 * self.parallelism)  # items per Spark job: jobs cost ~0.1 s each
        log.debug("Spark %s on %s started in %.1f s (parallelism %d)", self.context.version, master,
                  time.perf_counter() - started, self.parallelism)

    def map(self, func: Callable[[A], B], items: Iterable[A], *, desc: str = "", unit: str = "item",
            progress: bool = True) -> Iterator[B]:
        items = list(items)
        bar = tqdm(total=len(items), desc=f"{desc} [spark]", unit=unit, disable=not progress or not items,
                   leave=False, dynamic_ncols=True)
        run = functools.partial(_run_partition, func)
        try:
            for first in range(0, len(items), self.batch):
                batch = items[first:first + self.batch]
                slices = min(len(batch), 4 * self.parallelism)
                results = self.context.parallelize(batch, slices).mapPartitions(run).collect()
                if len(results) != len(batch):
                    raise EngineError(f"Spark returned {len(results)} results for {len(batch)} items")
                yield from results
                bar.update(len(batch))
        finally:
            bar.close()

    def close(self) -> None:
        try:
            self.session.stop()
        finally:
            self._tmp.cleanup()

    def __enter__(self) -> "SparkEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_spark_conf(pairs: Iterable[str]) -> dict[str, str]:
    """`["k=v", ...]` (the CLI's repeated `--spark-conf k=v`) -> {k: v}; a pair without `=` is an error."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EngineError(f"--spark-conf {pair!r}: expected KEY=VALUE, e.g. spark.executor.memory=4g")
        conf[key.strip()] = value
    return conf


def make_engine(name: str, *, jobs: int | None = None, spark_master: str = "local[2]",
                spark_conf: Mapping[str, str] | None = None) -> Engine:
    """`local` (a process pool of `jobs` workers) or `spark` (a session on `spark_master` with `spark_conf`)."""
    if name == "local":
        return LocalEngine(jobs)
    if name == "spark":
        return SparkEngine(spark_master, conf=spark_conf)
    raise EngineError(f"engine must be one of {', '.join(ENGINES)}, got {name!r}")
