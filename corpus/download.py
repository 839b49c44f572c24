"""Downloads of the real corpora: resumable, verified, extracted safely, and skipped when already done.

Why this much care: the archives are large (LibriSpeech train-other-500 is 30 GB, MSWC English audio
more), links drop, and a half-downloaded or tampered archive must never be mistaken for a good one.
So every download goes to `<name>.part`, resumes with an HTTP Range request, is checked (MD5 for
LibriSpeech, whose checksums openslr publishes; size and a full read of the tar for MSWC, which
publishes none, plus a SHA-256 when the user supplies one) and only then renamed to its final name.
Extraction refuses members that would land outside the target folder (absolute paths, '..', links
pointing out, device files), writes each file atomically, and leaves a stamp file when complete so a
rerun skips it. Common Voice needs a login, so for it we explain where to get it and check the folder.
The HTTP, checksum and extraction machinery is in `corpus.fetch`; this module has the per-corpus downloaders.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from corpus.cli import UserError
from corpus.fetch import Checksum, DownloadError, download_file, safe_extract, verify_tar

__all__ = [
    "DownloadError", "LIBRISPEECH_MD5", "LIBRISPEECH_BASE_URL", "MSWC_BASE_URL", "MSWC_KINDS",
    "download_librispeech", "download_mswc", "check_common_voice", "register",
]

LIBRISPEECH_BASE_URL = "https://www.openslr.org/resources/12"
LIBRISPEECH_MD5: dict[str, str] = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}
MSWC_BASE_URL = "https://storage.googleapis.com/public-datasets-mswc"
MSWC_KINDS = ("audio", "splits", "alignments")
COMMON_VOICE_URL = "https://commonvoice.mozilla.org/en/datasets"


def download_librispeech(part: str, out: str | os.PathLike[str], *, base_url: str = LIBRISPEECH_BASE_URL,
                         md5: str | None = None, extract: bool = True, keep_archive: bool = True,
                         progress: bool = True) -> Path:
    """Fetch `<base_url>/<part>.tar.gz` into `out`, check its MD5, extract to `out/LibriSpeech/<part>`."""
    if part not in LIBRISPEECH_MD5 and md5 is None:
        raise DownloadError(f"unknown LibriSpeech part {part!r}; choose one of {', '.join(LIBRISPEECH_MD5)}")
    out = Path(out)
    archive = out / f"{part}.tar.gz"
    stamp = out / f".{archive.name}.extracted"
    if not stamp.exists():
        checksum = Checksum(algorithm="md5", hexdigest=md5 or LIBRISPEECH_MD5[part])
        download_file(f"{base_url.rstrip('/')}/{part}.tar.gz", archive, checksum=checksum, progress=progress)
    if extract:
        safe_extract(archive, out, progress=progress)
        if not keep_archive and archive.exists():
            archive.unlink()
    return out / "LibriSpeech" / part


def download_mswc(language: str, out: str | os.PathLike[str], *, kinds: tuple[str, ...] = MSWC_KINDS,
                  base_url: str = MSWC_BASE_URL, sha256: dict[str, str] | None = None, extract: bool = True,
                  progress: bool = True) -> dict[str, Path]:
    """Fetch MSWC `<kind>/<lang>.tar.gz` archives into `out/<kind>/` and extract each there.

    MSWC publishes no checksums: each archive's size must match Content-Length and the tar must read
    to the end before it gets its final name; `sha256` (kind -> hex) adds a check the user trusts.
    """
    if not language or "/" in language or language.startswith("."):
        raise DownloadError(f"not a language code: {language!r}")
    unknown = set(kinds) - set(MSWC_KINDS) or set(sha256 or {}) - set(kinds)
    if unknown:
        raise DownloadError(f"unknown or unselected archive kind(s) {sorted(unknown)}; kinds are {', '.join(MSWC_KINDS)}")
    results = {}
    for kind in kinds:
        folder = Path(out) / kind
        archive = folder / f"{language}.tar.gz"
        if not (folder / f".{archive.name}.extracted").exists():
            digest = (sha256 or {}).get(kind)
            download_file(f"{base_url.rstrip('/')}/{kind}/{language}.tar.gz", archive,
                          checksum=Checksum(algorithm="sha256", hexdigest=digest) if digest else None,
                          verify=verify_tar, progress=progress)
        if extract:
            safe_extract(archive, folder, progress=progress)
        results[kind] = folder
    return results


def check_common_voice(folder: str | os.PathLike[str]) -> tuple[dict[str, int], list[str]]:
    """Check an extracted `cv-corpus-*/<lang>` folder: (counts, problems). No problems means usable."""
    folder = Path(folder)
    problems: list[str] = []
    counts: dict[str, int] = {}
    if not folder.is_dir():
        return counts, [f"{folder}: folder does not exist"]
    clips = folder / "clips"
    clip_names = {p.name for p in clips.iterdir()} if clips.is_dir() else set()
    if not clips.is_dir():
        problems.append(f"{clips}: missing (the audio clips folder)")
    counts["clips"] = len(clip_names)
    for name in ("validated.tsv", "train.tsv", "dev.tsv", "test.tsv"):
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n").split("\t")
            if "path" not in header or "sentence" not in header:
                problems.append(f"{path}: header lacks 'path' and 'sentence' columns: {header[:6]}")
                continue
            column = header.index("path")
            rows = missing = 0
            for line in handle:
                rows += 1
                fields = line.rstrip("\n").split("\t")
                if clip_names and len(fields) > column and fields[column] not in clip_names:
                    missing += 1
        counts[name] = rows
        if missing:
            problems.append(f"{path}: {missing} of {rows} rows name clips that are not in {clips}")
    if not folder.parent.name.startswith("cv-corpus-"):
        problems.append(f"{folder}: expected inside a 'cv-corpus-<version>' folder (as the archive unpacks)")
    return counts, problems


def _print_common_voice_help(out: Path, language: str) -> None:
    print(f"""Common Voice requires accepting its terms, so it cannot be downloaded automatically.

1. Open {COMMON_VOICE_URL}, choose the language ({language or '<lang>'}) and the newest dataset version,
   enter your e-mail, accept the terms and download the .tar.gz.
2. Extract it into {out}:
     tar -xzf cv-corpus-<version>-<lang>.tar.gz -C {out}
   which gives {out}/cv-corpus-<version>/{language or '<lang>'}/ with clips/ and validated.tsv, train.tsv,
   dev.tsv, test.tsv.
3. Check it:
     python -m corpus download common-voice --lang {language or '<lang>'} --out {out}""")


def _run_librispeech(args: argparse.Namespace) -> int:
    try:
        path = download_librispeech(args.part, args.out, base_url=args.base_url, md5=args.md5,
                                    keep_archive=not args.delete_archive)
    except DownloadError as error:
        raise UserError(str(error)) from None
    print(f"LibriSpeech {args.part} is in {path}")
    return 0


def _parse_sha256(values: list[str], kinds: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for value in values:
        kind, sep, digest = value.rpartition("=")
        if not sep:
            if len(kinds) != 1:
                raise UserError("with several --kind values, give --sha256 as KIND=HEX")
            kind, digest = kinds[0], value
        try:
            Checksum(algorithm="sha256", hexdigest=digest)
        except ValueError as error:
            raise UserError(f"--sha256 {value}: {error}") from None
        result[kind] = digest
    return result


def _run_mswc(args: argparse.Namespace) -> int:
    kinds = tuple(args.kind or MSWC_KINDS)
    try:
        folders = download_mswc(args.lang, args.out, kinds=kinds, base_url=args.base_url,
                                sha256=_parse_sha256(args.sha256 or [], kinds))
    except DownloadError as error:
        raise UserError(str(error)) from None
    for kind, folder in folders.items():
        print(f"MSWC {args.lang} {kind}: {folder}")
    return 0


def _run_common_voice(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.check:
        candidates = [Path(args.check)]
    else:
        candidates = sorted(out.glob(f"cv-corpus-*/{args.lang}")) if args.lang else []
    if not candidates:
        _print_common_voice_help(out, args.lang or "")
        return 1
    folder = candidates[-1]  # the newest version sorts last
    counts, problems = check_common_voice(folder)
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{folder}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    if problems:
        raise UserError(f"{folder} is not a usable Common Voice folder ({len(problems)} problem(s) above)")
    print("looks good")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    download = subparsers.add_parser(
        "download", help="download LibriSpeech or MSWC (resumable, verified); instructions for Common Voice",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Download and extract the real corpora. Downloads resume after an interruption (rerun the same
command); an archive gets its final name only after its checksum/size/integrity checks pass, and a
finished extraction leaves a stamp so reruns skip it.

examples:
  python -m corpus download librispeech --part test-clean --out data/
  python -m corpus download mswc --lang lg --out data/mswc
  python -m corpus download common-voice --lang lg --out data/cv""")
    sub = download.add_subparsers(title="corpora", metavar="CORPUS")

    libri = sub.add_parser("librispeech", formatter_class=argparse.RawDescriptionHelpFormatter,
                           help="one LibriSpeech part from openslr.org (MD5-checked)",
                           description="""\
Download OUT/<part>.tar.gz from openslr.org, check the published MD5 and extract it, giving
OUT/LibriSpeech/<part>/<speaker>/<chapter>/*.flac + *.trans.txt and OUT/LibriSpeech/SPEAKERS.TXT.

example:
  python -m corpus download librispeech --part test-clean --out data/""")
    libri.add_argument("--part", required=True, choices=sorted(LIBRISPEECH_MD5), help="which part")
    libri.add_argument("--out", required=True, help="folder for the archive and the extracted LibriSpeech/")
    libri.add_argument("--base-url", default=LIBRISPEECH_BASE_URL, help="mirror (default: %(default)s)")
    libri.add_argument("--md5", default=None, help="expected MD5 if a mirror repackages (default: the official one)")
    libri.add_argument("--delete-archive", action="store_true", help="delete the .tar.gz after extraction")
    libri.set_defaults(func=_run_librispeech)

    mswc = sub.add_parser("mswc", formatter_class=argparse.RawDescriptionHelpFormatter,
                          help="Multilingual Spoken Words Corpus archives of one language",
                          description="""\
Download the MSWC archives of one language: OUT/<kind>/<lang>.tar.gz for each kind (audio, splits,
alignments), each extracted into OUT/<kind>/. MSWC publishes no checksums: the size must match the
server's Content-Length and the tar must read completely; pass --sha256 to check a digest you trust.

example:
  python -m corpus download mswc --lang lg --out data/mswc
  python -m corpus download mswc --lang lg --kind splits --sha256 splits=<64 hex digits> --out data/mswc""")
    mswc.add_argument("--lang", required=True, help="MSWC language code, e.g. lg, rw, en")
    mswc.add_argument("--out", required=True, help="folder that receives audio/, splits/, alignments/")
    mswc.add_argument("--kind", action="append", choices=MSWC_KINDS,
                      help="only these archives (repeatable; default: all)")
    mswc.add_argument("--sha256", action="append", metavar="[KIND=]HEX", help="expected SHA-256 (repeatable)")
    mswc.add_argument("--base-url", default=MSWC_BASE_URL, help="mirror (default: %(default)s)")
    mswc.set_defaults(func=_run_mswc)

    cv = sub.add_parser("common-voice", formatter_class=argparse.RawDescriptionHelpFormatter,
                        help="where to get Common Voice (login needed) and a check of the folder",
                        description=f"""\
Common Voice needs a login and accepting its terms, so it is downloaded by hand from
{COMMON_VOICE_URL}. Extract the archive into OUT so that OUT/cv-corpus-<version>/<lang>/ holds
clips/ and validated.tsv, train.tsv, dev.tsv, test.tsv. This command prints these steps when the
folder is missing, and checks it (files present, tsv rows pointing at existing clips) when found.

example:
  python -m corpus download common-voice --lang lg --out data/cv
  python -m corpus download common-voice --check data/cv/cv-corpus-17.0-2024-03-15/lg""")
    cv.add_argument("--lang", default="", help="language folder to look for under OUT/cv-corpus-*/")
    cv.add_argument("--out", default="data/cv",
                    help="where the extracted cv-corpus-* folders live (default: %(default)s)")
    cv.add_argument("--check", default=None, metavar="FOLDER", help="check this cv-corpus-*/<lang> folder")
    cv.set_defaults(func=_run_common_voice)
    download.set_defaults(func=lambda args: (download.print_help(), 2)[1])
