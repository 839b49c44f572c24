"""WER equals Debian's sclite (S/D/I per utterance) and jiwer (corpus WER) on crafted and real pairs."""

from __future__ import annotations

import csv
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from asr.cli import register_all
from asr.wer import align, corpus_wer, normalize_librispeech, read_transcripts, score, TranscriptError
from corpus.cli import run_cli

SCLITE = shutil.which("sclite") or ("/usr/lib/sctk/bin/sclite" if Path("/usr/lib/sctk/bin/sclite").exists() else None)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "real_speech" / "sentences"


def _pairs() -> list[tuple[str, str]]:
    rng = random.Random(14)
    vocab = "THE A CAT SAT ON MAT DOG IT'S RAN".split()
    pairs = [("", ""), ("A", ""), ("", "A B"), ("A B C", "A B C"), ("X Y", "Y X Z W"), ("A A A", "A"),
             ("THE CAT", "CAT THE"), ("IT'S OK", "ITS OK")]
    for _ in range(300):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 10))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 5)):
            op = rng.random()
            if op < 0.33 and hyp:
                hyp.pop(rng.randrange(len(hyp)))
            elif op < 0.66:
                hyp.insert(rng.randint(0, len(hyp)), rng.choice(vocab))
            elif hyp:
                hyp[rng.randrange(len(hyp))] = rng.choice(vocab)
        pairs.append((" ".join(ref), " ".join(hyp)))
    if (SHARED / "transcripts.tsv").is_file():  # real transcripts against perturbed copies of themselves
        with open(SHARED / "transcripts.tsv", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row["language"] == "en":
                    words = normalize_librispeech(row["text"]).split()
                    hyp = [w for i, w in enumerate(words) if i % 5 != 2]
                    hyp.insert(len(hyp) // 2, "UM")
                    pairs.append((" ".join(words), " ".join(hyp)))
    return pairs


def test_normalization():
    assert normalize_librispeech("Don’t stop—it's 'quoted', e.g. Mr. Smith!") == "DON'T STOP IT'S QUOTED E G MR SMITH"


@pytest.mark.skipif(SCLITE is None, reason="sclite (Debian sctk) is not installed: make test runs tools/ensure_sctk.sh")
def test_counts_equal_sclite(tmp_path):
    pairs = _pairs()
    ids = [f"spk-{i:04d}" for i in range(len(pairs))]
    (tmp_path / "ref.trn").write_text("".join(f"{r} ({u})\n" for u, (r, _) in zip(ids, pairs)))
    (tmp_path / "hyp.trn").write_text("".join(f"{h} ({u})\n" for u, (_, h) in zip(ids, pairs)))
    out = subprocess.run([SCLITE, "-r", str(tmp_path / "ref.trn"), "trn", "-h", str(tmp_path / "hyp.trn"), "trn",
                          "-i", "spu_id", "-o", "pra", "stdout"], capture_output=True, text=True, check=True).stdout
    theirs = {m.group(1): tuple(map(int, m.groups()[1:])) for m in re.finditer(
        r"id: \((spk-\d+)\)\nScores: \(#C #S #D #I\) (\d+) (\d+) (\d+) (\d+)", out)}
    assert len(theirs) >= len(pairs) - 2  # sclite may leave out the empty-vs-empty pair
    for utt, (ref, hyp) in zip(ids, pairs):
        a = align(ref.split(), hyp.split())
        assert (a.correct, a.substitutions, a.deletions, a.insertions) == theirs.get(utt, (0, 0, 0, 0)), (ref, hyp)


def test_corpus_wer_equals_jiwer():
    jiwer = pytest.importorskip("jiwer")
    pairs = [(r, h) for r, h in _pairs() if r]
    ours = corpus_wer([r for r, _ in pairs], [h for _, h in pairs], normalize=False)
    theirs = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    assert ours.wer == pytest.approx(theirs.wer, abs=1e-12)
    assert ours.errors == theirs.substitutions + theirs.deletions + theirs.insertions
    assert ours.ref_words == theirs.hits + theirs.substitutions + theirs.deletions


def test_score_missing_and_extra_hypotheses(tmp_path):
    scored = score({"a": "ONE TWO", "b": "THREE"}, {"a": "one two"})
    assert (scored.counts.deletions, scored.counts.ref_words) == (1, 3)
    with pytest.raises(TranscriptError, match="no reference"):
        score({"a": "X"}, {"zzz": "X"})
    (tmp_path / "dup.txt").write_text("u1 A\nu1 B\n")
    with pytest.raises(TranscriptError, match="dup.txt:2: duplicate"):
        read_transcripts(str(tmp_path / "dup.txt"))


def test_wer_cli(tmp_path, capsys):
    (tmp_path / "ref.txt").write_text("u1 THE CAT SAT\nu2 ON THE MAT\n")
    (tmp_path / "hyp.trn").write_text("the bat sat (u1)\non mat (u2)\n")
    code = run_cli("python -m asr", "", [register_all], ["wer", "--ref", str(tmp_path / "ref.txt"), "--hyp",
                                                          str(tmp_path / "hyp.trn"), "--pra", str(tmp_path / "o.pra")])
    assert code == 0
    assert "WER 33.33 % (S 1, D 1, I 0, N 6" in capsys.readouterr().out
    assert "REF:  the CAT sat" in (tmp_path / "o.pra").read_text()
