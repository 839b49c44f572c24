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
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["SILENCE", "Lexicon", "LexiconError", "read_mfa_dictionary", "graphemes", "spoken_form", "SPOKEN_FORMS",
           "spell"]

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


@dataclass(frozen=True)
class Lexicon:
    """Units (without silence) and an optional dictionary; `units_of(word)` spells a word."""

    units: tuple[str, ...]
    dictionary: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if SILENCE in self.units:
            raise LexiconError(f"{SILENCE} is reserved for silence")
        object.__setattr__(self, "_index", {u: i for i, u in enumerate(self.units)})

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
        if self.dictionary and word in self.dictionary:
            phones = self.dictionary[word]
            missing = [p for p in phones if p not in self._index]  # type: ignore[attr-defined]
            if missing:
                raise LexiconError(f"word {word!r}: phones {missing} are not in the model")
            return tuple(self._index[p] for p in phones)  # type: ignore[attr-defined]
        out = []
        unseen = []
        for g in graphemes(word):
            if g in self._index:  # type: ignore[attr-defined]
                out.append(self._index[g])  # type: ignore[attr-defined]
            elif g in _SILENT_MARKS:
                continue
            else:
                unseen.append(g)
        if unseen:
            shown = ", ".join(f"{c!r} (U+{ord(c[0]):04X})" for c in dict.fromkeys(unseen))
            raise LexiconError(f"word {word!r} has characters never seen in training: {shown}")
        if not out:
            raise LexiconError(f"word {word!r} has no pronounceable units")
        return tuple(out)

    def to_json(self) -> dict:
        return {"units": list(self.units), "dictionary": {w: list(p) for w, p in self.dictionary.items()}}

    @staticmethod
    def from_json(data: Mapping) -> "Lexicon":
        return Lexicon(units=tuple(data["units"]),
                       dictionary={w: tuple(p) for w, p in data.get("dictionary", {}).items()})


def spell(lexicon: Lexicon, word: str, language: str) -> tuple[int, ...]:
    """Units of a transcript word: its dictionary entry, else the graphemes of its spoken form."""
    return lexicon.units_of(word if word in lexicon.dictionary else spoken_form(word, language))
