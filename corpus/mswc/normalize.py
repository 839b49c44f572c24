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
from typing import Any, Mapping

from corpus.manifest import Supervision
from corpus.stages import Context, StageOutput
from corpus.text import TextRules, derive_alphabet, normalize_words, rules_for

__all__ = ["text_rules", "NormalizeResult", "normalize_supervisions", "Alphabet", "run_normalize"]


def text_rules(language: str, config) -> TextRules:
    """The language's rules with the config's overrides (None keeps the language's rule)."""
    overrides = {name: getattr(config, name) for name in ("apostrophe", "hyphen", "digits")
                 if getattr(config, name) is not None}
    return dataclasses.replace(rules_for(language), **overrides)


@dataclass(frozen=True, kw_only=True)
class Alphabet:
    """The derived alphabet and what it left out (what `<lang>/alphabet.json` holds)."""

    language: str
    characters: tuple[str, ...]
    counts: Mapping[str, int]
    excluded_characters: tuple[str, ...]
    min_count: int
    min_share: float
    rules: Mapping[str, Any]
    excluded_words: Mapping[str, int]


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


def run_normalize(ctx: Context) -> StageOutput:
    """The stage: cheap string work on the driver; the alphabet goes to the release with the split."""
    supervisions = ctx.read("ingest", "supervisions")
    result = normalize_supervisions(supervisions, ctx.source.language, ctx.config)
    for item, reason, detail in result.problems:
        ctx.problem(item, reason, detail)
    words = Counter(w for s in result.supervisions for w in s.text.split())
    return StageOutput(count_in=len(supervisions), kept=len(result.supervisions),
                       manifests={"supervisions": result.supervisions, "alphabet": [Alphabet(**result.alphabet)]},
                       report={"alphabet": result.alphabet["characters"], "words": sum(words.values()),
                               "distinct_words": len(words),
                               "words_outside_alphabet": {"occurrences": sum(result.excluded_words.values()),
                                                          "distinct": len(result.excluded_words)}})
