"""Lexicon: how a word is spelled in acoustic units.

By default a word's units are its graphemes (characters after `corpus.text` normalization, so "ng'ombe"
is n g ' o m b e). The unit inventory is the corpus's derived alphabet (`corpus.text.derive_alphabet`):
rare characters (typos, foreign letters) are left out of it. A word holding a character outside the
inventory is refused with a clear reason rather than aligned with a made-up model; apostrophes and
hyphens that are not in the inventory are silent and simply dropped from the unit sequence.

Optionally a pronunciation dictionary in MFA's format: `word<TAB>phone phone ...` per line (MFA 2.x/3.x
also allow probability columns between word and phones, and a space instead of the tab; both are
read). The first pronunciation of a word is used; words missing from the dictionary fall back to
graphemes only when every grapheme is a unit, otherwise they are refused.

Or espeak-ng phonemes (`kind="phonemes"`, built by `corpus.align.units.phoneme_lexicon`): units are
espeak's phoneme names reduced to a compact inventory (`phoneme_map`), the dictionary holds the corpus's
words as read in its sentences, a word outside it is phonemized by espeak alone, and a word espeak gives
nothing usable for is spelled by letters (`letters`: each letter's most likely unit). `spelling(word)`
says which of these spelled a word.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["SILENCE", "Lexicon", "LexiconError", "read_mfa_dictionary", "graphemes", "spoken_form", "SPOKEN_FORMS",
           "spell", "spelled_by_letters", "reduce_phoneme", "compact_phoneme", "GRAPHEMES", "PHONEMES"]

# Written abbreviations a grapheme model cannot stretch over what is said ("mr" is two letters, "mister" six):
# a transcript word in this table is spelled as its spoken form. Only forms that are never read as written.
SPOKEN_FORMS: dict[str, dict[str, str]] = {
    "en": {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "vs": "versus", "etc": "etcetera",
           "mt": "mount", "jr": "junior", "sr": "senior", "ft": "feet", "lb": "pound", "lbs": "pounds"},
    "de": {"dr": "doktor", "nr": "nummer", "str": "strasse", "bzw": "beziehungsweise", "usw": "undsoweiter"},
    "fr": {"mme": "madame", "mlle": "mademoiselle", "dr": "docteur"},
    "es": {"sr": "señor", "sra": "señora", "dr": "doctor", "dra": "doctora", "ud": "usted", "uds": "ustedes"},
}

SILENCE = "<sil>"
GRAPHEMES, PHONEMES = "graphemes", "phonemes"  # Lexicon.kind
_SILENT_MARKS = set("'\u2019-")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class LexiconError(ValueError):
    pass


def spoken_form(word: str, language: str) -> str:
    """The word as it is said when the transcript abbreviates it (`SPOKEN_FORMS`), else the word."""
    return SPOKEN_FORMS.get(language.split("-")[0], {}).get(word, word).replace(" ", "")


def graphemes(word: str) -> tuple[str, ...]:
    """Characters of a normalized word; combining marks stay with their base (NFC leaves few)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", word):
        if out and unicodedata.combining(ch):
            out[-1] += ch
        else:
            out.append(ch)
    return tuple(out)


def read_mfa_dictionary(path: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """word -> phones of its first pronunciation, from an MFA dictionary file.

    Lines: `word<TAB>p1 p2 ...`, optionally with 1-4 numeric columns (pronunciation and silence
    probabilities) between the word and the phones; `;;` comments and blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise LexiconError(f"{path}: pronunciation dictionary not found")
    entries: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.lstrip().startswith(";;"):
                continue
            if "\t" in line:
                word, _, rest = line.rstrip("\r\n").partition("\t")
                fields = rest.split()
            else:
                word, *fields = line.split()
            fields = [f for f in fields if f]
            while fields and _NUMBER.match(fields[0]) and len(fields) > 1:
                fields = fields[1:]
            word = unicodedata.normalize("NFC", word.strip())
            if not word or not fields:
                raise LexiconError(f"{path}:{number}: expected 'word<TAB>phone phone ...'")
            entries.setdefault(word, tuple(fields))
    if not entries:
        raise LexiconError(f"{path}: dictionary holds no entries")
    return entries


def compact_phoneme(name: str) -> str:
    """espeak's variant marks dropped (I2 -> I, a# -> a, z2 -> z): the unit a phoneme name counts for."""
    return name[:1] + re.sub(r"[0-9#]", "", name[1:])


def reduce_phoneme(name: str) -> list[str]:
    """Ever coarser names for an espeak phoneme, to find it a unit when it is rare: the name, without
    variant digits and '#' (I2 -> I, a# -> a), without length (3: -> 3), letters only, first letter."""
    out = [name]  # a leading digit is a phoneme of its own (espeak's 3 and 0 are vowels): kept
    out.append(compact_phoneme(name))
    out.append(out[-1][:1] + out[-1][1:].replace(":", ""))
    out.append(out[-1][:1] + re.sub(r"[^A-Za-z@]", "", out[-1][1:]))
    out.append(out[-1][:1])
    return [c for i, c in enumerate(out) if c and c not in out[:i]]


@dataclass(frozen=True)
class Lexicon:
    """Units (without silence) and an optional dictionary; `units_of(word)` spells a word.

    `kind` is "graphemes" (units are characters; the dictionary, if any, an MFA one) or "phonemes" (espeak
    phonemes: `language` is what espeak reads, `phoneme_map` maps espeak names to units, `letters` is the
    fallback for words espeak gives nothing usable for)."""

    units: tuple[str, ...]
    dictionary: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    kind: str = GRAPHEMES
    language: str | None = None
    phoneme_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    letters: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if SILENCE in self.units:
            raise LexiconError(f"{SILENCE} is reserved for silence")
        if self.kind not in (GRAPHEMES, PHONEMES):
            raise LexiconError(f"unknown lexicon kind {self.kind!r}")
        if self.kind == PHONEMES and not self.language:
            raise LexiconError("a phoneme lexicon needs the language espeak-ng reads")
        object.__setattr__(self, "_index", {u: i for i, u in enumerate(self.units)})
        object.__setattr__(self, "_spelled", {})

    @staticmethod
    def from_words(words: Iterable[str], *, dictionary: Mapping[str, tuple[str, ...]] | None = None,
                   min_count: int = 5) -> "Lexicon":
        """Inventory from a corpus: dictionary phones (all of them), else frequent graphemes."""
        from collections import Counter

        counts: Counter[str] = Counter()
        total = 0
        for word in words:
            if dictionary and word in dictionary:
                continue
            for unit in graphemes(word):
                counts[unit] += 1
                total += 1
        units = {u for u, n in counts.items() if n >= min_count and n / max(total, 1) >= 1e-4}
        if dictionary:
            units |= {p for phones in dictionary.values() for p in phones}
        units.discard(SILENCE)
        return Lexicon(units=tuple(sorted(units)), dictionary=dict(dictionary or {}))

    def index(self, unit: str) -> int:
        return self._index[unit]  # type: ignore[attr-defined]

    def units_of(self, word: str) -> tuple[int, ...]:
        """Unit indices of `word`; raises LexiconError naming the characters the model has never seen."""
        return self.spelling(word)[0]

    def spelling(self, word: str) -> tuple[tuple[int, ...], str]:
        """(unit indices, source): source is "dictionary", "espeak", "letters" (espeak gave nothing usable)
        or "graphemes"; raises LexiconError."""
        cache = self._spelled  # type: ignore[attr-defined]
        if word not in cache:
            try:
                cache[word] = self._spell(word)
            except LexiconError as error:
                cache[word] = error
        found = cache[word]
        if isinstance(found, LexiconError):
            raise found
        return found

    def _spell(self, word: str) -> tuple[tuple[int, ...], str]:
        index = self._index  # type: ignore[attr-defined]
        if self.dictionary and word in self.dictionary:
            phones = self.dictionary[word]
            missing = [p for p in phones if p not in index]
            if missing:
                raise LexiconError(f"word {word!r}: phones {missing} are not in the model")
            return tuple(index[p] for p in phones), "dictionary"
        if self.kind == PHONEMES:
            units = self._espeak_units(word)
            if units:
                return units, "espeak"
            units = self._letter_units(word)
            if units:
                return units, "letters"
            raise LexiconError(f"word {word!r}: neither espeak-ng nor its letters give a unit of the model")
        out = []
        unseen = []
        for g in graphemes(word):
            if g in index:
                out.append(index[g])
            elif g in _SILENT_MARKS:
                continue
            else:
                unseen.append(g)
        if unseen:
            shown = ", ".join(f"{c!r} (U+{ord(c[0]):04X})" for c in dict.fromkeys(unseen))
            raise LexiconError(f"word {word!r} has characters never seen in training: {shown}")
        if not out:
            raise LexiconError(f"word {word!r} has no pronounceable units")
        return tuple(out), "graphemes"

    def map_phonemes(self, names: Iterable[str]) -> tuple[int, ...]:
        """Unit indices of espeak phoneme names: `phoneme_map`, else the first coarser name that is a unit;
        a name with neither is left out."""
        index = self._index  # type: ignore[attr-defined]
        out: list[int] = []
        for name in names:
            mapped = self.phoneme_map.get(name)
            if mapped is None:
                mapped = next(((c,) for c in reduce_phoneme(name) if c in index), ())
            out += [index[u] for u in mapped if u in index]
        return tuple(out)

    def _espeak_units(self, word: str) -> tuple[int, ...]:
        from corpus.align.phonemes import PhonemizerError, phonemize_words

        try:
            names = phonemize_words([word], self.language or "")[word]
        except PhonemizerError:
            return ()
        return self.map_phonemes(names)

    def _letter_units(self, word: str) -> tuple[int, ...]:
        index = self._index  # type: ignore[attr-defined]
        out: list[int] = []
        for g in graphemes(word.lower()):
            unit = self.letters.get(g)
            if unit in index and (not out or out[-1] != index[unit]):  # a doubled letter is one sound
                out.append(index[unit])
        return tuple(out)

    def to_json(self) -> dict:
        data: dict = {"units": list(self.units), "dictionary": {w: list(p) for w, p in self.dictionary.items()}}
        if self.kind != GRAPHEMES:
            data.update(kind=self.kind, language=self.language,
                        phoneme_map={n: list(u) for n, u in self.phoneme_map.items()}, letters=dict(self.letters))
        return data

    @staticmethod
    def from_json(data: Mapping) -> "Lexicon":
        """Also reads a grapheme model's lexicon from before phonemes (no `kind`)."""
        return Lexicon(units=tuple(data["units"]),
                       dictionary={w: tuple(p) for w, p in data.get("dictionary", {}).items()},
                       kind=data.get("kind", GRAPHEMES), language=data.get("language"),
                       phoneme_map={n: tuple(u) for n, u in data.get("phoneme_map", {}).items()},
                       letters=dict(data.get("letters", {})))


def spell(lexicon: Lexicon, word: str, language: str) -> tuple[int, ...]:
    """Units of a transcript word: its dictionary entry, else the graphemes of its spoken form."""
    return lexicon.units_of(word if word in lexicon.dictionary else spoken_form(word, language))


def spelled_by_letters(lexicon: Lexicon, words: Iterable[str], language: str) -> list[str]:
    """The distinct `words` a phoneme lexicon could only spell by letters (espeak gave nothing usable)."""
    if lexicon.kind != PHONEMES:
        return []
    out = []
    for word in dict.fromkeys(words):
        try:
            if lexicon.spelling(word if word in lexicon.dictionary else spoken_form(word, language))[1] == "letters":
                out.append(word)
        except LexiconError:
            continue
    return out
