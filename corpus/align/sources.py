"""Where utterances to align come from: a Common Voice language folder, or an MFA-style corpus folder.

- Common Voice: `<lang dir>/validated.tsv` (or another TSV) + `clips/`; each row's sentence is
  normalized with `corpus.text` for the language; rows whose sentence is excluded (digits, no words)
  are skipped with the reason.
- MFA corpus folder: audio files (.wav .flac .mp3 .ogg .opus), each with a transcript beside it of the
  same stem (`.lab` or `.txt`), in speaker sub-folders or not, as `mfa align` reads them.

Item ids are the clip path relative to the folder without its extension (`common_voice_lg_123`,
`spk1/utt7`), which is also the name of its TextGrid.
"""

from __future__ import annotations

import os
from pathlib import Path

from corpus.align.types import AlignItem
from corpus.formats.common_voice import read_cv_tsv
from corpus.text import normalize_words, rules_for

__all__ = ["items_from_corpus", "items_from_common_voice", "items_from_mfa_folder", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus")


def items_from_common_voice(lang_dir: str | os.PathLike[str], language: str, *, tsv: str = "validated.tsv"
                            ) -> tuple[list[AlignItem], list[str]]:
    """(items, skipped reasons) from a Common Voice language folder."""
    folder = Path(lang_dir)
    rows, problems = read_cv_tsv(folder / tsv)
    skipped = [str(p) for p in problems]
    rules = rules_for(language)
    items, seen = [], set()
    for row in rows:
        clip_id = Path(row.path).stem if row.path.endswith(AUDIO_SUFFIXES) else row.path
        if clip_id in seen:
            continue
        seen.add(clip_id)
        normalized = normalize_words(row.sentence, rules)
        if normalized.excluded:
            skipped.append(f"{row.path}: sentence excluded ({normalized.excluded})")
            continue
        items.append(AlignItem(id=clip_id, audio_path=str(folder / "clips" / row.path), words=normalized.words))
    return items, skipped


def items_from_mfa_folder(folder: str | os.PathLike[str], language: str) -> tuple[list[AlignItem], list[str]]:
    """(items, skipped reasons) from audio files with `.lab`/`.txt` transcripts beside them."""
    root = Path(folder)
    rules = rules_for(language)
    items, skipped = [], []
    for audio in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        transcript = next((audio.with_suffix(s) for s in (".lab", ".txt") if audio.with_suffix(s).is_file()), None)
        rel = audio.relative_to(root).with_suffix("").as_posix()
        if transcript is None:
            skipped.append(f"{audio}: no .lab or .txt transcript beside it")
            continue
        normalized = normalize_words(transcript.read_text(encoding="utf-8-sig"), rules)
        if normalized.excluded:
            skipped.append(f"{transcript}: transcript excluded ({normalized.excluded})")
            continue
        items.append(AlignItem(id=rel, audio_path=str(audio), words=normalized.words))
    return items, skipped


def items_from_corpus(folder: str | os.PathLike[str], language: str, *, tsv: str = "validated.tsv"
                      ) -> tuple[list[AlignItem], list[str]]:
    """Common Voice when the folder holds `tsv` and clips/, else an MFA-style folder."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    if (root / tsv).is_file():
        return items_from_common_voice(root, language, tsv=tsv)
    return items_from_mfa_folder(root, language)
