"""`corpus.engines`: the local pool and Spark behind one interface; Spark ships the project to workers
that cannot import it otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from corpus.engines import (EngineError, LocalEngine, SparkEngine, java_version, make_engine, map_ordered,
                            parse_spark_conf, project_zip, shared_local_engine)

ROOT = Path(__file__).resolve().parents[1]


def crash_once(item: tuple[int, str]) -> int:
    """Kills its worker process the first time it sees item 3 (a marker file remembers)."""
    number, marker = item
    if number == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return number * number


def test_local_engine_keeps_order_and_survives_a_dead_worker(tmp_path):
    with LocalEngine(2) as engine:
        assert list(engine.map(abs, list(range(-30, 0)), progress=False)) == list(range(30, 0, -1))
        assert list(engine.map(abs, [], progress=False)) == []
        items = [(i, str(tmp_path / "crashed")) for i in range(12)]
        assert list(engine.map(crash_once, items, progress=False, chunksize=1)) == [i * i for i in range(12)]
        assert (tmp_path / "crashed").exists()
    assert list(map_ordered(abs, [-1, -2, 3], jobs=1, progress=False)) == [1, 2, 3]
    assert shared_local_engine(2) is shared_local_engine(2)
    with pytest.raises(EngineError, match="positive"):
        LocalEngine(0)
    with pytest.raises(EngineError, match="local, spark"):
        make_engine("dask")


def test_spark_settings_and_the_project_zip(tmp_path, monkeypatch):
    assert parse_spark_conf(["spark.executor.memory=4g", "spark.executorEnv.A=b=c"]) == {
        "spark.executor.memory": "4g", "spark.executorEnv.A": "b=c"}
    with pytest.raises(EngineError, match="KEY=VALUE"):
        parse_spark_conf(["spark.executor.memory"])
    first, second = project_zip(tmp_path / "a.zip"), project_zip(tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()  # same sources, same bytes
    names = zipfile.ZipFile(first).namelist()
    for module in ("corpus/__init__.py", "corpus/engines.py", "kws/features.py", "export/frontend.py"):
        assert module in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineError, match="make java"):
        SparkEngine("local[1]")


def where_things_come_from(value: int) -> dict:
    """A stage function that imports kws (which imports corpus and export): where do they load from?"""
    import numpy as np

    import corpus
    import kws
    from kws.features import int8_to_float

    return {"value": float(int8_to_float(np.array([value], np.int8))[0]), "kws": kws.__file__,
            "corpus": corpus.__file__, "features": sys.modules["kws.features"].__file__,
            "editable_finder": any("editable" in name for name in sys.modules), "no_site": sys.flags.no_site}


def _isolated_python(folder: Path) -> Path:
    """A worker interpreter that cannot import the project: no site processing (-S: the venv's editable
    install is a .pth file, so its finder never loads), no current folder on sys.path (-P), and a
    PYTHONPATH of the venv's site-packages plus what Spark adds, minus any folder holding the project."""
    site_packages = sysconfig.get_paths()["purelib"]
    script = folder / "isolated-python"
    script.write_text(f"""#!/bin/sh
kept=""
old_ifs=$IFS; IFS=:
for entry in $PYTHONPATH; do
  if [ -n "$entry" ] && [ ! -e "$entry/corpus/__init__.py" ] && [ ! -e "$entry/kws/__init__.py" ]; then
    kept="$kept:$entry"
  fi
done
IFS=$old_ifs
PYTHONPATH="{site_packages}$kept" exec "{sys.executable}" -S -P "$@"
""")
    script.chmod(0o755)
    return script


@pytest.mark.slow
@pytest.mark.skipif(java_version() is None, reason="Spark needs Java: run `make java`")
def test_spark_workers_import_the_project_only_from_the_shipped_zip(tmp_path, monkeypatch):
    python = _isolated_python(tmp_path)
    # the workers' interpreter, started from the source tree with the tree on PYTHONPATH, cannot import kws
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{os.environ.get('PYTHONPATH', '')}"}
    probe = subprocess.run([str(python), "-c", "import kws"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'kws'" in probe.stderr
    ok = subprocess.run([str(python), "-c", "import numpy, pyspark"], cwd=ROOT, env=env, capture_output=True)
    assert ok.returncode == 0, ok.stderr
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])  # the driver's tree is on the path the JVM hands on
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # ship this test's function by value
    try:
        with SparkEngine("local[2]", python=str(python), conf={"spark.python.worker.reuse": "false"}) as engine:
            results = list(engine.map(where_things_come_from, [-128, 0, 127], progress=False))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [r["value"] for r in results] == [where_things_come_from(v)["value"] for v in (-128, 0, 127)]
    for result in results:
        for module in ("kws", "corpus", "features"):
            assert "foundspeech.zip" in result[module], result
        assert result["no_site"] and not result["editable_finder"]
    assert "foundspeech.zip" not in where_things_come_from(0)["kws"]  # the driver kept its own tree
