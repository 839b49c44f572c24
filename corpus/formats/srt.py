"""SubRip (.srt) captions: a lenient parser for real-world files and a standard writer.

Captions found on the web (Internet Archive uploads, fan subtitles) are rarely clean: a UTF-8 BOM,
Windows line ends, missing blank lines between cues, missing cue numbers, `.` instead of `,`,
milliseconds written with one or two digits (`00:02:39,81` means 810 ms, as players read it), HTML
tags such as <i>. All of these are read without complaint, because each has exactly one sensible
reading.

What is not accepted silently is anything where guessing would put wrong times on text that later
trains a model: a line with `-->` whose timestamps do not parse, a cue that ends before it starts, a
cue number not followed by its timing line. Those raise `SrtError` with the file and 1-based line
number, or, with `on_error="skip"`, the cue is dropped and the problem recorded so a batch job can
report it and go on.
"""

from __future__ import annotations

import html
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from corpus.fsutil import atomic_write_text

__all__ = [
    "SrtError", "Cue", "SrtProblem", "SrtDocument", "parse_timestamp", "format_timestamp", "parse_srt",
    "read_srt", "render_srt", "write_srt", "strip_markup",
]

OnError = Literal["raise", "skip"]


class SrtError(ValueError):
    """A SubRip file is malformed where guessing would corrupt data; names the file and line."""

    def __init__(self, reason: str, *, path: str | os.PathLike[str] = "<string>", line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, kw_only=True)
class Cue:
    """One caption: `text` keeps its line breaks ('\\n'); times are seconds from the start of the media."""

    index: int
    start_s: float
    end_s: float
    text: str

    def __post_init__(self) -> None:
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.end_s < self.start_s:
            raise ValueError(f"cue {self.index} ends ({self.end_s:.3f} s) before it starts ({self.start_s:.3f} s)")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, kw_only=True)
class SrtProblem:
    """A cue skipped under on_error="skip": where, and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class SrtDocument:
    cues: tuple[Cue, ...]
    problems: tuple[SrtProblem, ...] = ()


# Hours are optional (some tools write mm:ss,mmm); the fraction may have 1-3 digits and use ',' or '.'.
_TIMESTAMP = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING_LINE = re.compile(rf"^\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(?:\s+.*)?$")
_SINGLE_TIMESTAMP = re.compile(rf"^\s*{_TIMESTAMP}\s*$")
_INDEX_LINE = re.compile(r"^\s*\d+\s*$")
# A line starting like a timestamp is a timing line, even when its arrow is mangled ('->', '- >').
_TIMING_LIKE = re.compile(r"^\s*(?:\d{1,3}:\d{1,2}:\d{1,2}|\d{1,2}:\d{1,2}[,.]\d{1,3})")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|\{\\[^{}]*\}")  # HTML-like tags and ASS overrides such as {\an8}


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str | None) -> float:
    if int(minutes) >= 60 or int(seconds) >= 60:
        raise ValueError(f"minutes and seconds must be below 60, got {minutes}:{seconds}")
    # A fraction is a decimal fraction: ",81" is 810 ms and ",5" is 500 ms, as players read it.
    millis = int(fraction.ljust(3, "0")) if fraction else 0
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + millis / 1000.0


def parse_timestamp(text: str) -> float:
    """'00:02:39,810', '00:02:39.81' or '02:39,81' -> 159.81 seconds; ValueError if malformed."""
    match = _SINGLE_TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not a SubRip timestamp: {text!r}")
    return _seconds(*match.groups())


def format_timestamp(seconds: float, *, ms_digits: int = 3) -> str:
    """Seconds -> 'HH:MM:SS,mmm'. ms_digits=2 writes centiseconds ('00:02:39,81'), as some tools do."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timestamp must be a finite number >= 0, got {seconds!r}")
    if ms_digits not in (1, 2, 3):
        raise ValueError(f"ms_digits must be 1, 2 or 3, got {ms_digits}")
    unit = 10 ** (3 - ms_digits)
    total_units = int(round(seconds * 1000 / unit))
    total_ms = total_units * unit
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis // unit:0{ms_digits}d}"


def strip_markup(text: str) -> str:
    """Remove <i>, <b>, <font ...>, {\\an8} and the like, then decode HTML entities (&amp; -> &)."""
    return html.unescape(_TAG.sub("", text))


def _normalise_newlines(text: str) -> list[str]:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


class _Parser:
    def __init__(self, lines: list[str], path: str, on_error: OnError, keep_markup: bool) -> None:
        self.lines = lines
        self.path = path
        self.on_error = on_error
        self.keep_markup = keep_markup
        self.cues: list[Cue] = []
        self.problems: list[SrtProblem] = []
        self.current: dict | None = None  # cue being collected: index, start_s, end_s, text lines, closed
        self.skipping = False  # inside a rejected cue: its text lines are dropped with it
        self.last_index = 0

    def fail(self, line: int, reason: str) -> None:
        if self.on_error == "raise":
            raise SrtError(reason, path=self.path, line=line)
        self.problems.append(SrtProblem(path=self.path, line=line, reason=reason))
        self.finish()  # the cue before the bad one is complete and good
        self.skipping = True

    def finish(self) -> None:
        if self.current is None:
            return
        text = "\n".join(line.strip() for line in self.current["text"] if line.strip())
        if not self.keep_markup:
            text = "\n".join(line.strip() for line in strip_markup(text).split("\n") if line.strip())
        self.cues.append(Cue(index=self.current["index"], start_s=self.current["start_s"],
                             end_s=self.current["end_s"], text=text))
        self.current = None

    def next_is_timing(self, number: int) -> bool:
        return number + 1 < len(self.lines) and "-->" in self.lines[number + 1]

    def next_is_timing_like(self, number: int) -> bool:
        return number + 1 < len(self.lines) and _TIMING_LIKE.match(self.lines[number + 1]) is not None

    def run(self) -> SrtDocument:
        pending_index: int | None = None
        for number, raw in enumerate(self.lines):
            line_no = number + 1
            line = raw.strip()
            if "-->" in line or _TIMING_LIKE.match(line):
                self.finish()
                self.skipping = False
                match = _TIMING_LINE.match(line)
                if match is None:
                    self.fail(line_no, f"malformed timing line {line!r}; expected 'HH:MM:SS,mmm --> HH:MM:SS,mmm'")
                    pending_index = None
                    continue
                try:
                    start_s = _seconds(*match.groups()[:4])
                    end_s = _seconds(*match.groups()[4:8])
                except ValueError as error:
                    self.fail(line_no, f"malformed timing line {line!r}: {error}")
                    pending_index = None
                    continue
                index = pending_index if pending_index is not None else self.last_index + 1
                pending_index = None
                self.last_index = index
                if end_s < start_s:
                    self.fail(line_no, f"cue {index} ends ({end_s:.3f} s) before it starts ({start_s:.3f} s)")
                    continue
                self.current = {"index": index, "start_s": start_s, "end_s": end_s, "text": [], "closed": False}
            elif not line:
                if self.current is not None:
                    self.current["closed"] = True
            elif _INDEX_LINE.match(line) and (self.next_is_timing(number) or self.next_is_timing_like(number)):
                self.finish()
                self.skipping = False
                pending_index = int(line)
            elif self.skipping:
                continue
            elif _INDEX_LINE.match(line) and (self.current is None or self.current["closed"]):
                # A number opening a block must be a cue number; reading it as text would glue the
                # next cue's words onto this one with this one's times.
                self.fail(line_no, f"cue number {line} is not followed by a timing line")
            elif self.current is not None:
                # After a blank line, text with no timing of its own continues the cue (blank lines
                # inside cue text occur in real files).
                self.current["text"].append(raw)
                self.current["closed"] = False
            else:
                self.fail(line_no, f"text {line[:40]!r} before the first timing line")
        self.finish()
        return SrtDocument(cues=tuple(self.cues), problems=tuple(self.problems))


def parse_srt(text: str, *, path: str | os.PathLike[str] = "<string>", on_error: OnError = "raise",
              keep_markup: bool = False) -> SrtDocument:
    """Parse SubRip text. `path` is only used in messages. Markup is stripped unless `keep_markup`.

    on_error="raise" raises `SrtError` at the first malformed timing line or reversed cue;
    on_error="skip" drops such cues (with their text) and lists them in `SrtDocument.problems`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    return _Parser(_normalise_newlines(text), str(path), on_error, keep_markup).run()


def read_srt(path: str | os.PathLike[str], *, on_error: OnError = "raise", keep_markup: bool = False) -> SrtDocument:
    """Read a .srt file (UTF-8, with or without BOM; cp1252 as a fallback for old Windows files)."""
    path = Path(path)
    if not path.is_file():
        raise SrtError("file does not exist", path=path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return parse_srt(text, path=path, on_error=on_error, keep_markup=keep_markup)


def render_srt(cues: Iterable[Cue]) -> str:
    """Standard SubRip: cues numbered 1..n in the given order, 3-digit milliseconds, LF line ends."""
    blocks = []
    for number, cue in enumerate(cues, start=1):
        text = "\n".join(line for line in cue.text.split("\n") if line.strip())
        blocks.append(f"{number}\n{format_timestamp(cue.start_s)} --> {format_timestamp(cue.end_s)}\n{text}\n")
    return "\n".join(blocks)


def write_srt(path: str | os.PathLike[str], cues: Iterable[Cue]) -> Path:
    """Write `render_srt(cues)` atomically as UTF-8 without BOM."""
    path = Path(path)
    atomic_write_text(path, render_srt(cues))
    return path
