"""One Internet Archive item as the People's-Speech-style builder reads it, and its license.

Layout of an item folder (what `ia download` or our synthetic generator leaves on disk):

    <root>/<identifier>/<identifier>.mp3             the audio
    <root>/<identifier>/<identifier>.srt             captions (SubRip)
    <root>/<identifier>/<identifier>_metadata.json   the IA metadata API response:
        {"metadata": {"identifier", "title", "licenseurl", "language", "mediatype": "audio", ...},
         "files": [{"name", "format": "VBR MP3" | "SubRip", "size", "md5"}, ...]}

Only items whose license allows redistribution with derivatives may enter a dataset, and IA's
`licenseurl` is free text in practice (http or https, with or without trailing slash or "legalcode",
any version, old public-domain URLs). `license_family` maps it onto the few families we act on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from corpus.fsutil import atomic_write_text

__all__ = [
    "IAItemError", "IAFile", "IAItem", "LICENSE_FAMILIES", "license_family", "normalize_language", "read_item",
    "read_items", "check_files", "file_entry", "write_metadata", "metadata_path",
]

# "other": a recognised license that does not allow our use (NC, ND); "unknown": missing or unrecognised.
LICENSE_FAMILIES = ("cc-by", "cc-by-sa", "public-domain", "other", "unknown")

_CC_VERSION = re.compile(r"^\d+(\.\d+)?$")

# IA's `language` holds ISO 639-1/2 codes or English names; these cover the suite's demo languages.
_LANGUAGE_NAMES: dict[str, str] = {
    "en": "en", "eng": "en", "english": "en",
    "sw": "sw", "swa": "sw", "swahili": "sw", "kiswahili": "sw",
    "lg": "lg", "lug": "lg", "luganda": "lg", "ganda": "lg",
    "rw": "rw", "kin": "rw", "kinyarwanda": "rw",
    "es": "es", "spa": "es", "spanish": "es", "español": "es",
    "de": "de", "ger": "de", "deu": "de", "german": "de", "deutsch": "de",
    "fr": "fr", "fre": "fr", "fra": "fr", "french": "fr", "français": "fr",
    "it": "it", "ita": "it", "italian": "it", "italiano": "it",
    "pt": "pt", "por": "pt", "portuguese": "pt", "português": "pt",
    "nl": "nl", "dut": "nl", "nld": "nl", "dutch": "nl", "nederlands": "nl",
}


class IAItemError(ValueError):
    """An item folder cannot be used; names the folder or file and says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True, kw_only=True)
class IAFile:
    name: str
    format: str
    size: int | None = None
    md5: str | None = None


@dataclass(frozen=True, kw_only=True)
class IAItem:
    identifier: str
    audio_path: Path
    srt_path: Path
    metadata_path: Path
    license_url: str
    license: str  # one of LICENSE_FAMILIES
    title: str
    language: str  # ISO 639-1 where known, else IA's value lower-cased, "" when absent
    files: tuple[IAFile, ...] = ()


def license_family(url: str | None) -> str:
    """Map a Creative Commons license URL onto 'cc-by', 'cc-by-sa', 'public-domain', 'other' or 'unknown'.

    Accepts http/https, 'www.', trailing slashes, 'legalcode'/'deed.xx' suffixes, any version (1.0..4.0)
    and ported licenses (…/3.0/us/). The public domain mark (/publicdomain/mark/1.0/), CC0
    (/publicdomain/zero/1.0/) and the retired /licenses/publicdomain/ are 'public-domain'.
    """
    if not isinstance(url, str) or not url.strip():
        return "unknown"
    text = url.strip().lower()
    text = re.sub(r"^https?://", "", text)
    text = re.sub(r"^www\.", "", text)
    host, _, path = text.partition("/")
    if host not in ("creativecommons.org", "creativecommons.org:80", "creativecommons.org:443"):
        return "unknown"
    parts = [p for p in path.split("?")[0].split("#")[0].split("/") if p]
    if parts and (parts[-1] == "legalcode" or parts[-1].startswith("deed") or parts[-1].startswith("legalcode.")):
        parts = parts[:-1]
    if parts[:2] in (["publicdomain", "mark"], ["publicdomain", "zero"]) and (len(parts) == 2 or
                                                                            _CC_VERSION.match(parts[2])):
        return "public-domain"
    if parts == ["licenses", "publicdomain"]:
        return "public-domain"
    if len(parts) < 3 or parts[0] != "licenses" or not _CC_VERSION.match(parts[2]):
        return "unknown"
    kind = parts[1]
    if kind == "by":
        return "cc-by"
    if kind == "by-sa":
        return "cc-by-sa"
    if kind in ("by-nc", "by-nd", "by-nc-sa", "by-nc-nd", "by-nd-nc", "nc", "nd", "sa", "nc-sa", "sampling",
                "sampling+", "nc-sampling+"):
        return "other"
    return "unknown"


def normalize_language(value: Any) -> str:
    """IA's language field (a string or a list; a code or a name) -> our code ('eng' -> 'en')."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    return _LANGUAGE_NAMES.get(text, text)


def metadata_path(item_dir: str | os.PathLike[str]) -> Path:
    item_dir = Path(item_dir)
    return item_dir / f"{item_dir.name}_metadata.json"


def _pick_file(item_dir: Path, identifier: str, suffix: str, files: tuple[IAFile, ...], formats: tuple[str, ...]
               ) -> Path | None:
    """`<identifier><suffix>` if present, else the first listed file of a matching format that exists."""
    preferred = item_dir / f"{identifier}{suffix}"
    if preferred.is_file():
        return preferred
    for entry in files:
        if entry.format in formats or entry.name.lower().endswith(suffix):
            candidate = item_dir / entry.name
            if "/" not in entry.name and candidate.is_file():
                return candidate
    return None


def _parse_files(raw: Any, path: Path) -> tuple[IAFile, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise IAItemError(path, f"'files' must be a list, got {type(raw).__name__}")
    files = []
    for number, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise IAItemError(path, f"files[{number}] must be an object with a 'name'")
        size = entry.get("size")
        try:
            size = None if size is None else int(size)  # the IA API gives sizes as strings
        except (TypeError, ValueError):
            raise IAItemError(path, f"files[{number}] ({entry['name']}): size {size!r} is not a number") from None
        files.append(IAFile(name=entry["name"], format=str(entry.get("format", "")), size=size,
                            md5=entry.get("md5") if isinstance(entry.get("md5"), str) else None))
    return tuple(files)


def read_item(item_dir: str | os.PathLike[str]) -> IAItem:
    """Read one item folder; raises IAItemError naming the file for anything missing or malformed."""
    item_dir = Path(item_dir)
    if not item_dir.is_dir():
        raise IAItemError(item_dir, "item folder does not exist")
    identifier = item_dir.name
    meta_path = metadata_path(item_dir)
    if not meta_path.is_file():
        raise IAItemError(meta_path, "metadata file is missing")
    try:
        document = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise IAItemError(meta_path, f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise IAItemError(meta_path, f"cannot read: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
        raise IAItemError(meta_path, "expected a JSON object with a 'metadata' object (the IA metadata API response)")
    metadata = document["metadata"]
    declared = metadata.get("identifier")
    if declared != identifier:
        raise IAItemError(meta_path, f"metadata identifier {declared!r} does not match the folder name {identifier!r}")
    mediatype = metadata.get("mediatype", "audio")
    if mediatype not in ("audio", "movies"):
        raise IAItemError(meta_path, f"mediatype {mediatype!r} is not audio")
    files = _parse_files(document.get("files"), meta_path)
    audio = _pick_file(item_dir, identifier, ".mp3", files, ("VBR MP3", "MP3", "128Kbps MP3", "64Kbps MP3"))
    if audio is None:
        raise IAItemError(item_dir / f"{identifier}.mp3", "audio file is missing")
    srt = _pick_file(item_dir, identifier, ".srt", files, ("SubRip",))
    if srt is None:
        raise IAItemError(item_dir / f"{identifier}.srt", "SubRip captions are missing")
    license_url = metadata.get("licenseurl") or ""
    if not isinstance(license_url, str):
        raise IAItemError(meta_path, f"licenseurl must be a string, got {type(license_url).__name__}")
    title = metadata.get("title") or ""
    return IAItem(identifier=identifier, audio_path=audio, srt_path=srt, metadata_path=meta_path,
                  license_url=license_url, license=license_family(license_url),
                  title=title if isinstance(title, str) else str(title),
                  language=normalize_language(metadata.get("language")), files=files)


def read_items(root: str | os.PathLike[str]) -> tuple[list[IAItem], list[IAItemError]]:
    """Every item folder under `root`, sorted by identifier; unusable ones come back as errors."""
    root = Path(root)
    if not root.is_dir():
        raise IAItemError(root, "folder does not exist")
    items, errors = [], []
    for item_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            items.append(read_item(item_dir))
        except IAItemError as error:
            errors.append(error)
    return items, errors


def _md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_files(item: IAItem) -> list[str]:
    """Compare the files listed in the metadata with the disk (size, md5); return the mismatches."""
    problems = []
    folder = item.metadata_path.parent
    for entry in item.files:
        path = folder / entry.name
        if not path.is_file():
            continue  # IA lists derived files (spectrograms, torrents) that are rarely downloaded
        if entry.size is not None and path.stat().st_size != entry.size:
            problems.append(f"{path}: size {path.stat().st_size} differs from the metadata's {entry.size}")
        elif entry.md5 and _md5_file(path) != entry.md5.lower():
            problems.append(f"{path}: md5 differs from the metadata's {entry.md5}")
    return problems


def file_entry(path: str | os.PathLike[str], format: str) -> dict[str, str]:
    """A 'files' entry as the IA API writes it (size as a string)."""
    path = Path(path)
    return {"name": path.name, "format": format, "size": str(path.stat().st_size), "md5": _md5_file(path)}


def write_metadata(item_dir: str | os.PathLike[str], metadata: Mapping[str, Any], files: Iterable[Mapping[str, Any]]
                   ) -> Path:
    """Write `<identifier>_metadata.json` atomically; `metadata['identifier']` must be the folder name."""
    item_dir = Path(item_dir)
    if metadata.get("identifier") != item_dir.name:
        raise ValueError(f"metadata identifier {metadata.get('identifier')!r} must equal the folder name "
                         f"{item_dir.name!r}")
    files = [dict(f) for f in files]
    document = {"metadata": dict(metadata), "files": files, "files_count": len(files),
                "item_size": sum(int(f.get("size", 0)) for f in files)}
    path = metadata_path(item_dir)
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return path
