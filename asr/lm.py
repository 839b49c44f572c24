"""A word n-gram LM written from the training text itself, as an ARPA file (KenLM reads it), plus the
lexicon (the training words) for lexicon-constrained decoding.

Estimate: interpolated absolute discounting (D = 0.5) over orders 1..N, unigrams interpolated with a
uniform distribution over the vocabulary and <unk>. Every seen n-gram's stored probability is the
interpolated one and each context's back-off weight makes its distribution sum to one, so the file is a
proper back-off model.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from corpus.configs import write_lines
from corpus.fsutil import atomic_write_text

from asr.wer import normalize_librispeech

__all__ = ["arpa_text", "write_lm"]

_DISCOUNT = 0.5


def arpa_text(texts: Sequence[str], order: int = 3) -> str:
    sentences = [["<s>", *normalize_librispeech(t).split(), "</s>"] for t in texts]
    counts: list[Counter] = [Counter() for _ in range(order + 1)]
    for words in sentences:
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                gram = tuple(words[i:i + n])
                if gram != ("<s>",):
                    counts[n][gram] += 1
    vocabulary = sorted({w for words in sentences for w in words[1:]} | {"<unk>"})
    total = sum(counts[1].values())
    probs: list[dict[tuple[str, ...], float]] = [{} for _ in range(order + 1)]
    uniform = 1.0 / len(vocabulary)
    for word in vocabulary:
        seen = counts[1].get((word,), 0)
        probs[1][(word,)] = max(seen - _DISCOUNT, 0) / total + (_DISCOUNT * len(counts[1]) / total) * uniform
    probs[1][("<s>",)] = 0.0
    backoff: list[dict[tuple[str, ...], float]] = [{} for _ in range(order + 1)]
    for n in range(2, order + 1):
        by_context: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
        for gram, count in counts[n].items():
            by_context[gram[:-1]][gram[-1]] = count
        for context, followers in by_context.items():
            context_total = sum(followers.values())
            share = _DISCOUNT * len(followers) / context_total  # mass left for the lower order
            lower_context = context[1:]
            for word, count in followers.items():
                lower = _lower_prob(probs, backoff, lower_context + (word,))
                probs[n][context + (word,)] = (count - _DISCOUNT) / context_total + share * lower
            seen_mass = sum(probs[n][context + (w,)] for w in followers)
            seen_lower = sum(_lower_prob(probs, backoff, lower_context + (w,)) for w in followers)
            backoff[n - 1][context] = max(1.0 - seen_mass, 1e-12) / max(1.0 - seen_lower, 1e-12)
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(probs[n])}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(probs[n]):
            p = probs[n][gram]
            logp = -99.0 if p <= 0 else math.log10(p)
            line = f"{logp:.6f}\t{' '.join(gram)}"
            if n < order and gram in backoff[n]:
                line += f"\t{math.log10(backoff[n][gram]):.6f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _lower_prob(probs, backoff, gram: tuple[str, ...]) -> float:
    """P(word | shorter context) in back-off form (used while building the higher order)."""
    n = len(gram)
    if gram in probs[n]:
        return probs[n][gram]
    if n == 1:
        return probs[1][("<unk>",)]
    return backoff[n - 1].get(gram[:-1], 1.0) * _lower_prob(probs, backoff, gram[1:])


def write_lm(texts: Sequence[str], folder: str | Path, order: int = 3) -> Path:
    """Write FOLDER/lm.arpa and FOLDER/lexicon.txt (one training word a line)."""
    folder = Path(folder)
    atomic_write_text(folder / "lm.arpa", arpa_text(texts, order))
    words = sorted({w for t in texts for w in normalize_librispeech(t).split()})
    write_lines(folder / "lexicon.txt", words)
    return folder / "lm.arpa"
