"""The MSWC builder end to end on a small synthetic Common Voice tree with planted faults (local engine,
TextGrid import of truth alignments): layout, report, bad inputs, resume after SIGKILL, CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from corpus.audio import audio_info, load_audio
from corpus.cli import run_cli
from corpus.formats.mswc import read_release, read_scores
from corpus.manifest import read_jsonl
from corpus.mswc import BuildError, BuildStopped, build_mswc, read_clip_records, read_report
from corpus.mswc.cli import register
from test_mswc_common import REPEATED_ID, built_release, planted, release_files, synthetic_cv, test_config




@pytest.fixture(scope="module")
def cv(tmp_path_factory):
    return synthetic_cv(tmp_path_factory)


@pytest.fixture(scope="module")
def config(cv):
    return test_config(cv)


@pytest.fixture(scope="module")
def built(cv, tmp_path_factory):
    return built_release(tmp_path_factory, cv)


def test_release_layout_and_report(built, cv):
    names = {p.name for p in built.iterdir()}
    assert {"clips", "lg_splits.csv", "lg_train.csv", "lg_dev.csv", "lg_test.csv", "metadata.json", "lg_scores.csv",
            "alphabet.json", "keyword_frequency.png", "report.json", "build_config.json"} <= names
    report = read_report(built)
    assert report["valid"] and list(report["stages"]) == ["ingest", "normalize", "align", "extract", "score", "split",
                                                          "validate"]
    for stage in ("ingest", "normalize", "align", "score", "split", "validate"):
        section = report["stages"][stage]
        assert section["in"] == section["kept"] + sum(section["dropped"].values()) > 0, stage
    release = read_release(built.parent, "lg")
    meta = json.loads((built / "metadata.json").read_text())["lg"]
    assert meta["number_of_words"] == len(release.words()) and sum(meta["wordcounts"].values()) == len(release.clips)
    assert len(read_scores(built / "lg_scores.csv")) == len(release.clips)
    assert (built / "keyword_frequency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_inputs_are_reported_with_item_and_reason(built, cv):
    report = read_report(built)
    problems = {(p["item"], p["reason"]) for s in report["stages"].values() for p in s["problems"]}
    for item, reason in planted(cv).items():
        assert (item, reason) in problems, (item, reason)
    truth = {Path(r["path"]).stem: r for r in read_jsonl(cv / "synthetic_truth.jsonl.gz") if r["tsv"] == "validated"}
    corrupt = {k for k, r in truth.items() if "corrupt_clip" in r["faults"]}
    silent = {k for k, r in truth.items() if "silent_clip" in r["faults"]}
    ingest = {p["item"]: p["reason"] for p in report["stages"]["ingest"]["problems"]}
    assert corrupt and all(ingest[k] == "unreadable_audio" for k in corrupt)
    assert silent and all(ingest[k] == "silent" for k in silent)
    clips = read_clip_records(built)
    spoken_by = {k: r for k, r in truth.items()}
    for clip in clips:  # odd-Unicode sentences were normalized, and their clips hold the spoken word
        record = spoken_by.get(clip["recording_id"])
        if record and "odd_unicode" in record["faults"]:
            assert clip["word"] in record["spoken_text"].lower()


def test_every_clip_is_one_second_and_names_are_safe(built):
    release = read_release(built.parent, "lg")
    links = [c.link for c in release.clips]
    assert len(links) == len(set(links))
    for clip in release.clips[::7]:
        path = release.clip_path(clip)
        assert audio_info(path).sample_rate_hz == 48000
        assert len(load_audio(path, sample_rate_hz=16000)) == 16000
    folders = {p.name for p in (built / "clips").iterdir()}
    assert all(f not in (".", "..") and "/" not in f and f == f.strip() for f in folders)
    assert all(any((built / "clips" / f).iterdir()) for f in folders)  # no empty folders
    repeated = [c for c in links if REPEATED_ID in c]
    assert any(link.endswith("__2.opus") for link in repeated), repeated  # the shared word, twice in one clip


def test_splits_are_speaker_disjoint_with_gender(built):
    release = read_release(built.parent, "lg")
    sets: dict[str, set] = {}
    for clip in release.clips:
        sets.setdefault(clip.speaker, set()).add(clip.set)
    assert all(len(s) == 1 for s in sets.values())
    assert {c.gender for c in release.clips} <= {"MALE", "FEMALE"} and len({c.gender for c in release.clips}) == 2
    balance = read_report(built)["stages"]["split"]["gender_balance"]
    assert sum(sum(v.values()) for v in balance["clips"].values()) == len(release.clips)


def test_rerun_skips_finished_work_and_from_stage_redoes_it(built, config, cv, tmp_path):
    copy = tmp_path / "out" / "lg"
    shutil.copytree(built, copy)
    before = release_files(copy)
    started = time.perf_counter()
    build_mswc(cv, "lg", copy.parent, config, jobs=2, progress=False)
    assert time.perf_counter() - started < 5 and release_files(copy) == before
    timings = json.loads((copy / ".work" / "timings.json").read_text())
    assert timings == {}  # nothing ran
    dropping = dataclasses.replace(config, drop_outliers=10.0)
    build_mswc(cv, "lg", copy.parent, dropping, jobs=2, progress=False)
    assert set(json.loads((copy / ".work" / "timings.json").read_text())) == {"split", "validate"}
    release = read_release(copy.parent, "lg")
    per_word = Counter(c.word for c in release.clips)
    assert sum(not c.valid for c in release.clips) == sum(math.ceil(0.1 * n - 1e-9) for n in per_word.values())
    scores = read_scores(copy / "lg_scores.csv")
    for word in per_word:
        valid = [scores[c.link][1] for c in release.clips if c.word == word and c.valid]
        invalid = [scores[c.link][1] for c in release.clips if c.word == word and not c.valid]
        assert not invalid or min(invalid) >= max(valid)
    build_mswc(cv, "lg", copy.parent, config, jobs=1, progress=False, from_stage="score")
    assert set(json.loads((copy / ".work" / "timings.json").read_text())) == {"score", "split", "validate"}
    assert release_files(copy) == before
    with pytest.raises(BuildError, match="has not run"):
        build_mswc(cv, "lg", tmp_path / "fresh", config, from_stage="extract", progress=False)


def test_resume_after_sigkill_mid_extraction_is_byte_identical(built, cv, config, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "corpus.mswc", "build", "--cv", str(cv), "--lang", "lg", "--out", str(out),
               "--textgrids", config.textgrids, "--min-clips", "3", "--jobs", "1", "--quiet"]
    (tmp_path / "cfg.json").write_text(json.dumps({"alphabet_min_count": 2}))
    command += ["--config", str(tmp_path / "cfg.json")]
    log = out / "lg" / ".work" / "extract" / "extract.checkpoint.jsonl"
    total = len(list(read_jsonl(built / ".work" / "align" / "alignments.jsonl.gz")))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if log.exists() and len(log.read_bytes().splitlines()) >= 5:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the build finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    done = len(log.read_bytes().splitlines())
    assert 5 <= done < total and not (out / "lg" / "lg_splits.csv").exists()
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert release_files(out / "lg") == release_files(built)


def test_on_error_stop_stops_at_the_first_bad_item(cv, config, tmp_path):
    with pytest.raises(BuildStopped, match="bad_tsv_row"):
        build_mswc(cv, "lg", tmp_path, dataclasses.replace(config, on_error="stop"), jobs=1, progress=False)


def test_cli_builds_and_reports_errors(cv, config, tmp_path, capsys):
    argv = ["mswc", "build", "--cv", str(cv), "--lang", "lg", "--out", str(tmp_path), "--textgrids", config.textgrids,
            "--to-stage", "normalize", "--on-error", "stop"]
    assert run_cli("python -m corpus", "test", [register], argv) == 2
    assert "bad_tsv_row" in capsys.readouterr().err
    argv[-2:] = ["--jobs", "1"]
    assert run_cli("python -m corpus", "test", [register], argv) == 0
    output = capsys.readouterr().out
    assert "stage" in output and "normalize" in output and "wrote" in output
    assert list(read_report(tmp_path / "lg")["stages"]) == ["ingest", "normalize"]
    assert run_cli("python -m corpus", "test", [register], ["mswc", "build", "--cv", str(tmp_path / "none"), "--lang",
                                                             "lg", "--out", str(tmp_path)]) == 2
    result = subprocess.run([sys.executable, "-m", "corpus.mswc", "build", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "example" in result.stdout and "--engine" in result.stdout
