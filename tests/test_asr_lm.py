"""The ARPA file written from training text is a proper back-off model: every context's distribution sums to 1."""

from __future__ import annotations

import math

import pytest

from asr.lm import arpa_text

TEXTS = ["THE CAT SAT ON THE MAT", "THE DOG SAT", "A CAT RAN ON THE MAT", "IT'S THE DOG"]


def _read(text: str) -> tuple[dict, dict]:
    probs, backoffs, order = {}, {}, 0
    for line in text.splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            order = int(line[1])
            continue
        parts = line.split("\t")
        if order and len(parts) >= 2:
            gram = tuple(parts[1].split())
            probs[gram] = 10 ** float(parts[0])
            if len(parts) == 3:
                backoffs[gram] = 10 ** float(parts[2])
    return probs, backoffs


def _p(probs, backoffs, gram):
    if gram in probs:
        return probs[gram]
    return backoffs.get(gram[:-1], 1.0) * _p(probs, backoffs, gram[1:])


def test_arpa_distributions_sum_to_one():
    text = arpa_text(TEXTS, order=3)
    assert "ngram 1=" in text and "\\3-grams:" in text and text.rstrip().endswith("\\end\\")
    probs, backoffs = _read(text)
    vocabulary = [g[0] for g in probs if len(g) == 1 and g[0] != "<s>"]
    contexts = [(), ("<s>",), ("THE",), ("<s>", "THE"), ("THE", "CAT"), ("ZEBRA",)]
    for context in contexts:
        total = sum(_p(probs, backoffs, context + (w,)) for w in vocabulary)
        assert total == pytest.approx(1.0, abs=1e-6), context
    assert _p(probs, backoffs, ("THE", "CAT")) > _p(probs, backoffs, ("THE", "RAN"))


def test_kenlm_reads_it(tmp_path):
    decoder = pytest.importorskip("flashlight.lib.text.decoder")
    from flashlight.lib.text.dictionary import Dictionary

    (tmp_path / "lm.arpa").write_text(arpa_text(TEXTS))
    words = Dictionary(["THE", "CAT", "<unk>"])
    lm = decoder.KenLM(str(tmp_path / "lm.arpa"), words)
    state, score = lm.score(lm.start(False), words.get_index("THE"))
    assert math.isfinite(score) and score < 0
