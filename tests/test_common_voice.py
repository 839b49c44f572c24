import hashlib
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from corpus.__main__ import main as corpus_main
from corpus.audio import AudioError, load_audio
from corpus.demo.common_voice import HOSTILE_TOKENS, SynthCVConfig, oddify, synth_common_voice
from corpus.demo.noise import NoisePlan
from corpus.formats.common_voice import (CV_COLUMNS, CVRow, find_cv_language_dir, normalize_gender, read_cv_tsv,
                                         write_cv_tsv)
from corpus.manifest import read_jsonl
from corpus.text import normalize_words, rules_for

FAULTY = SynthCVConfig(language="lg", sentences=40, speakers=8, seed=3, noise=NoisePlan(noisy_share=0.5),
                       wrong_transcript_share=0.1, silent_clip_share=0.05, corrupt_clips=2,
                       odd_unicode_share=0.1, hostile_word_share=0.1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return synth_common_voice(FAULTY, tmp_path_factory.mktemp("cv"), jobs=2, progress=False)


def truth(tree):
    return {r["path"]: r for r in read_jsonl(tree / "synthetic_truth.jsonl.gz")}


def test_layout_and_header(tree):
    assert tree.parent.name == "cv-corpus-17.0-synthetic" and tree.name == "lg"
    for name in ("validated", "train", "dev", "test", "invalidated", "other"):
        header = (tree / f"{name}.tsv").read_text(encoding="utf-8").splitlines()[0]
        assert tuple(header.split("\t")) == CV_COLUMNS
    rows, problems = read_cv_tsv(tree / "validated.tsv")
    assert len(rows) == 40 and problems == []
    assert all(len(r.client_id) == 128 and r.path.startswith("common_voice_lg_") and r.path.endswith(".mp3")
               for r in rows)
    assert len({r.client_id for r in rows}) == 8
    assert find_cv_language_dir(tree.parent.parent, "lg") == tree


def test_splits_are_speaker_disjoint_subsets_of_validated(tree):
    validated = {r.path for r in read_cv_tsv(tree / "validated.tsv")[0]}
    speakers = {}
    for name in ("train", "dev", "test"):
        rows = read_cv_tsv(tree / f"{name}.tsv")[0]
        assert {r.path for r in rows} <= validated
        speakers[name] = {r.client_id for r in rows}
    assert not (speakers["train"] & speakers["dev"]) and not (speakers["train"] & speakers["test"])


def test_clips_decode_and_truth_times_match_audio(tree):
    records = truth(tree)
    checked = 0
    for path, record in records.items():
        if record["faults"]:
            continue
        audio = load_audio(tree / "clips" / path, sample_rate_hz=16000)
        assert abs(len(audio) / 16000 - record["duration_s"]) < 0.06  # MP3 frame padding at most
        words = record["words"]
        assert [w["text"] for w in words] == record["spoken_text"].split()
        power = np.convolve(audio ** 2, np.ones(160) / 160, mode="same")
        inside = np.concatenate([power[int(w["start_s"] * 16000):int(w["end_s"] * 16000)] for w in words])
        lead = power[:max(1, int(words[0]["start_s"] * 16000) - 800)]
        assert np.median(inside) > 10 * np.median(lead)  # words are louder than the leading silence
        checked += 1
    assert checked >= 20


def test_planted_faults(tree):
    records = truth(tree)
    kinds = [k for r in records.values() for k in r["faults"]]
    assert kinds.count("corrupt_clip") == 2 and kinds.count("wrong_transcript") == 4
    assert kinds.count("odd_unicode") == 4 and kinds.count("hostile_word") == 4 and kinds.count("silent_clip") == 2
    rules = rules_for("lg")
    for path, record in records.items():
        if "corrupt_clip" in record["faults"]:
            with pytest.raises(AudioError):
                load_audio(tree / "clips" / path)
        if "wrong_transcript" in record["faults"]:
            assert normalize_words(record["sentence"], rules).words != normalize_words(record["spoken_text"], rules).words
        if "odd_unicode" in record["faults"]:
            assert record["sentence"] != record["spoken_text"]
            assert normalize_words(record["sentence"], rules).words == normalize_words(record["spoken_text"], rules).words
        if "hostile_word" in record["faults"]:
            assert any(token in record["sentence"].split() for token in HOSTILE_TOKENS)
        if "silent_clip" in record["faults"]:
            assert record["words"] == []
            assert np.abs(load_audio(tree / "clips" / path)).max() <= 0.011


def test_oddify_keeps_words():
    rng = np.random.default_rng(0)
    for sentence in ["Akawuka ka corona, kaleeta senyiga.", "El niño señaló dónde está."]:
        odd = oddify(sentence, rng)
        assert odd != sentence and unicodedata.is_normalized("NFD", odd)
        rules = rules_for("es")
        assert normalize_words(odd, rules).words == normalize_words(sentence, rules).words


def digest(tree: Path) -> dict[str, str]:
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    return {str(p.relative_to(tree)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_same_seed_same_bytes_any_jobs(tree, tmp_path):
    again = synth_common_voice(FAULTY, tmp_path, jobs=1, progress=False)
    assert digest(again) == digest(tree)  # TSVs, clip list, every clip's bytes and the truth


def test_other_seed_differs(tmp_path):
    a = synth_common_voice(SynthCVConfig(language="sw", sentences=5, speakers=2, seed=1), tmp_path / "a", jobs=1,
                           progress=False)
    b = synth_common_voice(SynthCVConfig(language="sw", sentences=5, speakers=2, seed=2), tmp_path / "b", jobs=1,
                           progress=False)
    assert (a / "validated.tsv").read_bytes() != (b / "validated.tsv").read_bytes()


def test_reader_reports_bad_rows(tmp_path):
    good = CVRow(client_id="c", path="common_voice_lg_1.mp3", sentence_id="s", sentence="Akawuka", locale="lg")
    path = write_cv_tsv(tmp_path / "validated.tsv", [good])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("only\ttwo\n")
        handle.write("\t".join(["c", "../../etc/passwd", "s", "x", "", "2", "0", "", "", "", "", "lg", ""]) + "\n")
        handle.write("\t".join(["c", "a.mp3", "s", "  ", "", "2", "0", "", "", "", "", "lg", ""]) + "\n")
        handle.write("\t".join(["c", "b.mp3", "s", "ok", "", "two", "0", "", "", "", "", "lg", ""]) + "\n")
    rows, problems = read_cv_tsv(path)
    assert rows == [good]
    reasons = [(p.line, p.reason) for p in problems]
    assert [line for line, _ in reasons] == [3, 4, 5, 6]
    assert "fields" in reasons[0][1] and "not a file name" in reasons[1][1]
    assert "empty sentence" in reasons[2][1] and "votes" in reasons[3][1]


def test_sentence_with_tab_cannot_break_rows(tmp_path):
    row = CVRow(client_id="c", path="a.mp3", sentence_id="s", sentence="a\tb\nc", locale="lg")
    rows, problems = read_cv_tsv(write_cv_tsv(tmp_path / "v.tsv", [row]))
    assert problems == [] and rows[0].sentence == "a b c"


@pytest.mark.parametrize("value,expected", [("male_masculine", "male"), ("female", "female"), ("", ""),
                                            ("non-binary", "other"), ("weird", "other")])
def test_gender_spellings(value, expected):
    assert normalize_gender(value) == expected


def test_cli_writes_tree_and_rejects_unknown_language(tmp_path, capsys):
    assert corpus_main(["synth-cv", "--lang", "en", "--sentences", "3", "--speakers", "2", "--out", str(tmp_path),
                        "--jobs", "1"]) == 0
    assert (tmp_path / "cv-corpus-17.0-synthetic" / "en" / "validated.tsv").exists()
    assert corpus_main(["synth-cv", "--lang", "xx", "--out", str(tmp_path)]) == 2
    assert "no voice" in capsys.readouterr().err
