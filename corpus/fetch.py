"""HTTP downloads and archive extraction for corpus.download: resumable, verified, extracted safely.

Every download goes to `<name>.part`, resumes with an HTTP Range request, is checked (a `Checksum`, or the
caller's own test such as a full read of the tar) and only then renamed to its final name. Extraction
refuses members that would land outside the target folder (absolute paths, '..', links pointing out,
device files), writes each file atomically, and leaves a stamp file when complete so a rerun skips it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from tqdm import tqdm

from corpus.fsutil import atomic_path, atomic_write_text

__all__ = ["DownloadError", "Checksum", "download_file", "verify_tar", "safe_extract"]

log = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """A download or extraction failed; the message says what, where, and what to do."""


@dataclass(frozen=True, kw_only=True)
class Checksum:
    algorithm: str  # "md5" | "sha256"
    hexdigest: str

    def __post_init__(self) -> None:
        if self.algorithm not in ("md5", "sha256"):
            raise ValueError(f"unsupported checksum algorithm {self.algorithm!r}")
        length = 32 if self.algorithm == "md5" else 64
        if len(self.hexdigest) != length or any(c not in "0123456789abcdefABCDEF" for c in self.hexdigest):
            raise ValueError(f"{self.algorithm} must be {length} hex digits, got {self.hexdigest!r}")


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _total_size(response, offset: int) -> int | None:
    """The full file size from Content-Range ('bytes a-b/total') or Content-Length."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].strip().isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit():
        return int(length) + (offset if response.status == 206 else 0)
    return None


def _fetch_into(url: str, part: Path, timeout_s: float, progress: bool) -> int | None:
    """Append the rest of `url` to `part` (Range from its current size); return the total size if known."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "corpus-downloader/1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing left to fetch: the .part is complete
            return offset
        raise
    with response:
        if offset and response.status != 206:
            log.info("%s: server ignored the Range request; starting over", url)
            offset = 0
        total = _total_size(response, offset)
        mode = "ab" if offset else "wb"
        with open(part, mode) as handle, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                              desc=part.name[:-5], disable=not progress, leave=False) as bar:
            for block in iter(lambda: response.read(_CHUNK_BYTES), b""):
                handle.write(block)
                bar.update(len(block))
            handle.flush()
            os.fsync(handle.fileno())
    return total


def download_file(url: str, dest: str | os.PathLike[str], *, checksum: Checksum | None = None,
                  verify: Callable[[Path], object] | None = None, retries: int = 3, timeout_s: float = 60.0,
                  retry_wait_s: float = 2.0, progress: bool = True) -> Path:
    """Download `url` to `dest`, resuming `dest.part`; `dest` appears only after every check passed.

    Checks: the size the server announced; `checksum` (a mismatch deletes the .part, because resuming
    onto corrupt bytes can never succeed); `verify(part_path)`, which may raise DownloadError.
    An existing `dest` is taken as done (it only ever appears verified).
    """
    dest = Path(dest)
    if dest.exists():
        log.info("%s already downloaded", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, retries + 1):
        try:
            total = _fetch_into(url, part, timeout_s, progress)
            size = part.stat().st_size
            if total is None or size == total:
                break
            if size > total:
                part.unlink()
                raise DownloadError(f"{url}: got {size} bytes, more than the {total} announced; the partial file "
                                    f"was deleted, rerun to download again")
            problem = f"connection closed after {size} of {total} bytes"
        except urllib.error.HTTPError as error:
            raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            problem = str(error)
        resumable = part.stat().st_size if part.exists() else 0
        if attempt == retries:
            raise DownloadError(f"{url}: {problem}; rerun the same command to resume from {resumable} bytes")
        log.warning("%s: %s; resuming (attempt %d of %d)", url, problem, attempt + 1, retries)
        time.sleep(min(30.0, retry_wait_s * 2 ** (attempt - 1)))
    if checksum is not None:
        actual = _file_digest(part, checksum.algorithm)
        if actual.lower() != checksum.hexdigest.lower():
            part.unlink()
            raise DownloadError(f"{url}: {checksum.algorithm} mismatch: expected {checksum.hexdigest}, got {actual}; "
                                f"the partial file was deleted, rerun to download again")
    if verify is not None:
        verify(part)
    os.replace(part, dest)
    return dest


def verify_tar(path: str | os.PathLike[str]) -> int:
    """Read every member of a (compressed) tar to the end, so truncation or a bad gzip CRC shows; return
    the member count. Raises DownloadError naming the file."""
    path = Path(path)
    count = 0
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                count += 1
                if member.isfile():
                    handle = archive.extractfile(member)
                    while handle is not None and handle.read(_CHUNK_BYTES):
                        pass
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise DownloadError(f"{path}: not a complete tar archive ({error})") from None
    if count == 0:
        raise DownloadError(f"{path}: the archive is empty")
    return count


def _member_target(member: tarfile.TarInfo, dest: Path, archive: Path) -> Path:
    name = member.name
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise DownloadError(f"{archive}: refusing member {name!r}: absolute path")
    if ".." in pure.parts:
        raise DownloadError(f"{archive}: refusing member {name!r}: '..' would leave the target folder")
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        raise DownloadError(f"{archive}: refusing member {name!r}: device or FIFO")
    target = dest.joinpath(*pure.parts)
    if not target.parent.resolve().is_relative_to(dest.resolve()):
        raise DownloadError(f"{archive}: refusing member {name!r}: its folder resolves outside {dest}")
    if member.issym():
        link = PurePosixPath(member.linkname)
        # Resolve from the link's real folder, following links already extracted, as the OS will.
        pointed = (target.parent.resolve() / Path(*link.parts)).resolve() if link.parts else dest
        if link.is_absolute() or not pointed.is_relative_to(dest.resolve()):
            raise DownloadError(f"{archive}: refusing symlink {name!r} -> {member.linkname!r}: points outside {dest}")
    if member.islnk():
        link = PurePosixPath(member.linkname)
        if link.is_absolute() or ".." in link.parts:
            raise DownloadError(f"{archive}: refusing hard link {name!r} -> {member.linkname!r}: points outside {dest}")
    return target


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """Extract `archive` into `dest` safely; a stamp `dest/.<archive name>.extracted` makes reruns skip it.

    Members are checked one by one before anything is written for them; a bad member stops the
    extraction with DownloadError (files extracted before it stay, the stamp is not written).
    """
    archive, dest = Path(archive), Path(dest)
    stamp = dest / f".{archive.name}.extracted"
    if stamp.exists():
        log.info("%s already extracted into %s", archive.name, dest)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.absolute()
    count = 0
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tqdm(tar, desc=f"extract {archive.name}", unit="file", disable=not progress, leave=False):
                target = _member_target(member, dest, archive)
                count += 1
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.issym():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)
                    os.symlink(member.linkname, target)
                elif member.islnk():
                    source = dest.joinpath(*PurePosixPath(member.linkname).parts)
                    if not source.is_file():
                        raise DownloadError(f"{archive}: hard link {member.name!r} to missing {member.linkname!r}")
                    with atomic_path(target) as tmp:
                        shutil.copyfile(source, tmp)
                elif member.isfile():
                    handle = tar.extractfile(member)
                    with atomic_path(target) as tmp:
                        with open(tmp, "wb") as out:
                            shutil.copyfileobj(handle, out, _CHUNK_BYTES)
                        os.chmod(tmp, (member.mode & 0o755) | 0o600)  # never setuid/setgid or world-writable
                        os.utime(tmp, (member.mtime, member.mtime))
                else:
                    log.warning("%s: skipping member %r of unsupported type", archive, member.name)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DownloadError(f"{archive}: extraction failed ({error}); delete it and download again") from None
    atomic_write_text(stamp, json.dumps({"archive": archive.name, "members": count,
                                         "archive_bytes": archive.stat().st_size}) + "\n")
    return dest
