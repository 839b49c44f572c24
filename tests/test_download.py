"""Downloads against a local HTTP server that honours Range: verify, resume, refuse, extract safely."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from corpus.cli import run_cli
from corpus.download import LIBRISPEECH_MD5, check_common_voice, download_librispeech, download_mswc, register
from corpus.fetch import DownloadError, download_file, safe_extract, verify_tar


class _Server:
    """Serves `files` (path -> bytes). Modes per path: 'ignore-range' answers 200 to Range requests,
    'cut-once' sends only half of the body on the first request while announcing the full length."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                mode = server.modes.get(self.path, "")
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if match and mode != "ignore-range":
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "cut-once":
                    server.modes[self.path] = ""
                    body = body[: len(body) // 2]
                self.wfile.write(body)
                server.bytes_sent += len(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    instance = _Server()
    yield instance
    instance.close()


def _tar_gz(members: dict[str, bytes], *, special: list[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
        for info in special:
            tar.addfile(info)
    return buffer.getvalue()


def _libri_archive() -> bytes:
    # big enough (incompressible) that "half" is a meaningful resume point
    noise = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(2048))
    return _tar_gz({"LibriSpeech/SPEAKERS.TXT": b";ID  |SEX| SUBSET |MINUTES| NAME\n1 | F | test-clean | 0.1 | A\n",
                    "LibriSpeech/test-clean/1/2/1-2.trans.txt": b"1-2-0000 HELLO\n",
                    "LibriSpeech/test-clean/1/2/1-2-0000.flac": noise})


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_verify_extract_and_skip_on_rerun(server, tmp_path):
    archive = _libri_archive()
    server.files["/test-clean.tar.gz"] = archive
    split = download_librispeech("test-clean", tmp_path, base_url=server.url, md5=_md5(archive), progress=False)
    assert split == tmp_path / "LibriSpeech" / "test-clean"
    assert (split / "1" / "2" / "1-2.trans.txt").read_bytes() == b"1-2-0000 HELLO\n"
    assert (tmp_path / "test-clean.tar.gz").read_bytes() == archive
    assert not (tmp_path / "test-clean.tar.gz.part").exists()
    assert (tmp_path / ".test-clean.tar.gz.extracted").is_file()
    requests = len(server.requests)
    (split / "1" / "2" / "1-2.trans.txt").write_bytes(b"edited")  # a rerun must not re-extract
    download_librispeech("test-clean", tmp_path, base_url=server.url, md5=_md5(archive), progress=False)
    assert len(server.requests) == requests
    assert (split / "1" / "2" / "1-2.trans.txt").read_bytes() == b"edited"


def test_resume_from_half_written_part(server, tmp_path):
    archive = _libri_archive()
    server.files["/test-clean.tar.gz"] = archive
    half = len(archive) // 2
    (tmp_path / "test-clean.tar.gz.part").write_bytes(archive[:half])
    download_librispeech("test-clean", tmp_path, base_url=server.url, md5=_md5(archive), extract=False,
                         progress=False)
    assert server.requests == [("/test-clean.tar.gz", f"bytes={half}-")]
    assert server.bytes_sent == len(archive) - half  # only the missing half travelled
    assert (tmp_path / "test-clean.tar.gz").read_bytes() == archive


def test_complete_part_is_only_verified(server, tmp_path):
    archive = _libri_archive()
    server.files["/a.tar.gz"] = archive
    (tmp_path / "a.tar.gz.part").write_bytes(archive)
    download_file(f"{server.url}/a.tar.gz", tmp_path / "a.tar.gz", progress=False)  # server answers 416
    assert server.bytes_sent == 0 and (tmp_path / "a.tar.gz").read_bytes() == archive


def test_dropped_connection_is_resumed_within_one_call(server, tmp_path):
    archive = _libri_archive()
    server.files["/a.tar.gz"] = archive
    server.modes["/a.tar.gz"] = "cut-once"
    path = download_file(f"{server.url}/a.tar.gz", tmp_path / "a.tar.gz", retry_wait_s=0, progress=False)
    assert path.read_bytes() == archive
    assert server.requests[0] == ("/a.tar.gz", None) and server.requests[1][1] == f"bytes={len(archive) // 2}-"


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    archive = _libri_archive()
    server.files["/a.tar.gz"] = archive
    server.modes["/a.tar.gz"] = "ignore-range"
    (tmp_path / "a.tar.gz.part").write_bytes(b"stale bytes that must not stay in front")
    download_file(f"{server.url}/a.tar.gz", tmp_path / "a.tar.gz", progress=False)
    assert (tmp_path / "a.tar.gz").read_bytes() == archive


def test_wrong_checksum_fails_and_leaves_no_file(server, tmp_path):
    server.files["/test-clean.tar.gz"] = _libri_archive()
    with pytest.raises(DownloadError, match=f"md5 mismatch: expected {LIBRISPEECH_MD5['test-clean']}"):
        download_librispeech("test-clean", tmp_path, base_url=server.url, progress=False)  # the official MD5
    assert list(tmp_path.iterdir()) == []  # no final file, no .part, nothing extracted


def test_cli_reports_errors_in_one_line(server, tmp_path, capsys):
    archive = _libri_archive()
    server.files["/dev-clean.tar.gz"] = archive
    base = ["download", "librispeech", "--part", "dev-clean", "--out", str(tmp_path), "--base-url", server.url]
    assert run_cli("corpus", "test", [register], base + ["--md5", "0" * 32]) == 2
    assert "md5 mismatch" in capsys.readouterr().err
    assert run_cli("corpus", "test", [register], base + ["--md5", _md5(archive)]) == 0
    assert (tmp_path / "LibriSpeech" / "SPEAKERS.TXT").is_file()
    assert run_cli("corpus", "test", [register], ["download", "librispeech", "--part", "dev-clean", "--out",
                                                   str(tmp_path / "x"), "--base-url", server.url + "/missing"]) == 2
    assert "HTTP 404" in capsys.readouterr().err


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize("members,special,reason", [
    ({"ok.txt": b"fine", "../evil": b"escape"}, [], "'..' would leave"),
    ({"a/../../evil": b"escape"}, [], "'..' would leave"),
    ({"/tmp/evil": b"absolute"}, [], "absolute path"),
    ({}, [_special("link", tarfile.SYMTYPE, "../../outside")], "points outside"),
    ({}, [_special("link", tarfile.SYMTYPE, "/etc/passwd")], "points outside"),
    ({}, [_special("hard", tarfile.LNKTYPE, "../outside")], "points outside"),
    # 'p' is the target folder itself, so 'p/q -> ../evil' is outside although it looks inside
    ({}, [_special("p", tarfile.SYMTYPE, "."), _special("p/q", tarfile.SYMTYPE, "../evil")], "points outside"),
    ({}, [_special("dev", tarfile.CHRTYPE)], "device"),
    ({}, [_special("fifo", tarfile.FIFOTYPE)], "device"),
])
def test_unsafe_archives_are_refused(tmp_path, members, special, reason):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(_tar_gz(members, special=special))
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(DownloadError, match=reason):
        safe_extract(archive, dest, progress=False)
    assert not (tmp_path / "deep" / "evil").exists() and not (tmp_path / "evil").exists()
    assert not (dest / ".bad.tar.gz.extracted").exists()


def test_safe_links_inside_are_extracted(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    links = [_special("dir/link", tarfile.SYMTYPE, "file.txt"), _special("hard", tarfile.LNKTYPE, "dir/file.txt")]
    archive.write_bytes(_tar_gz({"dir/file.txt": b"data"}, special=links))
    dest = safe_extract(archive, tmp_path / "out", progress=False)
    assert (dest / "dir" / "link").read_bytes() == b"data" and (dest / "hard").read_bytes() == b"data"


def test_mswc_size_integrity_and_sha256(server, tmp_path):
    good = _tar_gz({"lg_splits.csv": b"LINK,WORD\n"})
    server.files["/splits/lg.tar.gz"] = good
    server.files["/audio/lg.tar.gz"] = good[: len(good) // 2]  # a truncated archive, served with its own length
    folders = download_mswc("lg", tmp_path, kinds=("splits",), base_url=server.url, progress=False,
                            sha256={"splits": hashlib.sha256(good).hexdigest()})
    assert (folders["splits"] / "lg_splits.csv").read_bytes() == b"LINK,WORD\n"
    with pytest.raises(DownloadError, match="not a complete tar archive"):
        download_mswc("lg", tmp_path, kinds=("audio",), base_url=server.url, progress=False)
    assert not (tmp_path / "audio" / "lg.tar.gz").exists()
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_mswc("lg", tmp_path / "again", kinds=("splits",), base_url=server.url, progress=False,
                      sha256={"splits": "0" * 64})
    assert verify_tar(tmp_path / "splits" / "lg.tar.gz") == 1


def test_common_voice_instructions_and_check(tmp_path, capsys):
    out = tmp_path / "cv"
    assert run_cli("corpus", "test", [register], ["download", "common-voice", "--lang", "lg", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "commonvoice.mozilla.org" in printed and f"{out}/cv-corpus-<version>/lg/" in printed
    folder = out / "cv-corpus-17.0-2024-03-15" / "lg"
    (folder / "clips").mkdir(parents=True)
    (folder / "clips" / "a.mp3").write_bytes(b"x")
    for name in ("validated.tsv", "train.tsv", "dev.tsv", "test.tsv"):
        (folder / name).write_text("client_id\tpath\tsentence\nc1\ta.mp3\tHello\n")
    counts, problems = check_common_voice(folder)
    assert problems == [] and counts["clips"] == 1 and counts["validated.tsv"] == 1
    assert run_cli("corpus", "test", [register], ["download", "common-voice", "--lang", "lg", "--out", str(out)]) == 0
    (folder / "clips" / "a.mp3").unlink()
    (folder / "test.tsv").unlink()
    counts, problems = check_common_voice(folder)
    assert any("test.tsv: missing" in p for p in problems)
    assert run_cli("corpus", "test", [register], ["download", "common-voice", "--check", str(folder)]) == 2
