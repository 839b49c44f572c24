"""LibriSpeech layout: the synthetic generator writes the real format, the reader reads it back and
reports (not crashes on) broken files; ground truth word times match the audio."""

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
from corpus.demo import librispeech as demo
from corpus.formats.librispeech import (LibriSpeechError, SpeakerRow, librispeech_text, read_chapters,
                                        read_librispeech, read_speakers, write_speakers)
from corpus.fsutil import sha256_file


def _generate(out: Path, *extra: str) -> int:
    argv = ["synth-librispeech", "--out", str(out), "--speakers", "2", "--chapters-per-speaker", "1",
            "--utterances-per-chapter", "2", *extra]
    return run_cli("corpus", "test", [demo.register], argv)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("libri")
    assert _generate(out, "--jobs", "1") == 0
    return out


def _truth(out: Path, split: str = "test-clean") -> list[dict]:
    with gzip.open(demo.truth_path(out, split), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_layout_and_formats(tree):
    root = tree / "LibriSpeech"
    flacs = sorted(root.glob("test-clean/*/*/*.flac"))
    assert len(flacs) == 4
    for flac in flacs:
        speaker, chapter, utt = flac.stem.split("-")
        assert flac.parent.name == chapter and flac.parent.parent.name == speaker and re.fullmatch(r"\d{4}", utt)
    transcripts = sorted(root.glob("test-clean/*/*/*.trans.txt"))
    assert len(transcripts) == 2
    for transcript in transcripts:
        speaker, chapter = transcript.parent.parent.name, transcript.parent.name
        assert transcript.name == f"{speaker}-{chapter}.trans.txt"
        lines = transcript.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2
        for line in lines:
            assert re.fullmatch(rf"{speaker}-{chapter}-\d{{4}} [A-Z']+( [A-Z']+)*", line), line
    speakers_txt = (root / "SPEAKERS.TXT").read_text()
    assert ";ID  |SEX| SUBSET           |MINUTES| NAME" in speakers_txt
    assert re.search(r"^\d+ *\| [FM] \| test-clean +\| +\d+\.\d\d \| .+$", speakers_txt, re.M)
    chapters, problems = read_chapters(root / "CHAPTERS.TXT")
    assert problems == [] and len(chapters) == 2
    assert {c.subset for c in chapters.values()} == {"test-clean"}
    assert ";ID    |READER|MINUTES| SUBSET           | PROJ.|BOOK ID| CH. TITLE" in (root / "CHAPTERS.TXT").read_text()


def test_reader_round_trip(tree):
    recordings, supervisions, problems = read_librispeech(tree, "test-clean")
    assert problems == []
    assert [r.id for r in recordings] == [s.id for s in supervisions] and len(recordings) == 4
    speakers, _ = read_speakers(tree / "LibriSpeech" / "SPEAKERS.TXT")
    truth = {t["id"]: t for t in _truth(tree)}
    for recording, sup in zip(recordings, supervisions):
        assert recording.sample_rate_hz == 16000 and Path(recording.path).is_file()
        assert sup.language == "en" and sup.start_s == 0 and sup.duration_s == pytest.approx(recording.duration_s)
        assert sup.gender == speakers[sup.speaker].gender and sup.gender in ("male", "female")
        assert sup.text == truth[sup.id]["text"] and sup.speaker == truth[sup.id]["speaker"]
        assert sup.custom["chapter"] == Path(recording.path).parent.name
        assert recording.duration_s == pytest.approx(truth[sup.id]["duration_s"], abs=1e-3)
    # the reader also accepts the LibriSpeech folder itself
    assert len(read_librispeech(tree / "LibriSpeech", "test-clean")[0]) == 4


def test_truth_words_are_louder_than_the_pauses(tree):
    for record in _truth(tree):
        flac = next((tree / "LibriSpeech" / "test-clean").glob(f"*/*/{record['id']}.flac"))
        audio = load_audio(flac)
        words = record["words"]
        assert " ".join(w["text"] for w in words) == record["text"]
        rms = lambda a, b: float(np.sqrt(np.mean(audio[int(a * 16000):int(b * 16000)] ** 2)))  # noqa: E731
        lead = rms(0.0, words[0]["start_s"] - 0.02)
        tail = rms(words[-1]["end_s"] + 0.05, len(audio) / 16000)
        loudest_pause = max(lead, tail)
        for word in words:
            assert word["end_s"] > word["start_s"]
            assert rms(word["start_s"], word["end_s"]) > 5 * loudest_pause, (record["id"], word)
        assert words[-1]["end_s"] <= record["duration_s"]


def test_same_seed_same_corpus_for_any_jobs(tree, tmp_path):
    assert _generate(tmp_path / "again", "--jobs", "2") == 0
    assert _generate(tmp_path / "other", "--jobs", "1", "--seed", "1") == 0

    def fingerprint(out: Path) -> tuple[list[str], dict[str, str]]:
        split = out / "LibriSpeech" / "test-clean"
        flacs = sorted(str(p.relative_to(split)) for p in split.rglob("*.flac"))
        texts = {str(p.relative_to(split)): sha256_file(p) for p in split.rglob("*") if p.is_file()}
        return flacs, texts

    assert fingerprint(tmp_path / "again") == fingerprint(tree)
    again_truth = demo.truth_path(tmp_path / "again", "test-clean")
    assert sha256_file(again_truth) == sha256_file(demo.truth_path(tree, "test-clean"))
    assert fingerprint(tmp_path / "other") != fingerprint(tree)


def test_refuses_to_overwrite_and_merges_speaker_tables(tree, tmp_path, capsys):
    out = tmp_path / "t"
    shutil.copytree(tree, out)
    assert _generate(out) == 2
    assert "already exists" in capsys.readouterr().err
    argv = ["synth-librispeech", "--out", str(out), "--split", "dev-other", "--speakers", "1",
            "--chapters-per-speaker", "1", "--utterances-per-chapter", "1", "--jobs", "1"]
    assert run_cli("corpus", "test", [demo.register], argv) == 0
    speakers, _ = read_speakers(out / "LibriSpeech" / "SPEAKERS.TXT")
    assert sorted(s.subset for s in speakers.values()) == ["dev-other", "test-clean", "test-clean"]
    assert len(read_librispeech(out, "dev-other")[1]) == 1


def test_broken_files_are_reported_not_fatal(tree, tmp_path):
    out = tmp_path / "broken"
    shutil.copytree(tree, out)
    split = out / "LibriSpeech" / "test-clean"
    transcripts = sorted(split.glob("*/*/*.trans.txt"))
    first, second = transcripts
    lines = first.read_text().splitlines()
    speaker, chapter = first.parent.parent.name, first.parent.name
    first.write_text("\n".join([lines[0], f"{speaker}-{chapter}-0007 lower case words", "garbage-line WITH TEXT",
                                f"{speaker}-{chapter}-0008", f"{speaker}-{chapter}-0009 DIGITS 42", lines[1]]) + "\n")
    # a missing flac and an unreadable one in the other chapter
    second_lines = second.read_text().splitlines()
    missing = second.parent / f"{second_lines[0].split()[0]}.flac"
    missing.unlink()
    corrupt = second.parent / f"{second_lines[1].split()[0]}.flac"
    corrupt.write_bytes(b"not a flac file at all")

    recordings, supervisions, problems = read_librispeech(out, "test-clean")
    assert [s.id for s in supervisions] == [lines[0].split()[0], lines[1].split()[0]]
    by_line = {(Path(p.path).name, p.line): p.reason for p in problems}
    assert "not upper case" in by_line[(first.name, 2)]
    assert "malformed utterance id" in by_line[(first.name, 3)]
    assert "no transcript text" in by_line[(first.name, 4)]
    assert "unexpected character '4'" in by_line[(first.name, 5)]
    assert "audio file missing" in by_line[(missing.name, None)]
    assert "unreadable audio" in by_line[(corrupt.name, None)]
    assert len(problems) == 6


def test_missing_split_and_missing_tables(tmp_path, tree):
    with pytest.raises(LibriSpeechError, match="split folder does not exist"):
        read_librispeech(tree, "train-clean-100")
    out = tmp_path / "nospk"
    shutil.copytree(tree, out)
    (out / "LibriSpeech" / "SPEAKERS.TXT").unlink()
    recordings, supervisions, problems = read_librispeech(out, "test-clean")
    assert len(supervisions) == 4 and all(s.gender == "" for s in supervisions)
    assert len(problems) == 1 and "SPEAKERS.TXT is missing" in problems[0].reason


def test_speaker_table_with_pipes_in_names(tmp_path):
    path = tmp_path / "SPEAKERS.TXT"
    path.write_text(";ID  |SEX| SUBSET           |MINUTES| NAME\n"
                    "60   | M | train-clean-100  | 20.18 | |CBW|Simon\n"
                    "14   | F | train-clean-360  | 25.03 | Kristin LeMoine\n"
                    "99   | X | train-clean-360  | 25.03 | Bad Sex\n"
                    "98   | F | train-clean-360  | lots | Bad Minutes\n")
    speakers, problems = read_speakers(path)
    assert speakers["60"].name == "|CBW|Simon" and speakers["60"].gender == "male"
    assert speakers["14"].minutes == pytest.approx(25.03) and speakers["14"].gender == "female"
    assert sorted(p.line for p in problems) == [4, 5]
    write_speakers(tmp_path, [SpeakerRow(speaker_id="61", sex="F", subset="dev-clean", minutes=1.5, name="N")])
    merged, _ = read_speakers(path)
    assert sorted(merged) == ["14", "60", "61"]


def test_librispeech_text():
    assert librispeech_text("Don't stop -- the well-known “Bus”, please!") == "DON'T STOP THE WELL KNOWN BUS PLEASE"
    assert librispeech_text("I have 42 goats") == ""  # spoken form of digits unknown
