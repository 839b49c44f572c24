"""Word error rate as NIST sclite computes it: LibriSpeech normalization, alignment, counts, `.pra` text, CER.

Alignment is sclite's dynamic programme with its default weights (correct 0, substitution 4, insertion
3, deletion 3), so the S/D/I split of every utterance is sclite's, not only the total. The corpus figure
is (S + D + I) / N over all utterances, never a mean of per-utterance rates. `tests/test_asr_wer.py`
checks the counts against Debian's `sclite` and `jiwer` on crafted and real pairs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

__all__ = ["normalize_librispeech", "Alignment", "align", "ErrorCounts", "score", "corpus_wer", "char_error_rate",
           "pra_text", "read_transcripts", "TranscriptError"]

_SUB, _INS, _DEL = 4, 3, 3  # sclite's default weights (sclite -W; "-d" off)
_APOSTROPHES = "\u2019\u02bc\u2018`\u00b4"


class TranscriptError(ValueError):
    """A reference or hypothesis file cannot be used (names the file and line)."""


def normalize_librispeech(text: str) -> str:
    """LibriSpeech style: NFKC, upper case, apostrophes inside words kept, every other non-letter a space.

    Digits stay as tokens (their spoken form is unknown), so "3" against "THREE" counts as an error.
    """
    text = unicodedata.normalize("NFKC", text)
    for mark in _APOSTROPHES:
        text = text.replace(mark, "'")
    chars = []
    for ch in text.upper():
        category = unicodedata.category(ch)
        chars.append(ch if ch == "'" or category[0] in "LN" or category in ("Mn", "Mc") else " ")
    words = []
    for word in "".join(chars).split():
        word = word.strip("'")
        if word:
            words.append(word)
    return " ".join(words)


@dataclass(frozen=True)
class Alignment:
    """One utterance aligned: pairs (ref word or None, hyp word or None) in order."""

    pairs: tuple[tuple[str | None, str | None], ...]

    @property
    def substitutions(self) -> int:
        return sum(1 for r, h in self.pairs if r is not None and h is not None and r != h)

    @property
    def deletions(self) -> int:
        return sum(1 for r, h in self.pairs if h is None)

    @property
    def insertions(self) -> int:
        return sum(1 for r, h in self.pairs if r is None)

    @property
    def correct(self) -> int:
        return sum(1 for r, h in self.pairs if r is not None and r == h)


def align(ref: Sequence[str], hyp: Sequence[str]) -> Alignment:
    """Minimum-cost alignment with sclite's weights; ties prefer a diagonal step, then a deletion."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i * _DEL
    for j in range(1, m + 1):
        cost[0][j] = j * _INS
    for i in range(1, n + 1):
        row, previous = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            diagonal = previous[j - 1] + (0 if ref[i - 1] == hyp[j - 1] else _SUB)
            row[j] = min(diagonal, previous[j] + _DEL, row[j - 1] + _INS)
    pairs: list[tuple[str | None, str | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (0 if ref[i - 1] == hyp[j - 1] else _SUB):
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + _DEL:
            pairs.append((ref[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hyp[j - 1]))
            j -= 1
    return Alignment(pairs=tuple(reversed(pairs)))


@dataclass
class ErrorCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    correct: int = 0
    ref_words: int = 0
    utterances: int = 0
    utterances_with_errors: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """(S + D + I) / N; an empty reference set with insertions counts as 100 % per sclite's convention."""
        if self.ref_words == 0:
            return 0.0 if self.errors == 0 else 1.0
        return self.errors / self.ref_words

    def add(self, alignment: Alignment) -> None:
        self.substitutions += alignment.substitutions
        self.deletions += alignment.deletions
        self.insertions += alignment.insertions
        self.correct += alignment.correct
        self.ref_words += alignment.correct + alignment.substitutions + alignment.deletions
        self.utterances += 1
        self.utterances_with_errors += int(alignment.substitutions + alignment.deletions + alignment.insertions > 0)

    def as_dict(self) -> dict[str, float | int]:
        return {"wer": round(self.wer, 6), "substitutions": self.substitutions, "deletions": self.deletions,
                "insertions": self.insertions, "correct": self.correct, "ref_words": self.ref_words,
                "utterances": self.utterances, "sentence_error_rate":
                    round(self.utterances_with_errors / self.utterances, 6) if self.utterances else 0.0}


@dataclass
class Scored:
    counts: ErrorCounts
    alignments: dict[str, Alignment] = field(default_factory=dict)
    char_counts: ErrorCounts = field(default_factory=ErrorCounts)


def score(refs: dict[str, str], hyps: dict[str, str], *, normalize: bool = True) -> Scored:
    """Score every reference id; a missing hypothesis is an empty one (all deletions), as sclite does.
    Hypotheses without a reference are an error: they would silently drop out of N."""
    extra = sorted(set(hyps) - set(refs))
    if extra:
        raise TranscriptError(f"{len(extra)} hypothesis id(s) have no reference, e.g. {extra[0]!r}")
    result = Scored(counts=ErrorCounts())
    for utt in sorted(refs):
        ref, hyp = refs[utt], hyps.get(utt, "")
        if normalize:
            ref, hyp = normalize_librispeech(ref), normalize_librispeech(hyp)
        alignment = align(ref.split(), hyp.split())
        result.alignments[utt] = alignment
        result.counts.add(alignment)
        result.char_counts.add(align(list(ref.replace(" ", "")), list(hyp.replace(" ", ""))))
    return result


def corpus_wer(refs: Sequence[str], hyps: Sequence[str], *, normalize: bool = True) -> ErrorCounts:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    ids = [f"{i:06d}" for i in range(len(refs))]
    return score(dict(zip(ids, refs)), dict(zip(ids, hyps)), normalize=normalize).counts


def char_error_rate(refs: Sequence[str], hyps: Sequence[str], *, normalize: bool = True) -> float:
    ids = [f"{i:06d}" for i in range(len(refs))]
    return score(dict(zip(ids, refs)), dict(zip(ids, hyps)), normalize=normalize).char_counts.wer


def pra_text(scored: Scored) -> str:
    """sclite-style `.pra` blocks: id, Scores: (#C #S #D #I), REF and HYP lines, errors upper-cased and
    missing words shown as stars."""
    blocks = []
    for utt, alignment in scored.alignments.items():
        ref_cells, hyp_cells = [], []
        for r, h in alignment.pairs:
            if r is not None and h is not None and r == h:
                r_text, h_text = r.lower(), h.lower()
            else:
                r_text = r.upper() if r is not None else "*" * len(h or "")
                h_text = h.upper() if h is not None else "*" * len(r or "")
            width = max(len(r_text), len(h_text))
            ref_cells.append(r_text.ljust(width))
            hyp_cells.append(h_text.ljust(width))
        blocks.append(f"id: ({utt})\n"
                      f"Scores: (#C #S #D #I) {alignment.correct} {alignment.substitutions} "
                      f"{alignment.deletions} {alignment.insertions}\n"
                      f"REF:  {' '.join(ref_cells)}\nHYP:  {' '.join(hyp_cells)}\n")
    counts = scored.counts
    header = (f"corpus WER {100 * counts.wer:.2f} % = (S {counts.substitutions} + D {counts.deletions} + "
              f"I {counts.insertions}) / N {counts.ref_words}; CER {100 * scored.char_counts.wer:.2f} %\n\n")
    return header + "\n".join(blocks)


_TRN_LINE = re.compile(r"^(.*?)\s*\(([^()]+)\)\s*$")


def read_transcripts(path: str, lines: Iterable[str] | None = None) -> dict[str, str]:
    """Read `ID TEXT` lines (LibriSpeech trans.txt / Kaldi text) or sclite `TEXT (ID)` trn lines.

    Blank lines are skipped; a duplicate id is an error naming the file and line."""
    if lines is None:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise TranscriptError(f"{path}: cannot read: {error}") from None
    texts: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        trn = _TRN_LINE.match(line)
        utt, text = (trn.group(2), trn.group(1)) if trn else (line.partition(" ")[0], line.partition(" ")[2])
        if utt in texts:
            raise TranscriptError(f"{path}:{number}: duplicate utterance id {utt!r}")
        texts[utt] = text.strip()
    return texts
