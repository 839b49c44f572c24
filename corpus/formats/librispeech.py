"""The LibriSpeech layout, read into our manifests and written by the synthetic generator.

Layout (as in the openslr.org archives, which unpack to a `LibriSpeech/` folder):

    LibriSpeech/SPEAKERS.TXT, CHAPTERS.TXT
    LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac
    LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   # "ID TEXT" per line

Transcripts are upper case with no punctuation except apostrophes. SPEAKERS.TXT and CHAPTERS.TXT are
pipe-separated tables whose header lines start with ';'; the last column (a name or a title) may
itself contain '|' (a real speaker is called "|CBW|Simon"), so rows are split from the left only.

The reader never stops at a bad file: a malformed transcript line, a missing or unreadable FLAC,
audio without a transcript line become `LibriProblem`s (file, line, why) next to the good items, so
a builder can report them and go on. Only a missing split folder is an error.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from corpus.audio import AudioError, audio_info
from corpus.fsutil import atomic_write_text
from corpus.manifest import Recording, Supervision
from corpus.text import normalize_words, rules_for

__all__ = [
    "LibriSpeechError", "LibriProblem", "SpeakerRow", "ChapterRow", "SPLITS", "utterance_id", "librispeech_text",
    "librispeech_root", "chapter_dir", "write_transcript", "read_transcript", "read_speakers", "write_speakers",
    "read_chapters", "write_chapters", "read_librispeech",
]

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360",
          "train-other-500")

_UTTERANCE_ID = re.compile(r"^(\d+)-(\d+)-(\d{4,})$")
_GENDERS = {"F": "female", "M": "male"}

_SPEAKERS_HEADER = """\
; Some pipe(|) separated metadata about the speakers in the corpus.
; Fields, left to right: reader ID; sex ('F' female, 'M' male); the subset the reader's audio is in;
; minutes of the reader's speech in that subset; the reader's name.
;
;ID  |SEX| SUBSET           |MINUTES| NAME
"""

_CHAPTERS_HEADER = """\
; Some pipe(|) separated metadata about the audio chapters in the corpus.
; Fields, left to right: chapter ID; reader ID; minutes of the chapter used in the corpus; subset;
; LibriVox project ID; Project Gutenberg book ID; chapter title; project title.
;
;ID    |READER|MINUTES| SUBSET           | PROJ.|BOOK ID| CH. TITLE                                     | PROJECT TITLE
"""


class LibriSpeechError(ValueError):
    """The tree cannot be read at all (e.g. the split folder is missing)."""


@dataclass(frozen=True, kw_only=True)
class LibriProblem:
    """Something skipped while reading: which file (and line), and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class SpeakerRow:
    speaker_id: str
    sex: str  # "F" | "M"
    subset: str
    minutes: float
    name: str

    @property
    def gender(self) -> str:
        return _GENDERS.get(self.sex, "")


@dataclass(frozen=True, kw_only=True)
class ChapterRow:
    chapter_id: str
    reader_id: str
    minutes: float
    subset: str
    project_id: str
    book_id: str
    chapter_title: str
    project_title: str


def utterance_id(speaker_id: int | str, chapter_id: int | str, index: int) -> str:
    return f"{speaker_id}-{chapter_id}-{index:04d}"


def librispeech_text(text: str, language: str = "en") -> str:
    """Text as LibriSpeech writes it: upper case, words separated by one space, apostrophes kept.

    Uses the suite's normalization (so hyphenated words split, as LibriSpeech does) and returns ""
    for a sentence the normalization excludes (e.g. one with digits, whose spoken form is unknown).
    """
    normalized = normalize_words(text, rules_for(language))
    if normalized.excluded:
        return ""
    return " ".join(word.upper() for word in normalized.words)


def librispeech_root(root: str | os.PathLike[str]) -> Path:
    """Accept either the `LibriSpeech` folder itself or the folder that contains it."""
    root = Path(root)
    return root / "LibriSpeech" if (root / "LibriSpeech").is_dir() else root


def chapter_dir(root: str | os.PathLike[str], split: str, speaker_id: int | str, chapter_id: int | str) -> Path:
    return Path(root) / split / str(speaker_id) / str(chapter_id)


def write_transcript(path: str | os.PathLike[str], lines: Iterable[tuple[str, str]]) -> Path:
    """Write `<speaker>-<chapter>.trans.txt` atomically from (utterance id, text) pairs, LF line ends."""
    path = Path(path)
    body = "".join(f"{utt} {text}\n" for utt, text in lines)
    atomic_write_text(path, body)
    return path


def _bad_text_reason(text: str) -> str | None:
    if not text:
        return "no transcript text after the utterance id"
    if text != text.upper():
        return "transcript text is not upper case"
    for ch in text:
        if ch in " '" or unicodedata.category(ch) in ("Lu", "Lo", "Mn", "Mc"):
            continue
        return f"unexpected character {ch!r} in transcript text (only letters, apostrophes, spaces)"
    if "  " in text or text != text.strip():
        return "transcript words must be separated by single spaces"
    return None


def read_transcript(path: str | os.PathLike[str], *, speaker_id: str | None = None, chapter_id: str | None = None
                    ) -> tuple[dict[str, str], list[LibriProblem]]:
    """(utterance id -> text, problems) of one trans.txt; bad lines become problems, not errors."""
    path = Path(path)
    texts: dict[str, str] = {}
    problems: list[LibriProblem] = []
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return texts, [LibriProblem(path=str(path), reason=f"cannot read transcript: {error}")]
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        utt, _, text = raw.rstrip("\r").partition(" ")
        match = _UTTERANCE_ID.match(utt)
        if match is None:
            problems.append(LibriProblem(path=str(path), line=number,
                                         reason=f"malformed utterance id {utt[:40]!r}; expected SPEAKER-CHAPTER-NNNN"))
            continue
        if (speaker_id is not None and match.group(1) != speaker_id) or \
                (chapter_id is not None and match.group(2) != chapter_id):
            problems.append(LibriProblem(path=str(path), line=number,
                                         reason=f"utterance {utt} does not belong to folder {speaker_id}/{chapter_id}"))
            continue
        reason = _bad_text_reason(text)
        if reason is not None:
            problems.append(LibriProblem(path=str(path), line=number, reason=f"utterance {utt}: {reason}"))
            continue
        if utt in texts:
            problems.append(LibriProblem(path=str(path), line=number, reason=f"duplicate utterance id {utt}"))
            continue
        texts[utt] = text
    return texts, problems


def _table_rows(path: Path, columns: int) -> tuple[list[tuple[int, list[str]]], list[LibriProblem]]:
    rows: list[tuple[int, list[str]]] = []
    problems: list[LibriProblem] = []
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return rows, [LibriProblem(path=str(path), reason=f"cannot read: {error}")]
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith(";"):
            continue
        fields = [field.strip() for field in raw.split("|", columns - 1)]
        if len(fields) != columns:
            problems.append(LibriProblem(path=str(path), line=number,
                                         reason=f"expected {columns} '|'-separated fields, got {len(fields)}"))
            continue
        rows.append((number, fields))
    return rows, problems


def read_speakers(path: str | os.PathLike[str]) -> tuple[dict[str, SpeakerRow], list[LibriProblem]]:
    path = Path(path)
    if not path.is_file():
        return {}, [LibriProblem(path=str(path), reason="SPEAKERS.TXT is missing; genders are left empty")]
    rows, problems = _table_rows(path, 5)
    speakers: dict[str, SpeakerRow] = {}
    for number, (speaker_id, sex, subset, minutes, name) in rows:
        try:
            row = SpeakerRow(speaker_id=speaker_id, sex=sex, subset=subset, minutes=float(minutes), name=name)
        except ValueError:
            problems.append(LibriProblem(path=str(path), line=number, reason=f"MINUTES is not a number: {minutes!r}"))
            continue
        if not speaker_id.isdigit() or sex not in _GENDERS:
            problems.append(LibriProblem(path=str(path), line=number,
                                         reason=f"bad speaker row: ID {speaker_id!r}, SEX {sex!r} (F or M)"))
            continue
        speakers[speaker_id] = row
    return speakers, problems


def read_chapters(path: str | os.PathLike[str]) -> tuple[dict[str, ChapterRow], list[LibriProblem]]:
    path = Path(path)
    if not path.is_file():
        return {}, [LibriProblem(path=str(path), reason="CHAPTERS.TXT is missing")]
    rows, problems = _table_rows(path, 8)
    chapters: dict[str, ChapterRow] = {}
    for number, fields in rows:
        try:
            minutes = float(fields[2])
        except ValueError:
            problems.append(LibriProblem(path=str(path), line=number, reason=f"MINUTES is not a number: {fields[2]!r}"))
            continue
        chapters[fields[0]] = ChapterRow(chapter_id=fields[0], reader_id=fields[1], minutes=minutes,
                                         subset=fields[3], project_id=fields[4], book_id=fields[5],
                                         chapter_title=fields[6], project_title=fields[7])
    return chapters, problems


def _merge_rows(existing: dict, new_rows: Sequence, subset_of_new: set[str], key: str) -> list:
    """Rows of other subsets are kept, so generating several splits into one tree accumulates them."""
    kept = [row for row in existing.values() if row.subset not in subset_of_new]
    merged = {getattr(row, key): row for row in kept}
    merged.update({getattr(row, key): row for row in new_rows})
    return sorted(merged.values(), key=lambda row: int(getattr(row, key)))


def write_speakers(root: str | os.PathLike[str], rows: Sequence[SpeakerRow]) -> Path:
    """(Re)write ROOT/SPEAKERS.TXT: rows of the subsets in `rows` are replaced, others kept."""
    path = Path(root) / "SPEAKERS.TXT"
    existing = read_speakers(path)[0] if path.is_file() else {}
    merged = _merge_rows(existing, rows, {row.subset for row in rows}, "speaker_id")
    body = "".join(f"{r.speaker_id:<5}| {r.sex} | {r.subset:<16} | {r.minutes:5.2f} | {r.name}\n" for r in merged)
    atomic_write_text(path, _SPEAKERS_HEADER + body)
    return path


def write_chapters(root: str | os.PathLike[str], rows: Sequence[ChapterRow]) -> Path:
    """(Re)write ROOT/CHAPTERS.TXT: rows of the subsets in `rows` are replaced, others kept."""
    path = Path(root) / "CHAPTERS.TXT"
    existing = read_chapters(path)[0] if path.is_file() else {}
    merged = _merge_rows(existing, rows, {row.subset for row in rows}, "chapter_id")
    body = "".join(f"{r.chapter_id:<7}| {r.reader_id:<5}| {r.minutes:5.2f} | {r.subset:<16} | {r.project_id:<5}| "
                   f"{r.book_id:<6}| {r.chapter_title:<45} | {r.project_title}\n" for r in merged)
    atomic_write_text(path, _CHAPTERS_HEADER + body)
    return path


def _numeric_dirs(folder: Path, problems: list[LibriProblem], what: str) -> list[Path]:
    found = []
    for entry in folder.iterdir():
        if entry.is_dir() and entry.name.isdigit():
            found.append(entry)
        elif entry.is_dir():
            problems.append(LibriProblem(path=str(entry), reason=f"ignored: {what} folder names are numbers"))
    return sorted(found, key=lambda p: int(p.name))


def read_librispeech(root: str | os.PathLike[str], split: str, *, language: str = "en"
                     ) -> tuple[list[Recording], list[Supervision], list[LibriProblem]]:
    """Recordings and supervisions (one per utterance, covering the whole file) of one split.

    `root` is the `LibriSpeech` folder or its parent. Speaker genders come from SPEAKERS.TXT;
    each supervision's `custom` holds split and chapter. Items come sorted by speaker, chapter,
    utterance. Bad transcript lines and missing/unreadable audio are returned as problems.
    """
    base = librispeech_root(root)
    split_dir = base / split
    if not split_dir.is_dir():
        raise LibriSpeechError(f"{split_dir}: split folder does not exist (expected {base}/<split>/<speaker>/...)")
    speakers, problems = read_speakers(base / "SPEAKERS.TXT")
    recordings: list[Recording] = []
    supervisions: list[Supervision] = []
    for speaker_dir in _numeric_dirs(split_dir, problems, "speaker"):
        for chapter in _numeric_dirs(speaker_dir, problems, "chapter"):
            speaker_id, chapter_id = speaker_dir.name, chapter.name
            transcript = chapter / f"{speaker_id}-{chapter_id}.trans.txt"
            flacs = {p.stem: p for p in chapter.glob("*.flac")}
            if not transcript.is_file():
                problems.append(LibriProblem(path=str(transcript),
                                             reason=f"transcript missing; {len(flacs)} flac file(s) skipped"))
                continue
            texts, transcript_problems = read_transcript(transcript, speaker_id=speaker_id, chapter_id=chapter_id)
            problems.extend(transcript_problems)
            for utt in sorted(set(flacs) - set(texts)):
                if _UTTERANCE_ID.match(utt) and not any(p.line and utt in p.reason for p in transcript_problems):
                    problems.append(LibriProblem(path=str(flacs[utt]), reason="audio has no transcript line"))
            for utt, text in sorted(texts.items()):
                audio_path = chapter / f"{utt}.flac"
                if utt not in flacs:
                    problems.append(LibriProblem(path=str(audio_path), reason=f"audio file missing for {utt}"))
                    continue
                try:
                    info = audio_info(audio_path)
                except AudioError as error:
                    problems.append(LibriProblem(path=str(audio_path), reason=f"unreadable audio: {error.reason}"))
                    continue
                recording = Recording(id=utt, path=str(audio_path), sample_rate_hz=info.sample_rate_hz,
                                      num_samples=info.num_samples, channels=info.channels)
                recordings.append(recording)
                speaker = speakers.get(speaker_id)
                supervisions.append(Supervision(
                    id=utt, recording_id=utt, start_s=0.0, duration_s=recording.duration_s, text=text,
                    language=language, speaker=speaker_id, gender=speaker.gender if speaker else "",
                    custom={"corpus": "librispeech", "split": split, "chapter": chapter_id}))
    known = {r.speaker for r in supervisions}
    for speaker_id in sorted(known - set(speakers), key=int):
        if speakers:  # a missing SPEAKERS.TXT was reported once already
            problems.append(LibriProblem(path=str(base / "SPEAKERS.TXT"),
                                         reason=f"speaker {speaker_id} is not listed; gender left empty"))
    return recordings, supervisions, problems
