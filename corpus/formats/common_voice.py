"""Common Voice release layout: `cv-corpus-<version>/<lang>/{validated,train,dev,test,invalidated,other}.tsv`
plus `clips/common_voice_<lang>_<n>.mp3` and `clip_durations.tsv`.

TSVs are tab-separated with a header and no quoting (a sentence may contain `"`), which is how the
releases are written; the reader therefore splits on tabs itself rather than trusting a CSV dialect.
Rows that cannot be used are reported with the file, line and reason, and skipped.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable

from corpus.fsutil import atomic_open

__all__ = [
    "CV_COLUMNS", "CV_TSV_NAMES", "CVRow", "RowProblem", "read_cv_tsv", "write_cv_tsv", "normalize_gender",
    "find_cv_language_dir", "client_id_for", "sentence_id_for", "write_clip_durations",
]

CV_COLUMNS = ("client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes", "age",
              "gender", "accents", "variant", "locale", "segment")
CV_TSV_NAMES = ("validated", "train", "dev", "test", "invalidated", "other")

# Common Voice >= 17 writes "male_masculine"/"female_feminine"; older releases "male"/"female"/"other".
_GENDERS = {"male": "male", "male_masculine": "male", "female": "female", "female_feminine": "female",
            "other": "other", "intersex": "other", "transgender": "other", "non-binary": "other",
            "do_not_wish_to_say": "", "": ""}


@dataclass(frozen=True, kw_only=True)
class CVRow:
    client_id: str
    path: str
    sentence_id: str
    sentence: str
    sentence_domain: str = ""
    up_votes: int = 2
    down_votes: int = 0
    age: str = ""
    gender: str = ""
    accents: str = ""
    variant: str = ""
    locale: str = ""
    segment: str = ""


@dataclass(frozen=True)
class RowProblem:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def normalize_gender(value: str) -> str:
    """'male' | 'female' | 'other' | '' (unknown) from any Common Voice release's spelling."""
    return _GENDERS.get(value.strip().lower(), "other")


def client_id_for(seed: int, speaker_id: str) -> str:
    """A 128-hex-digit id like Common Voice's (a SHA-512), stable for a seed and speaker."""
    return hashlib.sha512(f"cv-client:{seed}:{speaker_id}".encode()).hexdigest()


def sentence_id_for(sentence: str) -> str:
    return hashlib.sha256(sentence.encode("utf-8")).hexdigest()


def _clean_field(value: object) -> str:
    # Tabs and newlines would break the row; real releases never contain them.
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def write_cv_tsv(path: str | os.PathLike[str], rows: Iterable[CVRow]) -> Path:
    path = Path(path)
    with atomic_open(path, "w") as handle:
        handle.write("\t".join(CV_COLUMNS) + "\n")
        for row in rows:
            values = asdict(row)
            handle.write("\t".join(_clean_field(values[name]) for name in CV_COLUMNS) + "\n")
    return path


def read_cv_tsv(path: str | os.PathLike[str]) -> tuple[list[CVRow], list[RowProblem]]:
    """Rows of a Common Voice TSV, and the problems of rows that were skipped.

    Older releases lack some columns (sentence_domain, variant, sentence_id): missing columns take
    their defaults. A row needs a client_id, a path and a non-empty sentence.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such Common Voice TSV")
    rows: list[CVRow] = []
    problems: list[RowProblem] = []
    known = {f.name for f in fields(CVRow)}
    with open(path, encoding="utf-8", errors="strict", newline="") as handle:
        try:
            header = handle.readline().rstrip("\r\n").split("\t")
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}:1: not UTF-8 ({error.reason})") from None
        missing = {"client_id", "path", "sentence"} - set(header)
        if missing:
            raise ValueError(f"{path}:1: header lacks column(s) {sorted(missing)}; got {header}")
        line_number = 1
        while True:
            line_number += 1
            try:
                line = handle.readline()
            except UnicodeDecodeError as error:
                problems.append(RowProblem(str(path), line_number, f"not UTF-8 ({error.reason}); rest of file skipped"))
                break
            if not line:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            values = line.split("\t")
            if len(values) != len(header):
                problems.append(RowProblem(str(path), line_number,
                                           f"{len(values)} fields, header has {len(header)}"))
                continue
            record = {k: v for k, v in zip(header, values) if k in known}
            if not record.get("client_id") or not record.get("path"):
                problems.append(RowProblem(str(path), line_number, "empty client_id or path"))
                continue
            if not record.get("sentence", "").strip():
                problems.append(RowProblem(str(path), line_number, f"empty sentence for {record['path']}"))
                continue
            if Path(record["path"]).name != record["path"] or record["path"] in (".", ".."):
                problems.append(RowProblem(str(path), line_number, f"clip path {record['path']!r} is not a file name"))
                continue
            try:
                for votes in ("up_votes", "down_votes"):
                    record[votes] = int(record.get(votes) or 0)
            except ValueError:
                problems.append(RowProblem(str(path), line_number, "votes are not integers"))
                continue
            rows.append(CVRow(**record))
    return rows, problems


def write_clip_durations(path: str | os.PathLike[str], durations_ms: dict[str, int]) -> Path:
    with atomic_open(path, "w") as handle:
        handle.write("clip\tduration[ms]\n")
        for clip in sorted(durations_ms):
            handle.write(f"{clip}\t{durations_ms[clip]}\n")
    return Path(path)


def find_cv_language_dir(path: str | os.PathLike[str], language: str | None = None) -> Path:
    """Accept a language folder (has validated.tsv), a `cv-corpus-*` folder, or a folder holding those."""
    path = Path(path)
    if (path / "validated.tsv").exists():
        return path
    candidates = sorted(path.glob(f"{language or '*'}/validated.tsv")) + \
        sorted(path.glob(f"cv-corpus-*/{language or '*'}/validated.tsv"))
    if not candidates:
        raise FileNotFoundError(f"{path}: no Common Voice language folder (validated.tsv) "
                                f"{'for ' + language + ' ' if language else ''}found")
    if len(candidates) > 1 and language is None:
        raise ValueError(f"{path}: several languages found ({', '.join(c.parent.name for c in candidates)}); "
                         "say which with --lang")
    return candidates[-1].parent
