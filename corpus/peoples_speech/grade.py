"""Stage 5, grade: CER between a recognizer's free output and each utterance's aligned text, and the tier.

CER = Levenshtein distance between the two character strings (words joined by one space) divided by
the length of the aligned text. The recognizer's output is first normalized exactly like the captions
(`normalize.normalize_document`), so an ASR writing "TWENTY-FIVE" or "25" is not charged for its style. Tiers (`BuildConfig`): clean when CER < clean_max_cer (0.20), noisy when
CER < noisy_max_cer (0.38), otherwise dropped: the People's Speech's rule, which removes translations,
annotation-only captions, TTS audiobooks and captions made by another ASR.

The default recognizer (`recognize.GrammarRecognizer`) decodes each utterance with its own local grammar
(`context_words` transcript words either side of it). The stage then drops whole documents whose median
utterance CER reaches `document_max_median_cer` (`dataset_stages`): wrong text fails nearly every
utterance, so the few of it that pass are chance matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numba
import numpy as np

__all__ = ["cer", "edit_distance", "tier_of", "GradeTask", "grade_document", "iter_spans"]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    return int(_levenshtein(np.frombuffer(a.encode("utf-32-le"), np.uint32),
                            np.frombuffer(b.encode("utf-32-le"), np.uint32)))


@numba.njit(cache=True)
def _levenshtein(a, b):  # one row of the table at a time; compiled: the pure-Python loop was a quarter of grading
    previous = np.arange(len(b) + 1)
    current = np.empty(len(b) + 1, np.int64)
    for i in range(1, len(a) + 1):
        current[0] = i
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
        previous, current = current, previous
    return previous[len(b)]


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate of `hypothesis` against `reference` (1.0 for an empty reference with output)."""
    hyp, ref = " ".join(hypothesis.split()), " ".join(reference.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(hyp, ref) / len(ref)


def tier_of(value: float, clean_max_cer: float, noisy_max_cer: float) -> str:
    """'clean' (< clean_max_cer), 'noisy' (< noisy_max_cer) or 'dropped'."""
    if value < clean_max_cer:
        return "clean"
    if value < noisy_max_cer:
        return "noisy"
    return "dropped"


def iter_spans(audio_path: str, spans: Sequence[tuple[float, float]], sample_rate_hz: int = 16000
               ) -> Iterator[np.ndarray]:
    """Samples of each (start_s, end_s) span, spans sorted by start, in one streaming decode of the file."""
    from corpus.audio import read_blocks

    buffer = np.zeros(0, np.float32)
    buffer_start = 0
    blocks = read_blocks(audio_path, block_s=30.0, sample_rate_hz=sample_rate_hz)
    exhausted = False
    for start_s, end_s in spans:
        lo, hi = int(round(start_s * sample_rate_hz)), int(round(end_s * sample_rate_hz))
        if lo > buffer_start:
            drop = min(lo - buffer_start, len(buffer))
            buffer, buffer_start = buffer[drop:], buffer_start + drop
        while not exhausted and buffer_start + len(buffer) < hi:
            try:
                _, block = next(blocks)
                buffer = np.concatenate([buffer, block])
            except StopIteration:
                exhausted = True
        yield buffer[max(0, lo - buffer_start):max(0, hi - buffer_start)].copy()


@dataclass(frozen=True, kw_only=True)
class GradeTask:
    id: str                                  # document id
    audio_path: str
    document_words: tuple[str, ...]          # the grammar recognizer's vocabulary and weights
    utterances: tuple[tuple[str, float, float, str], ...]  # (id, audio_start_s, audio_end_s, text)
    recognizer: str
    model_dir: str
    clean_max_cer: float
    noisy_max_cer: float
    language: str = "en"
    # grammar recognizer: > 0 builds each utterance's grammar from its own transcript words and this many words
    # either side (`word_spans` gives each utterance's first and last transcript index); 0: the whole document
    context_words: int = 0
    word_spans: tuple[tuple[int, int], ...] = ()
    lm_weight: float = 3.0
    bigram_bonus: float = 0.0


_CACHE: dict[str, Any] = {}


def _recognizers(task: GradeTask) -> Iterator:
    """One recognizer per utterance, in order (the same object where the grammar does not change)."""
    from corpus.peoples_speech.recognize import GrammarRecognizer

    if task.recognizer == "grammar" and task.context_words > 0 and len(task.word_spans) == len(task.utterances):
        words, k = task.document_words, task.context_words
        for first, last in task.word_spans:
            yield GrammarRecognizer(task.model_dir, words[max(0, first - k):last + k + 1], lm_weight=task.lm_weight,
                                    bigram_bonus_lp=task.bigram_bonus)
        return
    if task.recognizer == "grammar":
        recognizer = GrammarRecognizer(task.model_dir, task.document_words, lm_weight=task.lm_weight,
                                       bigram_bonus_lp=task.bigram_bonus)
    else:
        recognizer = _plugin(task.recognizer)
    while True:
        yield recognizer


def _plugin(spec: str):
    from corpus.peoples_speech.recognize import load_plugin

    if spec not in _CACHE:  # a plug-in loads its model once per process
        _CACHE[spec] = load_plugin(spec)
    return _CACHE[spec]


def grade_document(task: GradeTask) -> dict[str, Any]:
    """{"id", "ok", "reason", "detail", "grades": [{"id", "hypothesis", "cer", "tier"}]} for one document."""
    from corpus.peoples_speech.normalize import normalize_document

    out: dict[str, Any] = {"id": task.id, "ok": False, "reason": "", "detail": "", "grades": []}
    try:
        spans = [(a, b) for _, a, b, _ in task.utterances]
        for (uid, _, _, text), samples, recognize in zip(task.utterances, iter_spans(task.audio_path, spans),
                                                         _recognizers(task)):
            # any recognizer's output goes through the captions' own normalization (case, numbers, symbols)
            hypothesis = " ".join(normalize_document([(0.0, 0.0, str(recognize(samples, 16000)))],
                                                     task.language)["words"])
            value = cer(hypothesis, text)
            out["grades"].append({"id": uid, "hypothesis": hypothesis, "cer": round(value, 4),
                                  "tier": tier_of(value, task.clean_max_cer, task.noisy_max_cer)})
    except Exception as error:  # noqa: BLE001 - reported per document
        out.update(reason="recognizer_error", detail=f"{type(error).__name__}: {error}", grades=[])
        return out
    out["ok"] = True
    return out
