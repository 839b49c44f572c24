"""People's Speech builder end to end on tiny synthetic IA items: a build killed mid-way and resumed equals
an uninterrupted Spark build byte for byte; the outputs load with their own libraries (pyarrow, soundfile)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if path.is_file() and rel.parts[0] != ".work" and path.name != "report.json" and path.suffix != ".png":
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> Path:
    from corpus.demo.internet_archive import IASynthConfig, generate_ia

    folder = tmp_path_factory.mktemp("ia")
    generate_ia(IASynthConfig(out=folder, items=4, minutes=1.0, language="en", seed=1, bad_transcript_share=0.25,
                              near_duplicates=1, jobs=2))
    return folder


@pytest.fixture(scope="module")
def head_start(tmp_path_factory) -> Path:
    """A tiny English head start (the default one takes minutes to build; the builder only adapts it)."""
    from corpus.align import AlignerConfig
    from corpus.align.headstart import HeadStartConfig, head_start_model

    tiny = HeadStartConfig(sentences=60, speakers=8, seed=3, other_readings=0,  # espeak only (Flite: test_align_headstart)
                           aligner=AlignerConfig(min_unit_count=2, gmm_mixtures=(1, 1, 2, 4), mlp_rounds=2,
                                                 mlp_hidden=(128, 128), mlp_epochs=(4, 2)))
    return head_start_model("en", config=tiny, cache_dir=tmp_path_factory.mktemp("models"), jobs=2, progress=False)


def _cli(items: Path, out: Path, head_start: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "corpus", "peoples-speech", "build", "--items", str(items), "--out", str(out),
            "--lang", "en", "--jobs", "2", "--quiet", "--shard-mib", "1", "--head-start", str(head_start), *extra]


def test_killed_build_resumes_and_equals_spark(items, head_start, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "local"
    process = subprocess.Popen(_cli(items, out, head_start), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = out / ".work" / "align" / "checkpoint.jsonl"
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        if checkpoint.exists() and checkpoint.stat().st_size > 0:
            os.killpg(process.pid, signal.SIGKILL)  # mid-alignment: some documents done, others not
            break
        time.sleep(0.05)
    process.wait()
    resumed = subprocess.run(_cli(items, out, head_start), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert set(report["stages"]) == {"ingest", "normalize", "align", "segment", "grade", "dedup", "split", "write"}
    assert report["timeouts"] == 0
    assert report["stages"]["align"]["windows"] <= report["stages"]["align"]["window_bound"]
    # the planted bad transcript never reaches the dataset
    truth = [json.loads(line) for line in gzip.open(items / "synthetic_truth.jsonl.gz", "rt")]
    bad = {t["identifier"] for t in truth if t["faults"]["bad_transcript"]}
    rows = [json.loads(line) for line in gzip.open(out / ".work" / "split" / "rows.jsonl.gz", "rt")]
    assert bad and not bad & {r["document"] for r in rows}
    # a rerun of a finished build does nothing and changes nothing
    before = _digest(out)
    again = subprocess.run(_cli(items, out, head_start), env=env, capture_output=True, text=True)
    assert again.returncode == 0 and _digest(out) == before

    from corpus.peoples_speech.config import BuildConfig
    from corpus.peoples_speech.pipeline import build_peoples_speech

    spark_out = tmp_path / "spark"
    config = BuildConfig(language="en", shard_bytes=1024 * 1024, head_start=str(head_start))
    build_peoples_speech(items, spark_out, config, engine="spark",
                         jobs=2, progress=False)
    assert _digest(spark_out) == before
    _check_formats(out, rows)


def _check_formats(out: Path, rows: list[dict]) -> None:
    import pyarrow.parquet as pq
    import soundfile as sf

    assert rows, "the tiny build kept no utterance"
    manifests = sorted(out.glob("*/*/nemo_manifest.jsonl"))
    assert manifests and {m.parent.parent.name for m in manifests} <= {"clean", "clean_sa", "noisy", "noisy_sa"}
    for manifest in manifests:
        table = pq.read_table(manifest.parent / "data.parquet")
        assert table.column_names == ["id", "audio", "duration_ms", "text", "cer", "tier", "license", "source_item"]
        lines = [json.loads(line) for line in manifest.read_text().splitlines()]
        assert len(lines) == table.num_rows
        for line, record in zip(lines, table.to_pylist()):
            assert set(line) == {"audio_filepath", "text", "duration"} and line["text"] == record["text"]
            info = sf.info(out / line["audio_filepath"])
            assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
            assert abs(info.duration - line["duration"]) < 1e-3 and 1.0 <= info.duration <= 15.0 + 0.31
            assert record["audio"]["bytes"] == (out / line["audio_filepath"]).read_bytes()
            assert record["tier"] in ("clean", "noisy") and record["license"].startswith("http")
        from corpus.manifest import Recording, Supervision, read_manifest

        assert len(list(read_manifest(manifest.parent / "supervisions.jsonl.gz", Supervision))) == len(lines)
        assert len(list(read_manifest(manifest.parent / "recordings.jsonl.gz", Recording))) == len(lines)
    with open(out / "credits.csv", newline="") as handle:
        credits = list(csv.DictReader(handle))
    assert {c["item_id"] for c in credits} == {r["item"] for r in rows}
    assert all(c["license_url"] and c["title"] for c in credits)
    assert list((out / "shards").rglob("*.tar"))
    for name in ("cer_histogram.png", "utterance_lengths.png", "caption_offsets.png", "dedup.json"):
        assert (out / name).stat().st_size > 0


def test_on_error_stop_names_the_bad_item(tmp_path):
    import shutil

    from corpus.peoples_speech.config import BuildConfig
    from corpus.peoples_speech.pipeline import BuildError, BuildStopped, build_peoples_speech

    items = tmp_path / "items"
    (items / "broken").mkdir(parents=True)
    (items / "broken" / "broken.mp3").write_bytes(b"not audio")
    with pytest.raises(BuildStopped, match="broken: missing_metadata"):
        build_peoples_speech(items, tmp_path / "out", BuildConfig(on_error="stop"), jobs=1, progress=False)
    shutil.rmtree(tmp_path / "out")
    with pytest.raises(BuildError, match="no usable document"):
        build_peoples_speech(items, tmp_path / "out", BuildConfig(), jobs=1, progress=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["stages"]["ingest"]["problems"][0]["item"] == "broken"
