"""Atomic file writes and safe path names, shared by every stage that writes.

A stage killed halfway must never leave a half-written file under its final name, because a rerun
treats an existing output as finished work. Every writer therefore writes to a temporary file in the
same directory (same filesystem, so the rename is atomic) and renames it into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_path", "atomic_open", "atomic_write_bytes", "atomic_write_text", "safe_name", "sha256_file"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on error removed.

    The temporary name keeps the final suffix so tools that pick a format from the extension
    (libsndfile, gzip) behave as they would on the final name.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem[:40]}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets the usual mode
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a file for writing that appears under `path` only once closed without error."""
    binary = "b" in mode
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else "") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


_FORBIDDEN_NAMES = {"", ".", ".."}
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_name(text: str, *, max_bytes: int = 120) -> str:
    """A file or folder name for `text` that cannot escape its parent or break a filesystem.

    NFC-normalised; path separators, control and format characters (including zero-width ones)
    become '_'; '.' and '..' and Windows device names get a '_' prefix; names longer than
    `max_bytes` UTF-8 bytes are cut and suffixed with a short hash so two long words stay distinct.
    The mapping is deterministic; callers record it (word -> folder) because it is not invertible.
    """
    name = unicodedata.normalize("NFC", text)
    chars = []
    for ch in name:
        category = unicodedata.category(ch)
        if ch in "/\\\x00" or category in ("Cc", "Cf", "Zl", "Zp") or ch in ':*?"<>|':
            chars.append("_")
        else:
            chars.append(ch)
    name = "".join(chars).strip()
    if name in _FORBIDDEN_NAMES or set(name) == {"."}:
        name = "_" + name
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        name = "_" + name
    encoded = name.encode("utf-8")
    if len(encoded) > max_bytes:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
        cut = encoded[: max_bytes - 11].decode("utf-8", errors="ignore")
        name = f"{cut}_{digest}"
    return name


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()
