"""`synth-ia`: Internet Archive items (long MP3 + imperfect SubRip captions + metadata), with ground truth.

Why: the People's-Speech-style builder must cope with what real IA uploads do: captions whose times
are shifted, drift and jitter, cues that merge two sentences, timestamps with two-digit milliseconds,
music and noise between talk, captions that belong to another item or language or say only
"[music]", and re-uploads of the same recording. Real items come with none of this labelled; these
do. The truth goes to DIR/synthetic_truth.jsonl.gz (true sentences with exact word times in the
item's audio, the music/noise/silence stretches, the planted faults, the license), never into the
item folders, so the builder sees only what it would see on IA. Truth words are the sentence's
whitespace tokens as spoken and captioned (punctuation attached, "Leeds."), timed in the item's MP3.

One item is one work unit with its own seed, and its audio is streamed to the MP3 encoder piece by
piece, so memory stays at one piece per worker and the output is the same for any --jobs. Near-duplicates are made in a second pass from the finished MP3 of their source (decode, trim,
gain, encode again), as a real re-upload would be.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.audio import read_blocks
from corpus.augment import pink_noise
from corpus.cli import UserError, add_run_options, positive_int, share
from corpus.demo import SynthTreeError
from corpus.demo.ia_audio import Mp3Stream, music
from corpus.demo.ia_captions import render_captions, rounded
from corpus.demo.text import DemoText, demo_languages
from corpus.engines import map_ordered
from corpus.manifest import write_jsonl
from corpus.formats.internet_archive import file_entry, license_family, write_metadata
from corpus.fsutil import atomic_write_text
from corpus.synth import SpeakerBank, SynthError, stable_seed, synthesize

__all__ = ["IASynthConfig", "generate_ia", "TRUTH_NAME", "LICENSE_URLS", "BAD_TRANSCRIPT_KINDS", "register"]

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
TRUTH_NAME = "synthetic_truth.jsonl.gz"
LICENSE_URLS = ("https://creativecommons.org/licenses/by/4.0/", "https://creativecommons.org/licenses/by-sa/4.0/",
                "http://creativecommons.org/publicdomain/mark/1.0/")
BAD_TRANSCRIPT_KINDS = ("other_language", "other_item", "non_speech")
_IDENTIFIER = re.compile(r"^synth_[A-Za-z0-9-]+_show_\d{3}$")
_NOISE_FLOOR_RMS = 3e-4  # about -70 dBFS: a quiet studio, not digital zero


@dataclass(frozen=True, kw_only=True)
class IASynthConfig:
    out: Path
    items: int = 4  # all item folders, near-duplicates included
    minutes: float = 3.0
    language: str = "en"
    seed: int = 0
    bad_transcript_share: float = 0.25
    near_duplicates: int = 1
    jobs: int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.items <= 0 or not 0 < self.minutes <= 600:
            raise ValueError("items must be positive and minutes in (0, 600]")
        if not 0.0 <= self.bad_transcript_share <= 1.0:
            raise ValueError("bad_transcript_share must be between 0 and 1")
        if not 0 <= self.near_duplicates < self.items:
            raise ValueError(f"near_duplicates must be below items ({self.items}): each copies an original item")
        if self.items > 1000:
            raise ValueError("at most 1000 items")


@dataclass(frozen=True, kw_only=True)
class _ItemJob:
    root: str
    identifier: str
    index: int  # seeds everything of this item
    seed: int
    language: str
    duration_s: float
    title: str
    license_url: str
    crlf: bool
    bad_transcript: str | None = None
    bad_source: str | None = None  # other_language: a language code; other_item: an identifier
    bad_source_index: int | None = None


@dataclass(frozen=True, kw_only=True)
class _DuplicateJob:
    root: str
    identifier: str
    source: dict[str, Any]  # the source item's truth record
    seed: int
    index: int
    title: str
    crlf: bool



def _pool_size(duration_s: float) -> int:
    return int(duration_s / 1.2) + 8  # more sentences than the item can hold (each lasts >= ~1.5 s)


def _sentences(language: str, seed: int, index: int, duration_s: float) -> list[str]:
    return DemoText.load(language).sentences(_pool_size(duration_s), seed=stable_seed(seed, "ia-text", index))

def _write_item_files(folder: Path, identifier: str, title: str, language: str, license_url: str, srt: str,
                      description: str) -> None:
    srt_path = folder / f"{identifier}.srt"
    atomic_write_text(srt_path, srt)
    # Metadata last: its presence means the item is complete.
    metadata = {"identifier": identifier, "title": title, "mediatype": "audio", "collection": ["opensource_audio"],
                "creator": "Synthetic Radio", "language": language, "licenseurl": license_url,
                "description": description, "subject": ["talk", "synthetic"]}
    write_metadata(folder, metadata, [file_entry(folder / f"{identifier}.mp3", "VBR MP3"),
                                      file_entry(srt_path, "SubRip")])


def _replacement_texts(job: _ItemJob) -> list[str] | None:
    if job.bad_transcript == "other_language":
        return DemoText.load(job.bad_source).sentences(_pool_size(job.duration_s),
                                                       seed=stable_seed(job.seed, "ia-foreign", job.index))
    if job.bad_transcript == "other_item":
        return _sentences(job.language, job.seed, job.bad_source_index, job.duration_s)
    return None


def _make_item(job: _ItemJob) -> dict[str, Any]:
    """Speak, play and write one item; return its truth record."""
    rng = np.random.default_rng(stable_seed(job.seed, "ia-item", job.index))
    folder = Path(job.root) / job.identifier
    bank = SpeakerBank(int(rng.integers(2, 5)), seed=stable_seed(job.seed, "ia-voices", job.index),
                       prefix=f"{job.identifier}-spk")
    levels_db = [float(rng.uniform(-8.0, -2.0)) for _ in bank]  # each speaker has their own microphone
    pool = iter(_sentences(job.language, job.seed, job.index, job.duration_s))
    sentences: list[dict[str, Any]] = []
    stretches: list[dict[str, Any]] = []
    with Mp3Stream(folder / f"{job.identifier}.mp3", SAMPLE_RATE_HZ, rng, _NOISE_FLOOR_RMS) as out:

        def gap(kind: str, seconds: float) -> None:
            count = max(1, int(seconds * SAMPLE_RATE_HZ))
            if kind == "music":
                piece = music(count, SAMPLE_RATE_HZ, rng)
            elif kind == "noise":
                piece = pink_noise(count, rng) * float(rng.uniform(0.01, 0.05))
            else:
                piece = np.zeros(count, np.float32)
            start_s = out.position_s
            out.write(piece)
            stretches.append({"kind": kind, "start_s": rounded(start_s), "end_s": rounded(out.position_s)})

        if rng.random() < 0.6:
            gap("music", float(rng.uniform(2.0, 5.0)))  # a jingle opens many shows
        else:
            gap("silence", float(rng.uniform(0.5, 1.2)))
        speaker = -1
        exhausted = False
        while out.position_s < job.duration_s and not exhausted:
            speaker = (speaker + 1 + int(rng.integers(0, len(bank) - 1))) % len(bank) if speaker >= 0 else 0
            for _ in range(int(rng.integers(1, 4))):
                text = next(pool, None)
                if text is None:
                    exhausted = True
                    break
                try:
                    result = synthesize(text, language=job.language, speaker=bank[speaker],
                                        sample_rate_hz=SAMPLE_RATE_HZ)
                except SynthError as error:
                    log.debug("%s: skipping %r: %s", job.identifier, text, error)
                    continue
                if len(result.words) != len(text.split()):
                    continue  # a token espeak did not time would leave speech without truth
                gain = 10 ** ((levels_db[speaker] + float(rng.uniform(-1.0, 1.0))) / 20)
                start_s = out.position_s
                out.write(result.samples * (gain / (float(np.abs(result.samples).max()) or 1.0)))
                words = [{"text": w.text, "start_s": rounded(start_s + w.start_s), "end_s": rounded(start_s + w.end_s)}
                         for w in result.words]
                sentences.append({"speaker": bank[speaker].speaker_id, "text": text, "start_s": words[0]["start_s"],
                                  "end_s": words[-1]["end_s"], "words": words})
                gap("silence", float(rng.uniform(0.25, 0.7)))
                if out.position_s >= job.duration_s:
                    break
            kind = str(rng.choice(["silence", "music", "noise"], p=[0.5, 0.25, 0.25]))
            gap(kind, float({"silence": rng.uniform(0.4, 1.5), "music": rng.uniform(2.0, 6.0),
                             "noise": rng.uniform(1.0, 3.0)}[kind]))
        duration_s = out.position_s
    srt, captions = render_captions(sentences, stretches, rng, replacement=_replacement_texts(job),
                                     non_speech=job.bad_transcript == "non_speech", crlf=job.crlf)
    _write_item_files(folder, job.identifier, job.title, job.language, job.license_url, srt,
                      "A synthetic talk show: several speakers, music and noise.")
    return {
        "identifier": job.identifier, "title": job.title, "language": job.language, "license_url": job.license_url,
        "license": license_family(job.license_url), "sample_rate_hz": SAMPLE_RATE_HZ,
        "duration_s": rounded(duration_s),
        "speakers": [{"id": s.speaker_id, "gender": s.gender, "voice": s.variant} for s in bank],
        "sentences": sentences, "stretches": stretches, "captions": captions,
        "faults": {"bad_transcript": job.bad_transcript, "bad_transcript_source": job.bad_source,
                   "duplicate_of": None},
    }


def _shift(record: dict[str, Any], trim_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The source's truth as heard in a copy whose first `trim_s` seconds are cut."""
    sentences = []
    for sentence in record["sentences"]:
        words = [{**w, "start_s": rounded(w["start_s"] - trim_s), "end_s": rounded(w["end_s"] - trim_s)}
                 for w in sentence["words"] if w["start_s"] >= trim_s]
        if words:
            kept = {**sentence, "words": words, "start_s": words[0]["start_s"], "end_s": words[-1]["end_s"]}
            if len(words) < len(sentence["words"]):
                kept["truncated"] = True
            sentences.append(kept)
    stretches = [{**s, "start_s": rounded(max(0.0, s["start_s"] - trim_s)), "end_s": rounded(s["end_s"] - trim_s)}
                 for s in record["stretches"] if s["end_s"] - trim_s > 0.0]
    return sentences, stretches


def _make_duplicate(job: _DuplicateJob) -> dict[str, Any]:
    """Re-upload of another item: trimmed start, changed gain, decoded and encoded again."""
    rng = np.random.default_rng(stable_seed(job.seed, "ia-duplicate", job.index))
    source = job.source
    trim_s = float(rng.uniform(0.5, 3.0))
    gain_db = float(rng.choice([-1, 1])) * float(rng.uniform(1.0, 4.0))
    trim_samples = int(trim_s * SAMPLE_RATE_HZ)
    trim_s = trim_samples / SAMPLE_RATE_HZ
    folder = Path(job.root) / job.identifier
    source_mp3 = Path(job.root) / source["identifier"] / f"{source['identifier']}.mp3"
    with Mp3Stream(folder / f"{job.identifier}.mp3", SAMPLE_RATE_HZ, rng, 0.0, compression_level=0.8) as out:
        for first, block in read_blocks(source_mp3, block_s=30.0, sample_rate_hz=SAMPLE_RATE_HZ):
            block = block[max(0, trim_samples - first):]
            if block.size:
                out.write(block * 10 ** (gain_db / 20))
        duration_s = out.position_s
    sentences, stretches = _shift(source, trim_s)
    srt, captions = render_captions(sentences, stretches, rng, replacement=None, non_speech=False, crlf=job.crlf)
    _write_item_files(folder, job.identifier, job.title, source["language"], source["license_url"], srt,
                      "Re-upload of a synthetic talk show.")
    return {
        **{k: source[k] for k in ("language", "license_url", "license", "sample_rate_hz", "speakers")},
        "identifier": job.identifier, "title": job.title, "duration_s": rounded(duration_s),
        "sentences": sentences, "stretches": stretches, "captions": captions,
        "faults": {"bad_transcript": None, "bad_transcript_source": None, "duplicate_of": source["identifier"],
                   "trim_start_s": rounded(trim_s), "gain_db": rounded(gain_db), "reencoded": True},
    }


def _plan(config: IASynthConfig, root: Path) -> tuple[list[_ItemJob], list[tuple[str, int, str, bool]]]:
    """Decide identifiers, licenses and faults up front (cheap), so workers need nothing but their job."""
    rng = np.random.default_rng(stable_seed(config.seed, "ia-plan"))
    originals = config.items - config.near_duplicates
    numbers = [int(n) for n in rng.permutation(config.items)]  # duplicates must not be the last numbers
    identifiers = [f"synth_{config.language}_show_{n:03d}" for n in numbers]
    bad_count = min(originals, int(math.floor(config.bad_transcript_share * config.items + 0.5)))
    bad = sorted(int(i) for i in rng.choice(originals, bad_count, replace=False))
    kinds = [k for k in BAD_TRANSCRIPT_KINDS if k != "other_item" or originals > 1]
    foreign = [lang for lang in demo_languages() if lang != config.language]
    if not foreign:
        kinds = [k for k in kinds if k != "other_language"]
    order = [kinds[int(k)] for k in rng.permutation(len(kinds))]
    jobs = []
    for index in range(originals):
        kind = source = source_index = None
        if index in bad:
            kind = order[bad.index(index) % len(order)]
            if kind == "other_language":
                source = str(rng.choice(foreign))
            elif kind == "other_item":
                source_index = int(rng.choice([i for i in range(originals) if i != index]))
                source = identifiers[source_index]
        jobs.append(_ItemJob(root=str(root), identifier=identifiers[index], index=index, seed=config.seed,
                             language=config.language, duration_s=config.minutes * 60,
                             title=f"Synthetic talk show {numbers[index] + 1}",
                             license_url=str(rng.choice(LICENSE_URLS)), crlf=bool(rng.random() < 0.5),
                             bad_transcript=kind, bad_source=source, bad_source_index=source_index))
    good = [i for i in range(originals) if i not in bad] or list(range(originals))
    duplicates = []
    for d in range(config.near_duplicates):
        index = originals + d
        duplicates.append((identifiers[index], int(rng.choice(good)),
                           f"Synthetic talk show {numbers[index] + 1} (re-upload)", bool(rng.random() < 0.5)))
    return jobs, duplicates


def generate_ia(config: IASynthConfig) -> Path:
    """Write the items and DIR/synthetic_truth.jsonl.gz; return the truth file's path."""
    root = Path(config.out)
    try:
        DemoText.load(config.language)
    except ValueError as error:
        raise SynthTreeError(str(error)) from None
    truth_file = root / TRUTH_NAME
    ours = [p for p in root.iterdir() if _IDENTIFIER.match(p.name)] if root.is_dir() else []
    if ours or truth_file.exists():
        if not config.force:
            raise SynthTreeError(f"{root} already holds synthetic items; choose another --out or pass --force")
        for path in ours:
            shutil.rmtree(path)
        truth_file.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    jobs, duplicates = _plan(config, root)
    records = list(map_ordered(_make_item, jobs, jobs=config.jobs, desc="synth IA items", unit="item"))
    duplicate_jobs = [_DuplicateJob(root=str(root), identifier=identifier, source=records[source], seed=config.seed,
                                    index=len(jobs) + d, title=title, crlf=crlf)
                      for d, (identifier, source, title, crlf) in enumerate(duplicates)]
    records += list(map_ordered(_make_duplicate, duplicate_jobs, jobs=config.jobs, desc="near-duplicates",
                                unit="item", chunksize=1))
    write_jsonl(truth_file, sorted(records, key=lambda r: r["identifier"]))
    log.info("wrote %d items (%d near-duplicates) to %s", len(records), len(duplicate_jobs), root)
    return truth_file


def _run(args: argparse.Namespace) -> int:
    try:
        config = IASynthConfig(out=Path(args.out), items=args.items, minutes=args.minutes, language=args.lang,
                               seed=args.seed, bad_transcript_share=args.bad_transcript_share,
                               near_duplicates=args.near_duplicates, jobs=args.jobs, force=args.force)
    except ValueError as error:
        raise UserError(str(error)) from None
    try:
        truth = generate_ia(config)
    except SynthTreeError as error:
        raise UserError(str(error)) from None
    print(f"wrote {config.items} items to {config.out} (ground truth: {truth})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth-ia", help="write synthetic Internet Archive items (MP3 + imperfect SubRip + metadata)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Write synthetic Internet Archive items, each laid out as a downloaded IA item:

  OUT/<identifier>/<identifier>.mp3            16 kHz mono: several speakers taking turns, music, noise
  OUT/<identifier>/<identifier>.srt            captions with realistic errors: global offset (-2..2 s),
                                               drift (up to 1 %), jitter (0.1-0.3 s), merged cues,
                                               some timestamps with two-digit milliseconds
  OUT/<identifier>/<identifier>_metadata.json  IA metadata API shape; licenseurl CC-BY 4.0,
                                               CC-BY-SA 4.0 or the public domain mark
  OUT/synthetic_truth.jsonl.gz                 per item: true sentences with word times, the
                                               music/noise/silence stretches, planted faults, license

Planted faults: --bad-transcript-share of the items get captions in another language, the text of
another item, or only [music]/[applause]; --near-duplicates items are re-uploads of another item
(trimmed start, other gain, re-encoded). The same --seed gives the same files for any --jobs.

example:
  python -m corpus synth-ia --out data/ia_demo --items 4 --minutes 3""")
    parser.add_argument("--out", required=True, help="folder that receives the item folders (created if missing)")
    parser.add_argument("--items", type=positive_int, default=4,
                        help="item folders in all, near-duplicates included (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=3.0,
                        help="length of each original item (default: %(default)s)")
    parser.add_argument("--lang", default="en", help="language spoken (default: %(default)s)")
    parser.add_argument("--bad-transcript-share", type=share, default=0.25,
                        help="share of items whose captions do not match the audio (default: %(default)s)")
    parser.add_argument("--near-duplicates", type=int, default=1,
                        help="how many items are re-uploads of another item (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace synthetic items already in OUT")
    add_run_options(parser, quiet=False, seed_help="same seed, same items (default: %(default)s)")
    parser.set_defaults(func=_run)
