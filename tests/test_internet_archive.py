"""Internet Archive items: license mapping, the item reader, and the synth-ia generator's promises
(realistically wrong captions, planted faults, exact ground truth, determinism)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from corpus.audio import load_audio
from corpus.cli import run_cli
from corpus.demo import internet_archive as demo
from corpus.demo.ia_captions import render_captions
from corpus.formats.internet_archive import (IAItemError, check_files, license_family, normalize_language, read_item,
                                             read_items)
from corpus.formats.srt import parse_srt, read_srt
from corpus.fsutil import sha256_file

SR = 16000


def _generate(out: Path, *extra: str) -> int:
    # 4 folders: 3 originals, all with bad captions (one of each kind), and 1 re-upload
    argv = ["synth-ia", "--out", str(out), "--items", "4", "--minutes", "0.3", "--bad-transcript-share", "0.75",
            "--near-duplicates", "1", *extra]
    return run_cli("corpus", "test", [demo.register], argv)


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ia")
    assert _generate(out, "--jobs", "1") == 0
    return out


def _truth(out: Path) -> dict[str, dict]:
    with gzip.open(out / demo.TRUTH_NAME, "rt", encoding="utf-8") as handle:
        return {r["identifier"]: r for r in map(json.loads, handle)}


@pytest.mark.parametrize("url,family", [
    ("https://creativecommons.org/licenses/by/4.0/", "cc-by"),
    ("http://creativecommons.org/licenses/by/3.0", "cc-by"),
    ("http://www.creativecommons.org/licenses/by/2.0/legalcode", "cc-by"),
    ("https://creativecommons.org/licenses/by/3.0/us/", "cc-by"),
    ("HTTPS://CreativeCommons.org/licenses/by-sa/4.0/deed.en", "cc-by-sa"),
    ("http://creativecommons.org/licenses/by-sa/2.5", "cc-by-sa"),
    ("http://creativecommons.org/publicdomain/mark/1.0/", "public-domain"),
    ("https://creativecommons.org/publicdomain/zero/1.0", "public-domain"),
    ("http://creativecommons.org/licenses/publicdomain/", "public-domain"),
    ("http://creativecommons.org/licenses/by-nc/3.0/", "other"),
    ("http://creativecommons.org/licenses/by-nc-nd/4.0/", "other"),
    ("http://creativecommons.org/licenses/by/", "unknown"),       # no version: not a license URL
    ("https://example.org/licenses/by/4.0/", "unknown"),
    ("all rights reserved", "unknown"),
    ("", "unknown"),
    (None, "unknown"),
])
def test_license_family(url, family):
    assert license_family(url) == family


def test_normalize_language():
    assert normalize_language("eng") == "en" and normalize_language(["Swahili"]) == "sw"
    assert normalize_language("Klingon") == "klingon" and normalize_language(None) == ""


def test_read_generated_items(items):
    truth = _truth(items)
    found, errors = read_items(items)
    assert errors == [] and [i.identifier for i in found] == sorted(truth)
    for item in found:
        record = truth[item.identifier]
        assert item.license == record["license"] and item.license_url == record["license_url"]
        assert item.license in ("cc-by", "cc-by-sa", "public-domain")
        assert item.language == "en" and item.title == record["title"]
        assert item.audio_path.name == f"{item.identifier}.mp3" and item.srt_path.name == f"{item.identifier}.srt"
        assert {f.format for f in item.files} == {"VBR MP3", "SubRip"}
        assert check_files(item) == []
        assert load_audio(item.audio_path).size / SR == pytest.approx(record["duration_s"], abs=1e-3)
        assert record["duration_s"] >= 0.3 * 60 or record["faults"]["duplicate_of"]


def test_reader_errors(items, tmp_path):
    identifier = sorted(p.name for p in items.iterdir() if p.is_dir())[0]

    def broken(change) -> Path:
        folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}" / identifier
        shutil.copytree(items / identifier, folder)
        change(folder)
        return folder

    cases = [
        (lambda f: (f / f"{identifier}.mp3").unlink(), "audio file is missing"),
        (lambda f: (f / f"{identifier}.srt").unlink(), "SubRip captions are missing"),
        (lambda f: (f / f"{identifier}_metadata.json").unlink(), "metadata file is missing"),
        (lambda f: (f / f"{identifier}_metadata.json").write_text('{"metadata": {"identifier": '),
         "invalid JSON at line 1"),
        (lambda f: (f / f"{identifier}_metadata.json").write_text('[1, 2]'), "expected a JSON object"),
        (lambda f: (f / f"{identifier}_metadata.json").write_text('{"metadata": {"identifier": "other"}}'),
         "does not match the folder name"),
        (lambda f: (f / f"{identifier}_metadata.json").write_text(
            json.dumps({"metadata": {"identifier": identifier}, "files": [{"name": "x", "size": "big"}]})),
         "is not a number"),
    ]
    for change, message in cases:
        folder = broken(change)
        with pytest.raises(IAItemError, match=message) as caught:
            read_item(folder)
        assert str(folder) in str(caught.value)
    # unknown license: readable, flagged
    folder = broken(lambda f: None)
    meta = folder / f"{identifier}_metadata.json"
    document = json.loads(meta.read_text())
    document["metadata"]["licenseurl"] = "http://example.com/my-license"
    meta.write_text(json.dumps(document))
    assert read_item(folder).license == "unknown"
    # a tampered file no longer matches the metadata
    (folder / f"{identifier}.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nchanged\n")
    assert "differs from the metadata" in check_files(read_item(folder))[0]


def test_planted_faults(items):
    truth = _truth(items)
    faults = {k: r["faults"] for k, r in truth.items()}
    duplicates = [k for k, f in faults.items() if f["duplicate_of"]]
    assert len(duplicates) == 1 and faults[duplicates[0]]["duplicate_of"] in truth
    kinds = sorted(f["bad_transcript"] for f in faults.values() if f["bad_transcript"])
    assert kinds == ["non_speech", "other_item", "other_language"]
    for identifier, record in truth.items():
        cues = read_srt(items / identifier / f"{identifier}.srt").cues
        texts = [c.text.replace("\n", " ") for c in cues]
        spoken = [s["text"] for s in record["sentences"]]
        kind = record["faults"]["bad_transcript"]
        if kind == "non_speech":
            assert set(texts) <= {"[music]", "[applause]"}
        elif kind == "other_language":
            assert not set(texts) & set(spoken)
            assert record["faults"]["bad_transcript_source"] != "en"
        elif kind == "other_item":
            other = truth[record["faults"]["bad_transcript_source"]]
            assert other["identifier"] != identifier
            assert texts[:2] == [s["text"] for s in other["sentences"][:2]]
        else:  # the re-upload has good captions of its own audio; a cue may hold two sentences
            allowed = set(spoken) | {f"{a} {b}" for a, b in zip(spoken, spoken[1:])} | {"[music]"}
            assert set(texts) <= allowed


def test_near_duplicate_is_trimmed_gained_copy(items):
    truth = _truth(items)
    dup = next(r for r in truth.values() if r["faults"]["duplicate_of"])
    source = truth[dup["faults"]["duplicate_of"]]
    a = load_audio(items / source["identifier"] / f"{source['identifier']}.mp3")
    b = load_audio(items / dup["identifier"] / f"{dup['identifier']}.mp3")
    trim = int(round(dup["faults"]["trim_start_s"] * SR))
    assert len(b) == len(a) - trim
    a = a[trim:]
    gain = float(np.sqrt(np.mean(b ** 2) / np.mean(a ** 2)))
    assert 20 * np.log10(gain) == pytest.approx(dup["faults"]["gain_db"], abs=0.5)
    assert abs(dup["faults"]["gain_db"]) >= 1.0
    assert np.corrcoef(a, b)[0, 1] > 0.95
    # the same words, shifted by the trim
    first = dup["sentences"][-1]["words"][0]
    match = next(w for s in source["sentences"] for w in s["words"] if w["text"] == first["text"]
                 and abs(w["start_s"] - dup["faults"]["trim_start_s"] - first["start_s"]) < 1e-5)
    assert match


def test_truth_words_are_louder_than_pauses_and_music_is_audible(items):
    for identifier, record in _truth(items).items():
        audio = load_audio(items / identifier / f"{identifier}.mp3")
        rms = lambda a, b: float(np.sqrt(np.mean(audio[int(a * SR):int(b * SR)] ** 2)))  # noqa: E731
        pauses = [rms(s["start_s"] + 0.03, s["end_s"] - 0.03) for s in record["stretches"]
                  if s["kind"] == "silence" and s["end_s"] - s["start_s"] > 0.1]
        words = [w for s in record["sentences"] for w in s["words"]]
        assert pauses and len(words) > 10
        quietest_word = min(rms(w["start_s"], w["end_s"]) for w in words)
        assert quietest_word > 10 * max(pauses), identifier
        for a, b in zip(words, words[1:]):
            assert a["start_s"] < a["end_s"] <= b["start_s"] + 1e-6
        for stretch in record["stretches"]:
            if stretch["kind"] in ("music", "noise") and stretch["end_s"] - stretch["start_s"] > 0.5:
                assert rms(stretch["start_s"], stretch["end_s"]) > 10 * max(pauses)


def test_captions_are_wrong_like_real_ones():
    rng = np.random.default_rng(3)
    sentences, t = [], 1.0
    for n in range(60):
        words = [{"text": "w", "start_s": t, "end_s": t + 2.0}]
        sentences.append({"text": f"Sentence number {n} is rather long for one line.", "start_s": t,
                          "end_s": t + 2.0, "words": words})
        t += 2.0 + 1.5
    srt, info = render_captions(sentences, [], rng, replacement=None, non_speech=False, crlf=True)
    assert "\r\n" in srt and re.search(r"\d\d:\d\d:\d\d,\d\d\s", srt)  # some two-digit milliseconds
    assert info["merged_cues"] > 0 and info["two_digit_ms_timestamps"] > 0
    cues = parse_srt(srt).cues
    assert len(cues) == len(sentences) - info["merged_cues"]
    assert any("\n" in c.text for c in cues)  # long text wrapped onto two lines
    starts = {s["text"]: s["start_s"] for s in sentences}
    true = np.array([starts[c.text.split("\n")[0] if c.text.split("\n")[0] in starts else c.text.replace("\n", " ")]
                     for c in cues])
    written = np.array([c.start_s for c in cues])
    slope, intercept = np.polyfit(true, written, 1)
    assert slope == pytest.approx(1 + info["drift"], abs=2e-3) and abs(slope - 1) <= 0.0101
    assert abs(intercept) <= 2.1
    # every start is off the drifted, shifted truth by a jitter of 0.1-0.3 s (plus timestamp rounding),
    # except starts pushed up to 0:00 by a negative offset
    expected = info["offset_s"] + true * (1 + info["drift"])
    jitter = np.abs(written - expected)[written > 0]
    assert len(jitter) >= len(cues) - 1
    assert jitter.min() >= 0.1 - 0.006 and jitter.max() <= 0.3 + 0.006


def test_deterministic_for_any_jobs(items, tmp_path):
    again = tmp_path / "again"
    assert _generate(again, "--jobs", "2") == 0
    files = sorted(str(p.relative_to(items)) for p in items.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(again)) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert sha256_file(items / name) == sha256_file(again / name), name
    other = tmp_path / "other"
    argv = ["synth-ia", "--out", str(other), "--items", "1", "--minutes", "0.1", "--near-duplicates", "0",
            "--seed", "5", "--jobs", "1"]
    assert run_cli("corpus", "test", [demo.register], argv) == 0
    assert _truth(other).keys() and _truth(other) != {k: v for k, v in _truth(items).items() if k in _truth(other)}


def test_cli_refuses_existing_items_and_bad_options(items, tmp_path, capsys):
    assert _generate(items) == 2
    assert "already holds synthetic items" in capsys.readouterr().err
    argv = ["synth-ia", "--out", str(tmp_path / "x"), "--items", "2", "--near-duplicates", "2"]
    assert run_cli("corpus", "test", [demo.register], argv) == 2
    assert "near_duplicates must be below items" in capsys.readouterr().err
