"""CTM (time-marked conversation) files, as Kaldi and MFA write them:

    <recording> <channel> <start_s> <duration_s> <label> [<confidence>]

one token per line, whitespace-separated; lines starting with `;;` are comments. `read_ctm` accepts
5 or 6 fields; `write_ctm` writes 6 (confidence last), times with 6 decimals, atomically.
`alignment_rows` turns `corpus.manifest.Alignment`s into rows (words or their units).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from corpus.fsutil import atomic_open
from corpus.manifest import Alignment

__all__ = ["CtmRow", "CtmError", "read_ctm", "write_ctm", "alignment_rows"]


class CtmError(ValueError):
    def __init__(self, path: str | os.PathLike[str] | None, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = (None if path is None else str(path)), line, reason
        where = f"{self.path}:{line}: " if self.path and line else f"{self.path}: " if self.path else ""
        super().__init__(where + reason)


@dataclass(frozen=True, kw_only=True)
class CtmRow:
    recording: str
    channel: str
    start_s: float
    duration_s: float
    label: str
    confidence: float | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def read_ctm(path: str | os.PathLike[str]) -> list[CtmRow]:
    path = Path(path)
    if not path.is_file():
        raise CtmError(path, None, "no such file")
    rows = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(";;"):
                continue
            fields = line.split()
            if len(fields) not in (5, 6):
                raise CtmError(path, number, f"expected 5 or 6 fields, found {len(fields)}")
            try:
                start, duration = float(fields[2]), float(fields[3])
                confidence = float(fields[5]) if len(fields) == 6 else None
            except ValueError:
                raise CtmError(path, number, "start, duration and confidence must be numbers") from None
            if not (math.isfinite(start) and math.isfinite(duration)) or start < 0 or duration < 0:
                raise CtmError(path, number, f"bad times: start {fields[2]}, duration {fields[3]}")
            rows.append(CtmRow(recording=fields[0], channel=fields[1], start_s=start, duration_s=duration,
                               label=fields[4], confidence=confidence))
    return rows


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def write_ctm(path: str | os.PathLike[str], rows: Iterable[CtmRow]) -> Path:
    path = Path(path)
    with atomic_open(path, "w") as handle:
        for row in rows:
            for name, value in (("recording", row.recording), ("channel", row.channel), ("label", row.label)):
                if not value or any(ch.isspace() for ch in value):
                    raise CtmError(path, None, f"{name} {value!r} is empty or holds whitespace")
            if not (math.isfinite(row.start_s) and math.isfinite(row.duration_s)):
                raise CtmError(path, None, f"non-finite time for {row.label!r}")
            confidence = 1.0 if row.confidence is None else row.confidence
            handle.write(f"{row.recording} {row.channel} {_num(row.start_s)} {_num(row.duration_s)} {row.label} "
                         f"{_num(confidence)}\n")
    return path


def alignment_rows(alignments: Iterable[Alignment], *, units: bool = False, channel: str = "1",
                   by_recording: bool = False) -> list[CtmRow]:
    """CTM rows of the words (or units) of each alignment, keyed by alignment id (or recording id)."""
    rows = []
    for alignment in alignments:
        key = alignment.recording_id if by_recording else alignment.id
        for word in (alignment.units if units else alignment.words):
            rows.append(CtmRow(recording=key, channel=channel, start_s=word.start_s, duration_s=word.duration_s,
                               label=word.text, confidence=word.score))
    return rows
