"""CTC decoding: greedy (best path), prefix beam search, and beam search with a word n-gram LM through
`flashlight-text` (an optional extra: `pip install flashlight-text`; it bundles KenLM and reads ARPA).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import numpy as np

__all__ = ["log_softmax", "greedy", "prefix_beam_search", "LmDecoder", "LmUnavailable"]


class LmUnavailable(RuntimeError):
    """flashlight-text is not installed, so LM decoding cannot run."""


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def greedy(log_probs: np.ndarray, blank: int = 0) -> list[int]:
    """Best path: argmax per frame, merge repeats, drop blanks. `log_probs` is [frames, vocab]."""
    best = np.argmax(log_probs, axis=-1)
    out, previous = [], -1
    for token in best.tolist():
        if token != previous and token != blank:
            out.append(token)
        previous = token
    return out


def _logadd(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def prefix_beam_search(log_probs: np.ndarray, beam: int = 8, blank: int = 0, prune: float = -12.0) -> list[int]:
    """CTC prefix beam search (Hannun et al. 2014) without an LM; tokens below `prune` log-prob per frame
    are skipped, which keeps it fast without changing results in practice."""
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (p_blank, p_nonblank)
    for frame in np.asarray(log_probs, np.float64):
        candidates = [int(t) for t in np.nonzero(frame > prune)[0]] or [int(np.argmax(frame))]
        next_beams: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_b, p_nb) in beams.items():
            total = _logadd(p_b, p_nb)
            for token in candidates:
                p = float(frame[token])
                if token == blank:
                    entry = next_beams[prefix]
                    entry[0] = _logadd(entry[0], total + p)
                    continue
                extended = prefix + (token,)
                entry = next_beams[extended]
                if prefix and prefix[-1] == token:
                    entry[1] = _logadd(entry[1], p_b + p)  # a repeat needs a blank in between
                    same = next_beams[prefix]
                    same[1] = _logadd(same[1], p_nb + p)
                else:
                    entry[1] = _logadd(entry[1], total + p)
        ranked = sorted(next_beams.items(), key=lambda kv: _logadd(*kv[1]), reverse=True)[:beam]
        beams = {prefix: (pb, pnb) for prefix, (pb, pnb) in ranked}
    return list(max(beams.items(), key=lambda kv: _logadd(*kv[1]))[0])


class LmDecoder:
    """Lexicon-constrained beam search with a KenLM word n-gram (flashlight-text's LexiconDecoder).

    `vocabulary` is the tokenizer's (index 0 = blank, '|' = word boundary for characters); `words` are
    the lexicon (the training text's words). Spellings use the tokenizer's own units."""

    def __init__(self, *, arpa_path: str, vocabulary: Sequence[str], words: Sequence[str], spell,
                 beam: int = 32, lm_weight: float = 0.8, word_score: float = 0.0, sil_token: str = "|") -> None:
        try:
            from flashlight.lib.text.decoder import (CriterionType, KenLM, LexiconDecoder, LexiconDecoderOptions,
                                                     SmearingMode, Trie)
            from flashlight.lib.text.dictionary import Dictionary
        except ImportError as error:
            raise LmUnavailable(f"LM decoding needs flashlight-text ({error})") from None
        self.vocabulary = list(vocabulary)
        self.tokens = Dictionary(self.vocabulary)
        lexicon = {word: [spell(word)] for word in sorted(set(words))}
        self.word_dict = Dictionary([*lexicon, "<unk>"])
        self.lm = KenLM(arpa_path, self.word_dict)
        sil = self.vocabulary.index(sil_token) if sil_token in self.vocabulary else 0
        trie = Trie(len(self.vocabulary), sil)
        start = self.lm.start(False)
        unk = self.word_dict.get_index("<unk>")
        for word, spellings in lexicon.items():
            word_index = self.word_dict.get_index(word)
            _, score = self.lm.score(start, word_index)
            for spelling in spellings:
                ids = [self.tokens.get_index(unit) for unit in spelling]
                trie.insert(ids, word_index, score)
        trie.smear(SmearingMode.MAX)
        options = LexiconDecoderOptions(beam_size=beam, beam_size_token=len(self.vocabulary), beam_threshold=25.0,
                                        lm_weight=lm_weight, word_score=word_score, unk_score=-math.inf,
                                        sil_score=0.0, log_add=False, criterion_type=CriterionType.CTC)
        self.decoder = LexiconDecoder(options, trie, self.lm, sil, 0, unk, [], False)

    def decode(self, log_probs: np.ndarray) -> str:
        emissions = np.ascontiguousarray(log_probs, np.float32)
        frames, vocab = emissions.shape
        results = self.decoder.decode(emissions.ctypes.data, frames, vocab)
        if not results:
            return ""
        return " ".join(self.word_dict.get_entry(w) for w in results[0].words if w >= 0)
