"""Where the per-item work runs: a local process pool (default) or Apache Spark.

Both engines run the SAME top-level per-item functions of the stage modules and yield the results in
input order, so a stage's output does not depend on the engine. Work goes out in batches; the driver
records each finished item in the stage's checkpoint log as results arrive, which is what lets a killed
build resume on either engine.

Spark: a SparkSession on `master` (`local[2]` in the tests, `spark://...`, `yarn`, `k8s://...` for a
cluster). Items are `parallelize`d, run with `mapPartitions` over the per-item function and `collect`ed
in partition order. Spark needs Java 17+; without it `SparkEngine` raises `EngineError` saying what to
install. On a cluster the workers must see the same paths (shared filesystem) and a Python with the
project's dependencies; the `corpus` package itself is shipped to them as a zip.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from tqdm import tqdm

from corpus.engine import default_jobs, map_ordered

__all__ = ["EngineError", "LocalEngine", "SparkEngine", "make_engine", "java_version"]

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """The engine cannot run (e.g. Spark without Java)."""


class LocalEngine:
    """`corpus.engine.map_ordered` on a process pool of `jobs` workers (1: in this process)."""

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = default_jobs() if jobs is None else max(1, int(jobs))

    def map(self, func: Callable[[Any], Any], items: Iterable[Any], *, desc: str = "", unit: str = "item",
            progress: bool = True) -> Iterator[Any]:
        items = list(items)
        if not items:
            return iter(())
        return map_ordered(func, items, jobs=self.jobs, desc=desc, unit=unit, progress=progress,
                           chunksize=max(1, min(8, len(items) // (4 * self.jobs) or 1)))

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def _run_partition(func: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    # Runs on a Spark Python worker: one thread per worker for numeric libraries, as in the local pool.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for item in items:
        yield func(item)


def _package_zip(folder: Path) -> Path:
    """A zip of the `corpus` package for the cluster's workers (local masters import it directly)."""
    package = Path(__file__).resolve().parents[1]
    target = folder / "corpus.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, Path("corpus") / path.relative_to(package))
    return target


class SparkEngine:
    """Per-item functions on Spark RDDs (`parallelize` -> `mapPartitions` -> `collect`, in order)."""

    name = "spark"

    def __init__(self, master: str = "local[2]", *, batch: int | None = None, app_name: str = "foundspeech-mswc"
                 ) -> None:
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
        log4j = Path(self._tmp.name) / "log4j2.properties"
        log4j.write_text(_LOG4J2)
        # Workers must run this interpreter (the venv with numpy, soundfile, ...).
        os.environ["PYSPARK_PYTHON"] = sys.executable
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
        logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines would interleave with our output
        started = time.perf_counter()
        self.session = builder.getOrCreate()
        self.context = self.session.sparkContext
        self.context.setLogLevel("ERROR")
        if not master.startswith("local"):
            self.context.addPyFile(str(_package_zip(Path(self._tmp.name))))
        self.parallelism = max(1, int(self.context.defaultParallelism))
        self.batch = batch or max(512, 128 * self.parallelism)  # items per Spark job: jobs cost ~0.1 s each
        log.debug("Spark %s on %s started in %.1f s (parallelism %d)", self.context.version, master,
                  time.perf_counter() - started, self.parallelism)

    def map(self, func: Callable[[Any], Any], items: Iterable[Any], *, desc: str = "", unit: str = "item",
            progress: bool = True) -> Iterator[Any]:
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
                for result in results:
                    yield result
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


def make_engine(name: str, *, jobs: int | None = None, spark_master: str = "local[2]"):
    if name == "local":
        return LocalEngine(jobs)
    if name == "spark":
        return SparkEngine(spark_master)
    raise ValueError(f"engine must be local or spark, got {name!r}")
