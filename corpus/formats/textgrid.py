"""Praat TextGrid files: read the long and short text formats, write the long one as MFA 2.x/3.x does.

Forced aligners (Montreal Forced Aligner, our `corpus.align`) and the published MSWC alignments store
one TextGrid per utterance with an IntervalTier "words" and an IntervalTier "phones" (graphemes for
MSWC); silence is an interval with an empty label. Older MFA versions prefix tier names with the
speaker ("spk1 - words"); `word_intervals` finds the words tier under either spelling.

Reading follows Praat's own rule for its text formats: only numbers, quoted strings (a doubled `""`
is one quote) and `<flags>` carry data; labels such as `xmin =`, `item [2]:` and the indices in square
brackets are decoration. So one tokenizer reads the long ("verbose") and the short format alike.
Encodings: UTF-8 (with or without BOM), UTF-16 with BOM (what Praat writes for non-ASCII text),
BOM-less UTF-16 (guessed from NUL bytes) and, failing those, Latin-1. Binary TextGrids are refused
with a clear error.

`read_textgrid(path) -> {tier name: [(start_s, end_s, label), ...]}` keeps every interval including
empty ones (a point tier gives (t, t, label)). `write_textgrid(path, tiers, duration_s)` fills the gaps
between the given intervals with empty ones, as Praat requires, and writes atomically.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from corpus.fsutil import atomic_write_text

__all__ = ["TextGridError", "read_textgrid", "parse_textgrid", "write_textgrid", "format_textgrid",
           "word_intervals", "labelled"]

Interval = tuple[float, float, str]

_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"'                      # 1: a string, "" is an escaped quote
    r'|<(exists|absent|true|false)>'         # 2: a flag
    r'|(?<![\w.])([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])'  # 3: a free-standing number
    r'|\[[^\]"]*\]'                          # an index in brackets: decoration
    r'|!.*?$',                               # a comment to the end of the line (Praat allows them)
    re.MULTILINE)
# Praat tolerates a slack of rounding between adjacent intervals; so do we.
_SLACK_S = 1e-6


class TextGridError(ValueError):
    """A TextGrid file is malformed or in a form we cannot read; names the file."""

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


def _decode(data: bytes, path: str | None) -> str:
    if data.startswith(b"ooBinaryFile"):
        raise TextGridError(path, "binary TextGrid; save it from Praat as a text file (long or short)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if len(data) >= 4 and data[1:2] == b"\x00" and data[3:4] == b"\x00":
        return data.decode("utf-16-le", errors="replace")
    if len(data) >= 4 and data[0:1] == b"\x00" and data[2:3] == b"\x00":
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class _Tokens:
    def __init__(self, text: str, path: str | None) -> None:
        self.items: list[tuple[str, object]] = []
        for match in _TOKEN.finditer(text):
            string, flag, number = match.group(1), match.group(2), match.group(3)
            if string is not None:
                self.items.append(("s", string.replace('""', '"')))
            elif flag is not None:
                self.items.append(("f", flag))
            elif number is not None:
                self.items.append(("n", float(number)))
        self.pos = 0
        self.path = path

    def _next(self, kind: str, what: str) -> object:
        if self.pos >= len(self.items):
            raise TextGridError(self.path, f"file ends where {what} was expected")
        got_kind, value = self.items[self.pos]
        if got_kind != kind:
            raise TextGridError(self.path, f"expected {what}, found {value!r}")
        self.pos += 1
        return value

    def number(self, what: str) -> float:
        return float(self._next("n", what))  # type: ignore[arg-type]

    def count(self, what: str) -> int:
        value = self.number(what)
        if value < 0 or value != int(value):
            raise TextGridError(self.path, f"{what} must be a non-negative integer, got {value}")
        return int(value)

    def string(self, what: str) -> str:
        return str(self._next("s", what))

    def peek(self) -> tuple[str, object] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None


def parse_textgrid(text: str, *, path: str | None = None) -> dict[str, list[Interval]]:
    """Tiers of a TextGrid given as text (long or short format)."""
    tokens = _Tokens(text, path)
    file_type = tokens.string("the file type")
    object_class = tokens.string("the object class")
    if file_type != "ooTextFile" or not object_class.startswith("TextGrid"):
        raise TextGridError(path, f"not a Praat TextGrid text file (file type {file_type!r}, "
                                  f"object class {object_class!r})")
    tokens.number("xmin")
    tokens.number("xmax")
    head = tokens.peek()
    if head is not None and head[0] == "f":
        tokens.pos += 1
        if head[1] == "absent":
            return {}
    size = tokens.count("the number of tiers")
    tiers: dict[str, list[Interval]] = {}
    for index in range(size):
        tier_class = tokens.string(f"the class of tier {index + 1}")
        name = tokens.string(f"the name of tier {index + 1}")
        tokens.number("tier xmin")
        tokens.number("tier xmax")
        count = tokens.count(f"the number of items of tier {name!r}")
        items: list[Interval] = []
        if tier_class == "IntervalTier":
            for _ in range(count):
                start = tokens.number(f"an interval start in tier {name!r}")
                end = tokens.number(f"an interval end in tier {name!r}")
                label = tokens.string(f"an interval label in tier {name!r}")
                if end + _SLACK_S < start:
                    raise TextGridError(path, f"tier {name!r}: interval ends ({end}) before it starts ({start})")
                items.append((start, end, label))
        elif tier_class == "TextTier":
            for _ in range(count):
                time = tokens.number(f"a point time in tier {name!r}")
                items.append((time, time, tokens.string(f"a point label in tier {name!r}")))
        else:
            raise TextGridError(path, f"unknown tier class {tier_class!r}")
        key, n = name, 2
        while key in tiers:  # Praat allows duplicate tier names; keep all of them
            key, n = f"{name} ({n})", n + 1
        tiers[key] = items
    return tiers


def read_textgrid(path: str | os.PathLike[str]) -> dict[str, list[Interval]]:
    """{tier name: [(start_s, end_s, label), ...]} in file order, empty (silence) intervals included."""
    path = Path(path)
    if not path.is_file():
        raise TextGridError(str(path), "no such file")
    data = path.read_bytes()
    if not data.strip():
        raise TextGridError(str(path), "file is empty")
    return parse_textgrid(_decode(data, str(path)), path=str(path))


def labelled(intervals: Iterable[Interval]) -> list[Interval]:
    """The intervals with a non-blank label (drops silences)."""
    return [(a, b, label) for a, b, label in intervals if label.strip()]


def word_intervals(tiers: Mapping[str, Sequence[Interval]], *, tier: str = "words") -> list[Interval]:
    """Labelled intervals of the words tier: 'words', or MFA's per-speaker 'SPEAKER - words', any case.

    Several speaker tiers are merged in time order. MFA's out-of-vocabulary marker `<unk>` and
    silence markers (`sil`, `sp`, `<eps>`) are not words and are dropped.
    """
    wanted = tier.lower()
    names = [n for n in tiers if n.lower() == wanted] or [n for n in tiers if n.lower().endswith(" - " + wanted)]
    if not names:
        raise TextGridError(None, f"no {tier!r} tier among {sorted(tiers)}")
    merged = [iv for n in names for iv in labelled(tiers[n]) if iv[2].strip() not in ("sil", "sp", "<eps>", "spn")]
    return sorted(merged, key=lambda iv: (iv[0], iv[1]))


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _quote(label: str) -> str:
    return '"' + label.replace('"', '""') + '"'


def _filled(name: str, intervals: Sequence[Interval], duration_s: float) -> list[Interval]:
    """Sorted, gap-free intervals from 0 to duration_s; gaps become empty intervals."""
    out: list[Interval] = []
    cursor = 0.0
    for start, end, label in sorted(intervals, key=lambda iv: (iv[0], iv[1])):
        start, end = max(0.0, float(start)), min(duration_s, float(end))
        if start < cursor - 1e-3:  # rounding slack (1 ms); a real overlap is an error
            raise ValueError(f"tier {name!r}: interval {label!r} at {start:.4f} s overlaps the one ending at "
                             f"{cursor:.4f} s")
        start = max(start, cursor)
        if end <= start:
            continue  # zero-length or cut away by the clamps: Praat cannot hold it
        if start > cursor + _SLACK_S:
            out.append((cursor, start, ""))
        out.append((start, end, str(label)))
        cursor = end
    if cursor < duration_s - _SLACK_S or not out:
        out.append((cursor, duration_s, ""))
    return out


def format_textgrid(tiers: Mapping[str, Sequence[Interval]], duration_s: float) -> str:
    """Long text format, laid out as Praat and MFA write it (4-space indents, a space before newline)."""
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "",
             "xmin = 0 ", f"xmax = {_num(duration_s)} ", "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]
    for number, (name, intervals) in enumerate(tiers.items(), start=1):
        filled = _filled(name, intervals, duration_s)
        lines += [f"    item [{number}]:", '        class = "IntervalTier" ', f"        name = {_quote(name)} ",
                  "        xmin = 0 ", f"        xmax = {_num(duration_s)} ",
                  f"        intervals: size = {len(filled)} "]
        for index, (start, end, label) in enumerate(filled, start=1):
            lines += [f"        intervals [{index}]:", f"            xmin = {_num(start)} ",
                      f"            xmax = {_num(end)} ", f"            text = {_quote(label)} "]
    return "\n".join(lines) + "\n"


def write_textgrid(path: str | os.PathLike[str], tiers: Mapping[str, Sequence[Interval]], duration_s: float) -> Path:
    """Write IntervalTiers {name: [(start_s, end_s, label), ...]} (e.g. "words", "phones") atomically.

    Intervals may leave gaps (filled with empty labels, i.e. silence); overlaps are an error.
    """
    path = Path(path)
    atomic_write_text(path, format_textgrid(tiers, float(duration_s)))
    return path
