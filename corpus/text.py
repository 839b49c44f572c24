"""Transcript normalization per language: the one definition of "a word" every stage uses.

Steps: Unicode clean-up (NFC; full-width forms folded; zero-width and other format characters and
bidi marks removed; every kind of space made a plain space), lower-casing (Turkic dotted/dotless i
handled), punctuation removed except apostrophes and hyphens *inside* a word, which a per-language rule
keeps or splits on, and a policy for tokens with digits (their spoken form is unknown, so by default
the whole sentence is excluded: dropping only the token would leave unexplained speech in the audio).

Lower-casing uses str.lower(), not str.casefold(): casefold rewrites spellings (German ß -> ss).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

__all__ = [
    "TextRules", "rules_for", "clean_unicode", "normalize_words", "NormalizedText", "derive_alphabet",
    "is_logographic", "min_keyword_chars",
]

APOSTROPHES = "'\u2019\u02bc\u2018`\u00b4\u02bb"
HYPHENS = "-\u2010\u2011"
_APOSTROPHE_MARK = "\x01"  # placeholders survive the punctuation strip
_HYPHEN_MARK = "\x02"


@dataclass(frozen=True, kw_only=True)
class TextRules:
    language: str
    apostrophe: str = "keep"  # keep | split
    hyphen: str = "split"  # keep | split
    digits: str = "exclude_sentence"  # exclude_sentence | drop_token | keep
    turkic_i: bool = False

    def __post_init__(self) -> None:
        if self.apostrophe not in ("keep", "split"):
            raise ValueError(f"apostrophe rule must be keep or split, got {self.apostrophe!r}")
        if self.hyphen not in ("keep", "split"):
            raise ValueError(f"hyphen rule must be keep or split, got {self.hyphen!r}")
        if self.digits not in ("exclude_sentence", "drop_token", "keep"):
            raise ValueError(f"digits rule must be exclude_sentence, drop_token or keep, got {self.digits!r}")


# Elided articles and pronouns (l'école, dell'acqua) are separate words; Bantu apostrophes (ng'ombe,
# n'abantu) and English contractions belong to the word.
_RULES: dict[str, TextRules] = {
    "fr": TextRules(language="fr", apostrophe="split"),
    "it": TextRules(language="it", apostrophe="split"),
    "ca": TextRules(language="ca", apostrophe="split"),
    "tr": TextRules(language="tr", turkic_i=True),
    "az": TextRules(language="az", turkic_i=True),
}


def rules_for(language: str) -> TextRules:
    return _RULES.get(language.split("-")[0], TextRules(language=language))


_SPACE_LIKE = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


def clean_unicode(text: str) -> str:
    """NFC, full-width/half-width forms folded, format characters removed, spaces unified."""
    text = "".join(unicodedata.normalize("NFKC", ch) if 0xFF00 <= ord(ch) <= 0xFFEF else ch for ch in text)
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc") or ch in "\t\n")
    return _SPACE_LIKE.sub(" ", text).strip()


def _lower(text: str, rules: TextRules) -> str:
    if rules.turkic_i:
        text = text.replace("I", "\u0131").replace("\u0130", "i")
    return unicodedata.normalize("NFC", text.lower())


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("L", "M", "N")


def _mark_inword(text: str, marks: str, placeholder: str) -> str:
    chars = list(text)
    for i, ch in enumerate(chars):
        if ch in marks and 0 < i < len(chars) - 1 and _is_word_char(chars[i - 1]) and _is_word_char(chars[i + 1]):
            chars[i] = placeholder
    return "".join(chars)


@dataclass(frozen=True)
class NormalizedText:
    words: tuple[str, ...]
    excluded: str | None = None  # why the whole sentence is unusable, or None

    @property
    def text(self) -> str:
        return " ".join(self.words)


def normalize_words(text: str, rules: TextRules) -> NormalizedText:
    """The words of `text` under `rules`; `excluded` is set when the sentence cannot be used."""
    text = _lower(clean_unicode(text), rules)
    text = _mark_inword(text, APOSTROPHES, _APOSTROPHE_MARK)
    text = _mark_inword(text, HYPHENS, _HYPHEN_MARK)
    text = "".join(ch if _is_word_char(ch) or ch in (_APOSTROPHE_MARK, _HYPHEN_MARK) else " " for ch in text)
    text = text.replace(_APOSTROPHE_MARK, "'" if rules.apostrophe == "keep" else " ")
    text = text.replace(_HYPHEN_MARK, "-" if rules.hyphen == "keep" else " ")
    words = []
    for token in text.split():
        if any(unicodedata.category(ch)[0] == "N" for ch in token):
            if rules.digits == "exclude_sentence":
                return NormalizedText(tuple(), excluded=f"token with digits {token!r}")
            if rules.digits == "drop_token":
                continue
        words.append(token)
    if not words:
        return NormalizedText(tuple(), excluded="no words")
    return NormalizedText(tuple(words))


def derive_alphabet(words: Iterable[str], *, min_count: int = 5, min_share: float = 1e-4) -> tuple[str, ...]:
    """Characters of the corpus's words, minus the rare ones (typos, foreign letters, stray symbols).

    A character is kept when it occurs at least `min_count` times and makes up at least `min_share`
    of all characters. Apostrophes and hyphens kept inside words count as characters.
    """
    counts = Counter(ch for word in words for ch in word)
    total = sum(counts.values()) or 1
    return tuple(sorted(ch for ch, n in counts.items() if n >= min_count and n / total >= min_share))


_LOGOGRAPHIC_SCRIPTS = ("CJK UNIFIED", "CJK COMPATIBILITY", "HIRAGANA", "KATAKANA", "HANGUL")


def is_logographic(word: str) -> bool:
    """True for words mostly in Chinese/Japanese-type scripts, where 2 characters make a keyword."""
    letters = [ch for ch in word if unicodedata.category(ch)[0] == "L"]
    if not letters:
        return False
    hits = sum(any(unicodedata.name(ch, "").startswith(s) for s in _LOGOGRAPHIC_SCRIPTS) for ch in letters)
    return hits * 2 > len(letters)


def min_keyword_chars(word: str, *, alphabetic: int = 3, logographic: int = 2) -> int:
    return logographic if is_logographic(word) else alphabetic
