"""Stage 2, normalize: sentences -> words, one definition per language (`corpus.text`).

Per sentence: Unicode NFC and clean-up, lower-casing, punctuation stripped, in-word apostrophes and
hyphens kept or split by the language's rule (`rules_for`, overridable in `BuildConfig`), and the digits
policy. A sentence left with no words, or excluded by the digits policy, is reported and skipped.

The alphabet is then derived from the corpus (`derive_alphabet`: characters under a minimum count or
share are left out) and written to `<lang>/alphabet.json`. A word holding a character outside it is
excluded and counted; by default its whole sentence goes too (`oov_policy="exclude_sentence"`), for the
reason the digits policy gives: the word is still in the audio, and an alignment of the sentence without
it would have to explain that speech with its neighbours. `oov_policy="drop_word"` drops only the word.

This stage is cheap string work and runs on the driver.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from corpus.manifest import Supervision
from corpus.text import TextRules, derive_alphabet, normalize_words, rules_for

__all__ = ["text_rules", "NormalizeResult", "normalize_supervisions"]


def text_rules(language: str, config) -> TextRules:
    """The language's rules with the config's overrides (None keeps the language's rule)."""
    overrides = {name: getattr(config, name) for name in ("apostrophe", "hyphen", "digits")
                 if getattr(config, name) is not None}
    return dataclasses.replace(rules_for(language), **overrides)


@dataclass
class NormalizeResult:
    supervisions: list[Supervision]  # text = normalized words joined by single spaces
    problems: list[tuple[str, str, str]]  # (item id, reason, detail)
    alphabet: dict  # what alphabet.json holds
    excluded_words: Counter  # word -> occurrences excluded for characters outside the alphabet


def normalize_supervisions(supervisions: list[Supervision], language: str, config) -> NormalizeResult:
    rules = text_rules(language, config)
    problems: list[tuple[str, str, str]] = []
    first: list[tuple[Supervision, tuple[str, ...]]] = []
    for sup in supervisions:
        result = normalize_words(sup.text, rules)
        if result.excluded is not None:
            reason = "digits" if result.excluded.startswith("token with digits") else "no_words"
            problems.append((sup.id, reason, result.excluded))
            continue
        first.append((sup, result.words))
    characters = Counter(ch for _, words in first for word in words for ch in word)
    alphabet = set(derive_alphabet((w for _, words in first for w in words), min_count=config.alphabet_min_count,
                                   min_share=config.alphabet_min_share))
    excluded_words: Counter = Counter()
    kept: list[Supervision] = []
    for sup, words in first:
        outside = [w for w in words if not set(w) <= alphabet]
        excluded_words.update(outside)
        if outside and config.oov_policy == "exclude_sentence":
            problems.append((sup.id, "outside_alphabet", "word(s) with characters outside the alphabet: "
                             + ", ".join(sorted(set(outside)))))
            continue
        words = tuple(w for w in words if w not in outside)
        if not words:
            problems.append((sup.id, "no_words", "no words left after removing those outside the alphabet"))
            continue
        kept.append(dataclasses.replace(sup, text=" ".join(words)))
    info = {
        "language": language,
        "characters": sorted(alphabet),
        "counts": {ch: characters[ch] for ch in sorted(characters)},
        "excluded_characters": sorted(set(characters) - alphabet),
        "min_count": config.alphabet_min_count,
        "min_share": config.alphabet_min_share,
        "rules": dataclasses.asdict(rules),
        "excluded_words": {w: excluded_words[w] for w in sorted(excluded_words)},
    }
    return NormalizeResult(supervisions=kept, problems=problems, alphabet=info, excluded_words=excluded_words)
