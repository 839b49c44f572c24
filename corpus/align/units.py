"""Which units an aligner models: espeak-ng phonemes (a compact inventory per language) or graphemes.

Letters give every silent letter a unit of its own (>= 3 frames, 30 ms: "knight" needs six units, its
sound three), and the synthetic head start hears espeak speech whose phonemes are known exactly. So where
espeak-ng has a voice of the language's own, units are its phonemes:

1. Pronunciations: each transcript is phonemized as a sentence (`phonemes.phonemize_transcript`), so a
   word gets the form said in running speech; a word's entry is its most frequent in-sentence form, or
   its form said alone where espeak joined it with a neighbour ("of the") in every sentence.
2. Inventory: espeak's names without its variant marks (`lexicon.compact_phoneme`: I2 -> I, a# -> a) heard
   at least `min_count` times in the corpus are the units; a rarer name maps to the first coarser name that
   is one (`lexicon.reduce_phoneme`: a: -> a, n^ -> n), else is dropped.
3. Letters as the fallback: a word whose pronunciation has no unit of the inventory is spelled by letters,
   each letter standing for the unit of the same name, else the unit it most often begins a word with in
   the corpus (`c` -> k, `j` -> dZ in English). Such words are counted in the training summary and named per item.

`choose_units(config_units, language, transcripts)`: "auto" gives phonemes for a language espeak reads with
its own voice and whose spelling is deep (fewer than 0.93 espeak phonemes per letter over the corpus's
words: English, French, German), graphemes for a shallow one (Spanish, Italian, Swahili: letters are the
sounds already, and did as well or better), for one read with a stand-in voice (Luganda with Swahili's:
its letter-to-sound rules are not Luganda's) or none. An MFA dictionary, when given, replaces both.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from corpus.align.lexicon import (GRAPHEMES, PHONEMES, Lexicon, LexiconError, compact_phoneme, graphemes,
                                  reduce_phoneme)

__all__ = ["choose_units", "phoneme_lexicon", "extend_lexicon", "pronunciations", "spelling_sources",
           "phonemes_per_letter", "DEEP_ORTHOGRAPHY_PHONEMES_PER_LETTER"]


# "auto" takes phonemes below this many espeak phonemes per letter (deep orthographies: en 0.81, fr 0.78,
# de 0.88 on the demo sentences); above it letters already are the sounds (es 0.98, it 0.99, pt 0.96, sw 0.98)
# and model them as well or better: synthetic Spanish, bench/align.py full size, 10.8 ms with letters,
# 12.4 ms with phonemes
DEEP_ORTHOGRAPHY_PHONEMES_PER_LETTER = 0.93


def phonemes_per_letter(transcripts: Sequence[Sequence[str]], language: str) -> float:
    """Mean over the transcripts' words of (espeak phonemes / letters): below 1 where letters are silent or
    spell one sound together."""
    said = pronunciations(transcripts, language)
    ratios = [len(said[w]) / max(1, sum(1 for g in graphemes(w) if g not in "'-\u2019")) for t in transcripts
              for w in t]
    return float(sum(ratios) / len(ratios)) if ratios else 1.0


def choose_units(units: str, language: str, transcripts: Sequence[Sequence[str]] = ()) -> str:
    """"phonemes" or "graphemes" for `AlignerConfig.units` ("auto", "phonemes", "graphemes"). "auto": phonemes
    when espeak has a voice of the language's own and, given the corpus's `transcripts`, its orthography is
    deep (`DEEP_ORTHOGRAPHY_PHONEMES_PER_LETTER`)."""
    from corpus.align.phonemes import PhonemizerError, espeak_voice
    from corpus.synth import LANGUAGE_VOICES

    if units == GRAPHEMES:
        return GRAPHEMES
    try:
        espeak_voice(language)
    except PhonemizerError as error:
        if units == PHONEMES:
            raise LexiconError(f"phonemes as units need an espeak-ng voice: {error}") from None
        return GRAPHEMES
    if units == "auto" and language.split("-")[0] in LANGUAGE_VOICES:
        return GRAPHEMES
    if units == "auto" and transcripts and \
            phonemes_per_letter(transcripts, language) >= DEEP_ORTHOGRAPHY_PHONEMES_PER_LETTER:
        return GRAPHEMES
    return PHONEMES


def pronunciations(transcripts: Sequence[Sequence[str]], language: str) -> dict[str, tuple[str, ...]]:
    """word -> espeak phoneme names: its most frequent form in the transcripts' sentences, else said alone."""
    from corpus.align.phonemes import phonemize_transcript, phonemize_words

    heard: dict[str, Counter[tuple[str, ...]]] = {}
    for words in transcripts:
        spoken = phonemize_transcript(list(words), language)
        for word, names in zip(words, spoken or ()):
            if names:
                heard.setdefault(word, Counter())[names] += 1
    vocabulary = sorted({w for words in transcripts for w in words})
    alone = phonemize_words([w for w in vocabulary if w not in heard], language)
    # ties: the form first seen wins (Counter keeps insertion order), so the same corpus gives the same lexicon
    return {w: heard[w].most_common(1)[0][0] if w in heard else alone[w] for w in vocabulary}


def _letter_table(dictionary: dict[str, tuple[str, ...]], units: Iterable[str]) -> dict[str, str]:
    """letter -> the unit of the same name, else the unit it most often begins a word with (ties: first seen)."""
    first: dict[str, Counter[str]] = {}
    for word, phones in dictionary.items():
        letters = graphemes(word)
        if letters and phones:
            first.setdefault(letters[0], Counter())[phones[0]] += 1
    table = {letter: counts.most_common(1)[0][0] for letter, counts in first.items()}
    table.update({unit: unit for unit in units if len(graphemes(unit)) == 1 and unit.islower()})
    return dict(sorted(table.items()))


def phoneme_lexicon(transcripts: Sequence[Sequence[str]], language: str, *, min_count: int = 5) -> Lexicon:
    """The phoneme lexicon of a corpus (its transcripts as normalized words); raises LexiconError when espeak
    gives no phoneme at all."""
    said = pronunciations(transcripts, language)
    names: Counter[str] = Counter()
    for words in transcripts:
        for word in words:
            names.update(said[word])
    counts: Counter[str] = Counter()
    for name, count in names.items():
        counts[compact_phoneme(name)] += count
    units = sorted(n for n, c in counts.items() if c >= min_count)
    if not units:
        raise LexiconError(f"espeak-ng gives no phoneme heard {min_count} times in this corpus ({language})")
    inventory = set(units)
    phoneme_map = {n: next(((c,) for c in reduce_phoneme(compact_phoneme(n)) if c in inventory), ())
                   for n in sorted(names)}
    lexicon = Lexicon(units=tuple(units), kind=PHONEMES, language=language, phoneme_map=phoneme_map)
    dictionary = {w: tuple(lexicon.units[i] for i in lexicon.map_phonemes(names)) for w, names in said.items()}
    dictionary = {w: phones for w, phones in dictionary.items() if phones}
    return Lexicon(units=tuple(units), dictionary=dictionary, kind=PHONEMES, language=language,
                   phoneme_map=phoneme_map, letters=_letter_table(dictionary, units))


def extend_lexicon(lexicon: Lexicon, transcripts: Sequence[Sequence[str]]) -> Lexicon:
    """`lexicon` (a head start's) with the corpus's own words as read in its sentences, in its units."""
    if lexicon.kind != PHONEMES or lexicon.dictionary and not lexicon.phoneme_map:
        return lexicon  # graphemes or an MFA dictionary: nothing to add
    said = pronunciations(transcripts, lexicon.language or "")
    added = {w: tuple(lexicon.units[i] for i in lexicon.map_phonemes(names)) for w, names in said.items()}
    dictionary = {**lexicon.dictionary, **{w: phones for w, phones in added.items() if phones}}
    return Lexicon(units=lexicon.units, dictionary=dictionary, kind=PHONEMES, language=lexicon.language,
                   phoneme_map=lexicon.phoneme_map, letters=lexicon.letters)


def spelling_sources(lexicon: Lexicon, words: Iterable[str]) -> dict[str, list[str]]:
    """source -> the distinct words it spelled ("dictionary", "espeak", "letters", "graphemes", "refused")."""
    out: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        try:
            source = lexicon.spelling(word)[1]
        except LexiconError:
            source = "refused"
        out.setdefault(source, []).append(word)
    return out
