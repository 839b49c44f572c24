"""Recognizers for grading: a function (16 kHz float32 mono samples, sample_rate_hz) -> text.

Default, `grammar`: no outside model. The aligner adapted to this corpus decodes each utterance freely
with a loose grammar built from the transcript, as DSAlign biased its language model with it: a loop
over words (any order, any number, unigram weights from their counts, bigrams of the text with a
bonus, optional pauses between words), Viterbi over the hybrid MLP's frame scores. The builder gives
each utterance its own grammar: its transcript words and 10 either side (`BuildConfig.
grammar_context_words`; 0: the whole document). The output is free: it is not forced to the
utterance's text, so where the audio says something else the recognized words differ and the CER is
high. Why local: the acoustic model comes from synthetic voices, and on real voices a loop over a whole
document's vocabulary wandered (30 correct real English sentences: median CER 0.87, 3 of 30 under
0.38); over the utterance's neighbourhood with lm weight 6 and bigram bonus 4 the median is 0.20 and
20 of 30 are kept, while the same audio with another sentence's text still scores 0.88 (none kept).

Plug-ins, loaded by name at run time (importlib; `corpus` imports nothing of `asr`):
- `asr:<model dir>` -> `asr.plugin:load_recognizer(model_dir)` (the project's Conformer-CTC);
- `module:<package.module:function>[:<argument>]` -> `function(argument)` for any other recognizer
  (e.g. a pocketsphinx or faster-whisper wrapper); the function returns the callable.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from typing import Callable, Sequence

import numba
import numpy as np

__all__ = ["Recognizer", "GrammarRecognizer", "load_plugin", "RecognizerError", "word_loop_decode"]

Recognizer = Callable[[np.ndarray, int], str]
NEG = -1.0e30


class RecognizerError(RuntimeError):
    """A recognizer cannot be loaded or run; names the spec and why."""


@numba.njit(cache=True)
def word_loop_decode(scores, cls, loop_lp, exit_lp, word_of_state, first_of_word, last_of_word, entry_lp,
                     bigram_ptr, bigram_from, bigram_lp):
    """Best word sequence through a loop of words (chains of HMM classes) for frame scores [T, C].

    Any word may follow any word at `entry_lp[word]` (unigram + backoff); a word pair seen in the
    document may instead use its bigram weight: the predecessors of word w are
    bigram_from[bigram_ptr[w]:bigram_ptr[w + 1]] with weights bigram_lp[...]. Returns word indices.
    """
    T = scores.shape[0]
    N = cls.shape[0]
    W = first_of_word.shape[0]
    prev = np.full(N, NEG)
    cur = np.full(N, NEG)
    tok = np.full(N, -1, np.int64)
    ntok = np.full(N, -1, np.int64)
    rec_word = np.empty((T + 1) * W, np.int64)
    rec_prev = np.empty((T + 1) * W, np.int64)
    end = np.full(W, NEG)
    enter = np.full(W, NEG)
    enter_src = np.full(W, -1, np.int64)
    for t in range(T):
        best_end = NEG
        best_w = -1
        if t == 0:
            for w in range(W):
                enter[w] = entry_lp[w]
                enter_src[w] = -1
        else:
            for w in range(W):
                j = last_of_word[w]
                end[w] = prev[j] + exit_lp[j]
                rec_word[t * W + w] = w
                rec_prev[t * W + w] = tok[j]
                if end[w] > best_end:
                    best_end = end[w]
                    best_w = w
            for w in range(W):
                if best_w >= 0:
                    enter[w] = best_end + entry_lp[w]
                    enter_src[w] = t * W + best_w
                else:
                    enter[w] = NEG
                for k in range(bigram_ptr[w], bigram_ptr[w + 1]):
                    u = bigram_from[k]
                    v = end[u] + bigram_lp[k]
                    if v > enter[w]:
                        enter[w] = v
                        enter_src[w] = t * W + u
        for j in range(N):
            w = word_of_state[j]
            stay = prev[j] + loop_lp[j]
            if j == first_of_word[w]:
                come = enter[w] if enter[w] > NEG / 2 else NEG
                src = enter_src[w]
            else:
                come = prev[j - 1] + exit_lp[j - 1]
                src = tok[j - 1]
            if stay >= come:
                cur[j] = stay + scores[t, cls[j]]
                ntok[j] = tok[j]
            else:
                cur[j] = come + scores[t, cls[j]]
                ntok[j] = src
        for j in range(N):
            prev[j] = cur[j]
            tok[j] = ntok[j]
    best = NEG
    best_w = -1
    for w in range(W):
        if prev[last_of_word[w]] > best:
            best = prev[last_of_word[w]]
            best_w = w
    if best_w < 0:
        return np.zeros(0, np.int64)
    out = [best_w]
    r = tok[last_of_word[best_w]]
    while r >= 0:
        out.append(rec_word[r])
        r = rec_prev[r]
    result = np.empty(len(out), np.int64)
    for k in range(len(out)):
        result[k] = out[len(out) - 1 - k]
    return result


class GrammarRecognizer:
    """The aligner's acoustic model with a word loop over `vocabulary` (see the module docstring)."""

    def __init__(self, model_dir: str, document_words: Sequence[str], *, lm_weight: float = 3.0,
                 word_penalty: float = -6.0, pause_lp: float = -4.0, backoff_lp: float = -3.0,
                 bigram_bonus_lp: float = 0.0) -> None:
        from corpus.align.lexicon import LexiconError
        from corpus.align.model import load_model

        self.model = load_model(model_dir)
        topo = self.model.topology
        S = topo.states_per_unit
        counts = Counter(document_words)
        total = sum(counts.values())
        words, chains = [], []
        for word in sorted(counts):
            try:
                units = self.model.lexicon.units_of(word)
            except LexiconError:
                continue
            words.append(word)
            chains.append([u * S + k for u in units for k in range(S)])
        self.words = words
        pause = list(range(topo.silence_first, topo.n_classes))
        chains.append(pause)
        entry = [lm_weight * (math.log((counts[w] + 1) / (total + len(counts))) + backoff_lp) + word_penalty
                 for w in words]
        entry.append(pause_lp)
        # bigrams of the document's own word sequence (the pause never breaks a pair: it is transparent
        # to the grammar only through the backoff, which keeps the decoder simple)
        index = {w: i for i, w in enumerate(words)}
        pairs = Counter((index[a], index[b]) for a, b in zip(document_words, document_words[1:])
                        if a in index and b in index)
        firsts = Counter(index[a] for a in document_words[:-1] if a in index)
        by_next: dict[int, list[tuple[int, float]]] = {}
        for (a, b), n in sorted(pairs.items()):
            lp = lm_weight * math.log(n / firsts[a]) + word_penalty + bigram_bonus_lp
            by_next.setdefault(b, []).append((a, lp))
        ptr, src, lps = [0], [], []
        for w in range(len(words) + 1):
            for a, lp in by_next.get(w, []):
                src.append(a)
                lps.append(lp)
            ptr.append(len(src))
        self.bigram_ptr = np.asarray(ptr, np.int64)
        self.bigram_from = np.asarray(src, np.int64)
        self.bigram_lp = np.asarray(lps, np.float64)
        cls = np.concatenate([np.asarray(c, np.int64) for c in chains])
        lengths = np.array([len(c) for c in chains])
        self.first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.last = (self.first + lengths - 1).astype(np.int64)
        self.word_of_state = np.repeat(np.arange(len(chains)), lengths).astype(np.int64)
        self.cls = cls
        self.loop = topo.loop_lp[cls].astype(np.float64)
        self.exit = topo.exit_lp[cls].astype(np.float64)
        self.entry = np.asarray(entry, np.float64)

    def __call__(self, samples: np.ndarray, sample_rate_hz: int) -> str:
        if sample_rate_hz != 16000:
            from corpus.audio import resample

            samples = resample(samples, sample_rate_hz, 16000)
        if len(samples) < 400 or not self.words:
            return ""
        scores, _ = self.model.scores(self.model.features(np.asarray(samples, np.float32)))
        path = word_loop_decode(scores.astype(np.float64), self.cls, self.loop, self.exit, self.word_of_state,
                                self.first, self.last, self.entry, self.bigram_ptr, self.bigram_from,
                                self.bigram_lp)
        return " ".join(self.words[w] for w in path if w < len(self.words))


def load_plugin(spec: str) -> Recognizer:
    """`asr:<model dir>` or `module:<pkg.mod:function>[:<arg>]` -> a recognizer (importlib, by name)."""
    if spec.startswith("asr:"):
        target, argument = "asr.plugin:load_recognizer", spec[4:]
    elif spec.startswith("module:"):
        module_name, _, rest = spec[7:].partition(":")
        function, _, argument = rest.partition(":")
        target = f"{module_name}:{function}"
    else:
        raise RecognizerError(f"recognizer {spec!r}: expected asr:<model dir> or module:<pkg.mod:function>[:<arg>]")
    module_name, _, function = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, function)
    except (ImportError, AttributeError) as error:
        raise RecognizerError(f"recognizer {spec!r}: cannot load {target}: {error}") from None
    try:
        recognizer = factory(argument) if argument else factory()
    except Exception as error:  # noqa: BLE001 - a plug-in's own failure, reported with its name
        raise RecognizerError(f"recognizer {spec!r}: {target}({argument!r}) failed: {type(error).__name__}: "
                              f"{error}") from None
    if not callable(recognizer):
        raise RecognizerError(f"recognizer {spec!r}: {target} did not return a callable")
    return recognizer
