"""Stage 1, ingest: Internet Archive item folders -> documents (one audio file paired with its captions).

An item folder (`<root>/<identifier>/`) holds `<identifier>_metadata.json` (the IA metadata API
response), one or more audio files (.mp3, .ogg, .flac, .wav) and their captions (.srt, .vtt). Audio
and captions pair by file stem (`talk.mp3` + `talk.srt`, or `talk.en.srt`); an item with exactly one of
each pairs them whatever their names. Each pair is a document, id `<identifier>` (or
`<identifier>__<stem>` when the item has several).

The license comes from `licenseurl` (`corpus.formats.internet_archive.license_family`): CC-BY,
CC-BY-SA and public domain / CC0 are kept; anything else is excluded and counted by reason. Every bad
input comes back as a problem naming the item and the reason; nothing here raises for one item.

`ingest_item` is a pure per-item function (a picklable task in, a plain dict out), so the same code
runs on the local pool and on Spark.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.audio import AudioError, audio_info
from corpus.formats.internet_archive import license_family, metadata_path, normalize_language
from corpus.formats.srt import SrtError, parse_srt
from corpus.fsutil import safe_name
from corpus.peoples_speech.config import LICENSES_KEPT

__all__ = ["IngestTask", "ingest_item", "read_captions", "AUDIO_SUFFIXES", "CAPTION_SUFFIXES"]

AUDIO_SUFFIXES = (".mp3", ".ogg", ".flac", ".wav")
CAPTION_SUFFIXES = (".srt", ".vtt")
_VTT_TIMING = re.compile(r"^\s*(?:\d+:)?\d{1,2}:\d{1,2}[.,]\d{1,3}\s*-->")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, kw_only=True)
class IngestTask:
    item_dir: str
    language: str
    min_words_per_audio_min: float
    min_audio_s: float


def _vtt_to_srt_text(text: str) -> str:
    """WebVTT -> text the lenient SubRip parser reads: header, NOTE/STYLE/REGION blocks and cue ids removed."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].startswith("WEBVTT"):
        raise SrtError("not a WebVTT file (first line must start with WEBVTT)")
    out: list[str] = []
    block: list[str] = []
    for line in lines[1:] + [""]:
        if line.strip():
            block.append(line)
            continue
        if block and not block[0].startswith(("NOTE", "STYLE", "REGION")):
            timing = next((i for i, b in enumerate(block) if _VTT_TIMING.match(b)), None)
            if timing is not None:  # drop the optional cue identifier before the timing line
                out.extend(block[timing:])
                out.append("")
        block = []
    return "\n".join(out)


def read_captions(path: str | os.PathLike[str]) -> tuple[list[tuple[float, float, str]], list[str]]:
    """(cues as (start_s, end_s, text), problems) of a .srt or .vtt file; SrtError if unreadable."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if path.suffix.lower() == ".vtt":
        text = _vtt_to_srt_text(text)
    document = parse_srt(text, path=path, on_error="skip")
    cues = [(c.start_s, c.end_s, c.text) for c in document.cues if c.text.strip()]
    return cues, [str(p) for p in document.problems]


def _pairs(folder: Path) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """(audio, captions) pairs of an item folder, and (reason, detail) for files that pair with nothing."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    audio = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    captions = [p for p in files if p.suffix.lower() in CAPTION_SUFFIXES]
    if len(audio) == 1 and len(captions) == 1:
        return [(audio[0], captions[0])], []
    pairs, problems, used = [], [], set()
    for a in audio:
        match = [c for c in captions if c not in used and (c.stem == a.stem or c.stem.split(".")[0] == a.stem)]
        if match:
            used.add(match[0])
            pairs.append((a, match[0]))
        else:
            problems.append(("missing_captions", f"{a.name}: no .srt or .vtt with the same name"))
    for c in captions:
        if c not in used:
            problems.append(("missing_audio", f"{c.name}: no audio file with the same name"))
    return pairs, problems


def _metadata(folder: Path) -> dict[str, Any]:
    path = metadata_path(folder)
    if not path.is_file():
        raise ValueError(f"missing_metadata|{path.name} is missing")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"bad_metadata|{path.name}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
        raise ValueError(f"bad_metadata|{path.name}: no 'metadata' object (expected the IA metadata API response)")
    return document["metadata"]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def ingest_item(task: IngestTask) -> dict[str, Any]:
    """{"item", "documents": [...], "problems": [{"item", "reason", "detail"}]} for one item folder."""
    folder = Path(task.item_dir)
    item = folder.name
    out: dict[str, Any] = {"item": item, "documents": [], "problems": []}

    def problem(reason: str, detail: str, where: str = item) -> None:
        out["problems"].append({"item": where, "reason": reason, "detail": detail})

    try:
        meta = _metadata(folder)
    except ValueError as error:
        reason, _, detail = str(error).partition("|")
        problem(reason, detail)
        return out
    license_url = _text(meta.get("licenseurl"))
    family = license_family(license_url)
    if family not in LICENSES_KEPT:
        problem(f"license_{family}", license_url or "no licenseurl in the metadata")
        return out
    language = normalize_language(meta.get("language"))
    if language and language != task.language:
        problem("language_mismatch", f"metadata language {language!r}, building {task.language!r}")
        return out
    pairs, pair_problems = _pairs(folder)
    for reason, detail in pair_problems:
        problem(reason, detail)
    if not pairs and not pair_problems:
        problem("missing_audio", "no audio (.mp3 .ogg .flac .wav) and captions (.srt .vtt) in the folder")
    for audio, captions in pairs:
        doc_id = item if len(pairs) == 1 else f"{item}__{safe_name(audio.stem)}"
        try:
            info = audio_info(audio)
        except AudioError as error:
            empty = type(error).__name__ in ("ZeroLengthAudio", "EmptyAudioFile")
            problem("zero_length_audio" if empty else "undecodable_audio", str(error), doc_id)
            continue
        except Exception as error:  # noqa: BLE001 - a decoder failure is this item's problem
            problem("undecodable_audio", f"{audio.name}: {type(error).__name__}: {error}", doc_id)
            continue
        if info.num_samples <= 0 or info.duration_s < task.min_audio_s:
            problem("zero_length_audio", f"{audio.name}: {info.duration_s:.3f} s of audio", doc_id)
            continue
        try:
            cues, cue_problems = read_captions(captions)
        except (SrtError, OSError) as error:
            problem("malformed_captions", f"{captions.name}: {getattr(error, 'reason', error)}", doc_id)
            continue
        if not cues:
            detail = f"{captions.name}: no cue with text"
            problem("malformed_captions" if cue_problems else "empty_captions",
                    detail + (f" ({len(cue_problems)} malformed cue(s))" if cue_problems else ""), doc_id)
            continue
        words = sum(len(_WORD.findall(text)) for _, _, text in cues)
        per_min = words / (info.duration_s / 60)
        if per_min < task.min_words_per_audio_min:
            problem("too_little_text", f"{words} caption words for {info.duration_s / 60:.1f} min of audio "
                                       f"({per_min:.1f}/min < {task.min_words_per_audio_min})", doc_id)
            continue
        out["documents"].append({
            "id": doc_id, "item": item, "audio_path": str(audio.resolve()), "captions_path": str(captions.resolve()),
            "sample_rate_hz": int(info.sample_rate_hz), "num_samples": int(info.num_samples),
            "duration_s": float(info.duration_s), "license": family, "license_url": license_url,
            "title": _text(meta.get("title")), "creator": _text(meta.get("creator")), "language": task.language,
            "cues": [[round(a, 3), round(b, 3), t] for a, b, t in cues], "caption_problems": cue_problems})
    return out
