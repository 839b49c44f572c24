"""The Spark engine (pyspark, `local[2]`) runs the same per-item functions as the local engine: every byte
of the release must be identical. Starts a Spark session (~10-20 s), hence slow."""

from __future__ import annotations

import json

import pytest

from corpus.mswc import build_mswc, read_report
from corpus.engines import java_version
from test_mswc_common import built_release, release_files, synthetic_cv, test_config

pytestmark = pytest.mark.slow


@pytest.mark.skipif(java_version() is None, reason="Spark needs Java: run `make java`")
def test_spark_output_equals_local_output_byte_for_byte(tmp_path_factory, tmp_path):
    cv = synthetic_cv(tmp_path_factory)
    local = built_release(tmp_path_factory, cv)
    spark = build_mswc(cv, "lg", tmp_path / "spark", test_config(cv), engine="spark", spark_master="local[2]",
                       progress=False)
    assert read_report(spark)["valid"]
    local_files, spark_files = release_files(local), release_files(spark)
    assert sorted(spark_files) == sorted(local_files)
    assert [name for name in local_files if local_files[name] != spark_files[name]] == []
    for name in ("extract/clips.jsonl.gz", "align/alignments.jsonl.gz", "score/embed.checkpoint.jsonl"):
        assert (spark / ".work" / name).read_bytes() == (local / ".work" / name).read_bytes(), name
    assert set(json.loads((spark / ".work" / "timings.json").read_text())) == {
        "ingest", "normalize", "align", "extract", "score", "split", "validate"}
