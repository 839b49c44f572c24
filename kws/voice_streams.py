"""Streams made entirely by one synthesizer family (`corpus.voices`): the held-out-synthesizer protocol.

A model trained on espeak-ng speech (shots, unknown words, running speech) and tested on a Flite stream
hears voices no training synthesizer made, which is what a deployed spotter meets. Keywords: isolated
renditions by the family's speakers, cut to the spoken part; running speech: the language's demo
sentences without the keywords, by the same family; both assembled by `kws.streams.make_stream` (levels,
pauses, noise blocks). Families without word times get their keywords between sentences only.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from corpus.voices import VoiceError, backend, render
from kws.data import NoiseBank
from kws.streams import KeywordClip, Stream, StreamConfig, _cut, _energy_span, _sentences_without, make_stream

__all__ = ["family_keyword_clips", "family_sentences", "family_stream"]

RATE = 16000


def family_keyword_clips(keywords: Sequence[str], language: str, family: str, per_keyword: int, *, seed: int,
                         cache_dir: str | os.PathLike[str] | None = None) -> list[KeywordClip]:
    """`per_keyword` renditions of each keyword by speakers of `family` (seeded bank), cut to the word."""
    synth = backend(family)
    voices = synth.voices(language, per_keyword, seed=seed)
    out = []
    for keyword in keywords:
        for voice in voices:
            try:
                result = render(synth, keyword, language=language, voice=voice, cache_dir=cache_dir)
            except VoiceError:
                continue
            start, end = _energy_span(result.samples)
            piece, a, b = _cut(result.samples, start, end)
            out.append(KeywordClip(word=keyword, audio=piece, word_start_s=a, word_end_s=b))
    if not out:
        raise VoiceError(f"{family} could not say any of {list(keywords)}")
    return out


def family_sentences(language: str, keywords: Sequence[str], family: str, count: int, *, seed: int,
                     cache_dir: str | os.PathLike[str] | None = None
                     ) -> list[tuple[np.ndarray, list[tuple[float, float]]]]:
    """`count` demo sentences without the keywords, each by the next speaker of `family`'s bank."""
    synth = backend(family)
    texts = _sentences_without(language, keywords, count, seed)
    voices = synth.voices(language, 24, seed=seed + 1)
    out = []
    for i, text in enumerate(texts):
        result = render(synth, text, language=language, voice=voices[i % len(voices)], cache_dir=cache_dir)
        out.append((result.samples, list(result.word_times or [])))
    return out


def family_stream(language: str, keywords: Sequence[str], family: str, noise: NoiseBank, config: StreamConfig, *,
                  keyword_voices: int = 24, sentences: int | None = None,
                  cache_dir: str | os.PathLike[str] | None = None) -> Stream:
    """A noisy stream whose keywords and running speech all come from `family` (see the module docstring).
    `sentences`: how many distinct sentences to synthesize (default: enough to fill the stream once); fewer
    are repeated in turn, for slow families (Kokoro renders about real time on one busy core)."""
    synth = backend(family)
    reason = synth.unavailable()
    if reason or not synth.serves(language):
        raise VoiceError(f"synthesizer {family} cannot make a {language} stream here: {reason or 'language not served'}")
    clips = family_keyword_clips(keywords, language, family, keyword_voices, seed=config.seed + 17, cache_dir=cache_dir)
    count = sentences if sentences is not None else int(config.duration_s / 2.5) + 10
    speech = family_sentences(language, keywords, family, count, seed=config.seed + 29, cache_dir=cache_dir)
    return make_stream(None, keywords, noise, config, clips=clips, sentences=speech, language=language)
