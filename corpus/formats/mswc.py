"""MSWC release layout (Multilingual Spoken Words Corpus), read and written exactly as published:

    <root>/<lang>/clips/<word>/common_voice_<lang>_<id>.opus      (48 kHz Opus, 1 s)
    <root>/<lang>/<lang>_splits.csv                              SET,LINK,WORD,VALID,SPEAKER,GENDER
    <root>/<lang>/<lang>_{train,dev,test}.csv                    LINK,WORD,VALID,SPEAKER,GENDER
    <root>/<lang>/metadata.json                                  {lang: {language, number_of_words,
                                                                  wordcounts, filenames, version}}
    <root>/<lang>/<lang>_scores.csv                              LINK,WORD,SCORE (our addition: the
                                                                  outlier scores MSWC computed)

LINK is `<word folder>/<file>` relative to `clips/`. SET is TRAIN/DEV/TEST, VALID True/False, GENDER
MALE/FEMALE/OTHER/NAN. The published metadata.json holds every language in one dict; ours holds one
language per folder in the same shape, so files merge with a plain dict update. We add `folders`
(word -> folder) because a folder name is a made-safe word, not always the word itself.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from corpus.fsutil import atomic_write_text

__all__ = [
    "MswcClip", "MswcRelease", "SPLIT_COLUMNS", "SETS", "write_splits", "read_splits", "read_release",
    "write_metadata", "mswc_gender", "MswcFormatError", "safe_link", "SCORE_COLUMNS", "write_scores", "read_scores",
]

SPLIT_COLUMNS = ("SET", "LINK", "WORD", "VALID", "SPEAKER", "GENDER")
SETS = ("TRAIN", "DEV", "TEST")
_GENDERS = {"male": "MALE", "female": "FEMALE", "other": "OTHER", "": "NAN"}


class MswcFormatError(ValueError):
    pass


def mswc_gender(gender: str) -> str:
    """MALE | FEMALE | OTHER | NAN from our manifests' 'male'/'female'/'other'/'' or MSWC's own values."""
    upper = gender.strip().upper()
    if upper in ("MALE", "FEMALE", "OTHER", "NAN"):
        return upper
    return _GENDERS.get(gender.strip().lower(), "OTHER")


@dataclass(frozen=True, kw_only=True)
class MswcClip:
    set: str  # TRAIN | DEV | TEST
    link: str  # "<word folder>/<file>.opus"
    word: str
    valid: bool
    speaker: str
    gender: str  # MALE | FEMALE | OTHER | NAN


def safe_link(link: str) -> bool:
    """A LINK must be `folder/file` inside clips/: no absolute path, no '..', exactly two parts."""
    parts = PurePosixPath(link).parts
    return (len(parts) == 2 and not link.startswith("/") and "\\" not in link
            and all(p not in ("", ".", "..") for p in parts))


def _csv_text(header: tuple[str, ...], rows: Iterable[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_splits(lang_dir: str | os.PathLike[str], language: str, clips: Iterable[MswcClip]) -> None:
    """`<lang>_splits.csv` and the three per-set CSVs, sorted by (SET, LINK) so output is deterministic."""
    lang_dir = Path(lang_dir)
    order = {name: i for i, name in enumerate(SETS)}
    clips = sorted(clips, key=lambda c: (order[c.set], c.link))
    atomic_write_text(lang_dir / f"{language}_splits.csv", _csv_text(
        SPLIT_COLUMNS, ((c.set, c.link, c.word, str(c.valid), c.speaker, c.gender) for c in clips)))
    for name in SETS:
        atomic_write_text(lang_dir / f"{language}_{name.lower()}.csv", _csv_text(
            SPLIT_COLUMNS[1:], ((c.link, c.word, str(c.valid), c.speaker, c.gender) for c in clips if c.set == name)))


def read_splits(path: str | os.PathLike[str]) -> list[MswcClip]:
    """Rows of a `<lang>_splits.csv`; a malformed row raises MswcFormatError naming its line."""
    path = Path(path)
    clips = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != SPLIT_COLUMNS:
            raise MswcFormatError(f"{path}:1: header {header} is not {SPLIT_COLUMNS}")
        for number, row in enumerate(reader, start=2):
            if len(row) != len(SPLIT_COLUMNS):
                raise MswcFormatError(f"{path}:{number}: {len(row)} fields, expected {len(SPLIT_COLUMNS)}")
            split, link, word, valid, speaker, gender = row
            if split not in SETS:
                raise MswcFormatError(f"{path}:{number}: SET {split!r} is not one of {SETS}")
            if not safe_link(link):
                raise MswcFormatError(f"{path}:{number}: unsafe LINK {link!r}")
            if valid not in ("True", "False"):
                raise MswcFormatError(f"{path}:{number}: VALID {valid!r} is not True/False")
            clips.append(MswcClip(set=split, link=link, word=word, valid=valid == "True", speaker=speaker,
                                  gender=mswc_gender(gender)))
    return clips


def write_metadata(lang_dir: str | os.PathLike[str], language: str, language_name: str,
                   clips: Iterable[MswcClip], folders: dict[str, str], version: str) -> dict:
    files: dict[str, list[str]] = {}
    for clip in clips:
        files.setdefault(clip.word, []).append(clip.link.split("/", 1)[1])
    entry = {
        "language": language_name,
        "number_of_words": len(files),
        "wordcounts": {w: len(files[w]) for w in sorted(files)},
        "filenames": {w: sorted(files[w]) for w in sorted(files)},
        "folders": {w: folders[w] for w in sorted(files)},
        "version": version,
    }
    atomic_write_text(Path(lang_dir) / "metadata.json",
                      json.dumps({language: entry}, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    return entry


@dataclass(frozen=True)
class MswcRelease:
    root: Path  # the <lang> folder
    language: str
    clips: tuple[MswcClip, ...]

    def clip_path(self, clip: MswcClip) -> Path:
        return self.root / "clips" / clip.link

    def words(self) -> list[str]:
        return sorted({c.word for c in self.clips})

    def by_set(self, name: str) -> list[MswcClip]:
        return [c for c in self.clips if c.set == name]


def read_release(path: str | os.PathLike[str], language: str | None = None) -> MswcRelease:
    """Open an MSWC language folder (or its parent with `language`)."""
    path = Path(path)
    if language is not None and (path / language / f"{language}_splits.csv").exists():
        path = path / language
    candidates = sorted(path.glob("*_splits.csv"))
    if language is not None:
        candidates = [c for c in candidates if c.name == f"{language}_splits.csv"]
    if len(candidates) != 1:
        raise MswcFormatError(f"{path}: expected one <lang>_splits.csv, found {[c.name for c in candidates]}")
    language = candidates[0].name[: -len("_splits.csv")]
    return MswcRelease(root=path, language=language, clips=tuple(read_splits(candidates[0])))


# Outlier scores (our addition; MSWC computed them but did not publish a file): `<lang>_scores.csv`
# with LINK,WORD,SCORE, sorted by LINK. SCORE is the distance of the clip's embedding to the nearest
# k-means centroid of its keyword: larger means more unlike the other clips of the word.
SCORE_COLUMNS = ("LINK", "WORD", "SCORE")


def write_scores(lang_dir: str | os.PathLike[str], language: str, scores: Iterable[tuple[str, str, float]]) -> Path:
    """`<lang>_scores.csv` from (link, word, score) triples; scores written with 6 decimals."""
    path = Path(lang_dir) / f"{language}_scores.csv"
    rows = sorted(scores)
    atomic_write_text(path, _csv_text(SCORE_COLUMNS, ((link, word, f"{score:.6f}") for link, word, score in rows)))
    return path


def read_scores(path: str | os.PathLike[str]) -> dict[str, tuple[str, float]]:
    """{link: (word, score)} from a `<lang>_scores.csv`; malformed rows raise MswcFormatError."""
    path = Path(path)
    scores: dict[str, tuple[str, float]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != SCORE_COLUMNS:
            raise MswcFormatError(f"{path}:1: header {header} is not {SCORE_COLUMNS}")
        for number, row in enumerate(reader, start=2):
            if len(row) != len(SCORE_COLUMNS):
                raise MswcFormatError(f"{path}:{number}: {len(row)} fields, expected {len(SCORE_COLUMNS)}")
            link, word, score = row
            if not safe_link(link):
                raise MswcFormatError(f"{path}:{number}: unsafe LINK {link!r}")
            if link in scores:
                raise MswcFormatError(f"{path}:{number}: duplicate LINK {link!r}")
            try:
                scores[link] = (word, float(score))
            except ValueError:
                raise MswcFormatError(f"{path}:{number}: SCORE {score!r} is not a number") from None
    return scores
