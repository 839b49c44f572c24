"""Manifests: small frozen dataclasses, one JSON object per line, gzip when the name ends in .gz.

Both dataset builders (MSWC and People's Speech) and the aligner speak these types:

- `Recording`: one audio file (id, path, rate, length).
- `Supervision`: a span of a recording with its text, language and speaker.
- `AlignedWord`: a timed word or grapheme with a confidence score.
- `Alignment`: the words (and units) of one supervision, with an utterance score.

Writers validate first (unique ids, finite non-negative times, spans inside their recording) and
write atomically; readers are lazy and name the file and line of anything malformed. `CheckpointLog`
is the append-only record that lets a killed stage resume without redoing or duplicating work.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from corpus.fsutil import atomic_path

__all__ = [
    "ManifestError", "Recording", "Supervision", "AlignedWord", "Alignment", "MANIFEST_TYPES",
    "read_manifest", "write_manifest", "validate_unique_ids", "validate_supervisions", "CheckpointLog",
    "write_jsonl", "read_jsonl",
]

# Times are compared with this slack: a supervision may end a hair past its recording because of
# rounding of sample counts to seconds.
TIME_TOLERANCE_S = 1e-3


class ManifestError(ValueError):
    """A manifest item is malformed; names the file and 1-based line when known."""

    def __init__(self, reason: str, *, path: str | os.PathLike[str] | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = reason
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        elif line is not None:
            where = f"item {line}: "
        super().__init__(f"{where}{reason}")


def _check_time(name: str, value: Any, *, positive: bool = False) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")


def _check_text(name: str, value: Any, *, allow_empty: bool = True) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise ValueError(f"{name} must not be empty")


@dataclass(frozen=True, kw_only=True)
class Recording:
    id: str
    path: str
    sample_rate_hz: int
    num_samples: int
    channels: int = 1
    duration_s: float = -1.0  # derived from num_samples when omitted

    def __post_init__(self) -> None:
        _check_text("id", self.id, allow_empty=False)
        _check_text("path", self.path, allow_empty=False)
        for name in ("sample_rate_hz", "num_samples", "channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        derived = self.num_samples / self.sample_rate_hz
        if self.duration_s == -1.0:
            object.__setattr__(self, "duration_s", derived)
        else:
            _check_time("duration_s", self.duration_s)
            if abs(self.duration_s - derived) > TIME_TOLERANCE_S:
                raise ValueError(f"duration_s {self.duration_s} disagrees with num_samples/sample_rate_hz = {derived:.6f}")


@dataclass(frozen=True, kw_only=True)
class Supervision:
    id: str
    recording_id: str
    start_s: float
    duration_s: float
    text: str
    language: str
    speaker: str = ""
    gender: str = ""
    custom: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_text("id", self.id, allow_empty=False)
        _check_text("recording_id", self.recording_id, allow_empty=False)
        _check_time("start_s", self.start_s)
        _check_time("duration_s", self.duration_s, positive=True)
        for name in ("text", "language", "speaker", "gender"):
            _check_text(name, getattr(self, name))
        if not isinstance(self.custom, Mapping):
            raise ValueError(f"custom must be a mapping, got {type(self.custom).__name__}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, kw_only=True)
class AlignedWord:
    """A timed word (or grapheme/phone when used as a unit); `score` is a confidence in [0, 1]."""

    text: str
    start_s: float
    duration_s: float
    score: float = 1.0

    def __post_init__(self) -> None:
        _check_text("text", self.text)
        _check_time("start_s", self.start_s)
        _check_time("duration_s", self.duration_s)
        if not isinstance(self.score, (int, float)) or not math.isfinite(self.score):
            raise ValueError(f"score must be a finite number, got {self.score!r}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, kw_only=True)
class Alignment:
    """Timed words of one supervision. Times are in seconds from the start of the recording."""

    id: str
    recording_id: str
    words: tuple[AlignedWord, ...]
    units: tuple[AlignedWord, ...] = ()
    score: float = 1.0
    custom: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_text("id", self.id, allow_empty=False)
        _check_text("recording_id", self.recording_id, allow_empty=False)
        for name in ("words", "units"):
            items = tuple(AlignedWord(**w) if isinstance(w, Mapping) else w for w in getattr(self, name))
            if not all(isinstance(w, AlignedWord) for w in items):
                raise ValueError(f"{name} must hold AlignedWord items")
            object.__setattr__(self, name, items)
        for previous, current in zip(self.words, self.words[1:]):
            if current.start_s + TIME_TOLERANCE_S < previous.start_s:
                raise ValueError(f"words out of order: {previous.text!r} at {previous.start_s} before "
                                 f"{current.text!r} at {current.start_s}")


MANIFEST_TYPES: dict[str, type] = {"recording": Recording, "supervision": Supervision, "alignment": Alignment}
T = TypeVar("T", Recording, Supervision, Alignment)


def to_dict(item: Any) -> dict[str, Any]:
    return dataclasses.asdict(item)


def from_dict(cls: type[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown field(s) for {cls.__name__}: {sorted(unknown)}")
    try:
        return cls(**data)
    except TypeError as error:  # missing required fields
        raise ValueError(str(error).replace("__init__() ", "")) from None


def _open_text(path: Path, mode: str) -> io.TextIOBase:
    if path.suffix == ".gz":
        # mtime=0 keeps the gzip header free of the write time: same data -> same bytes.
        raw = open(path, mode.replace("t", "") + "b")
        if "r" in mode:
            return io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="rb"), encoding="utf-8")
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename=""), encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def read_manifest(path: str | os.PathLike[str], cls: type[T]) -> Iterator[T]:
    """Lazily yield `cls` items from a JSONL(.gz) file; a bad line raises ManifestError naming it."""
    path = Path(path)
    if not path.exists():
        raise ManifestError("manifest does not exist", path=path)
    with _open_text(path, "rt") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield from_dict(cls, json.loads(line))
            except json.JSONDecodeError as error:
                raise ManifestError(f"invalid JSON: {error.msg}", path=path, line=number) from None
            except ValueError as error:
                raise ManifestError(str(error), path=path, line=number) from None


def validate_unique_ids(items: Iterable[Any], *, path: str | os.PathLike[str] | None = None) -> None:
    seen: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        if item.id in seen:
            raise ManifestError(f"duplicate id {item.id!r} (first at line {seen[item.id]})", path=path, line=number)
        seen[item.id] = number


def validate_supervisions(supervisions: Iterable[Supervision], recordings: Iterable[Recording], *,
                          path: str | os.PathLike[str] | None = None) -> None:
    """Every supervision points at a known recording and lies inside it."""
    durations = {r.id: r.duration_s for r in recordings}
    for number, sup in enumerate(supervisions, start=1):
        if sup.recording_id not in durations:
            raise ManifestError(f"supervision {sup.id!r} refers to unknown recording {sup.recording_id!r}",
                                path=path, line=number)
        if sup.end_s > durations[sup.recording_id] + TIME_TOLERANCE_S:
            raise ManifestError(f"supervision {sup.id!r} ends at {sup.end_s:.3f} s, past the end of recording "
                                f"{sup.recording_id!r} ({durations[sup.recording_id]:.3f} s)", path=path, line=number)


def write_manifest(path: str | os.PathLike[str], items: Iterable[T], *,
                   validate: Callable[[list[T]], None] | None = None) -> Path:
    """Validate, then write all items atomically (gzip when `path` ends with .gz). Returns the path.

    Ids must be unique; `validate` may add checks (e.g. a lambda calling `validate_supervisions`).
    """
    path = Path(path)
    items = list(items)
    validate_unique_ids(items, path=path)
    if validate is not None:
        validate(items)
    return write_jsonl(path, (to_dict(item) for item in items))


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> Path:
    """Plain dicts as JSONL(.gz), atomically and byte-deterministically (sorted keys, gzip mtime 0)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with _open_text(tmp, "wt") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    path = Path(path)
    with _open_text(path, "rt") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ManifestError(f"invalid JSON: {error.msg}", path=path, line=number) from None


class CheckpointLog:
    """Append-only JSONL record of finished work items, for stages that must resume after a kill.

    Each `append` writes one line and flushes it, so at most the line being written when the process
    died is lost; `load` ignores such a torn last line. Keys are unique: a key logged twice (a retry
    after a crash between work and log) keeps its first record, so resuming never duplicates output.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, dict[str, Any]] = self._load()
        self._handle = open(self.path, "a", encoding="utf-8")

    def _load(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return records
        with open(self.path, "rb") as handle:
            data = handle.read()
        valid_end = data.rfind(b"\n") + 1
        if valid_end < len(data):  # torn last line from a killed run: drop it from the file too
            with open(self.path, "r+b") as handle:
                handle.truncate(valid_end)
        for line in data[:valid_end].decode("utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                records.setdefault(record["key"], record)
        return records

    def __contains__(self, key: str) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._records.get(key)

    def records(self) -> dict[str, dict[str, Any]]:
        return dict(self._records)

    def append(self, key: str, value: Any) -> None:
        if key in self._records:
            return
        record = {"key": key, "value": value}
        self._handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._handle.flush()
        self._records[key] = record

    def close(self) -> None:
        if not self._handle.closed:
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> "CheckpointLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
