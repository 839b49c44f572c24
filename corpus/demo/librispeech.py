"""`synth-librispeech`: a small LibriSpeech-shaped tree spoken by espeak-ng, with exact word times.

Why: the LibriSpeech reader, the aligner and the builders must be tested on a tree that looks exactly
like the real download (same folders, file names, trans.txt and SPEAKERS.TXT/CHAPTERS.TXT formats)
but is small, generated in seconds and comes with ground truth the real corpus lacks: the time of
every word. That truth goes to a sidecar file next to the split, never into the tree itself, so a
reader cannot tell the synthetic tree from a real one.

Each chapter is one work unit with its own seed (and synthesis is a pure function of its input, see
`corpus.synth`), so the output does not depend on --jobs. "other" splits get room reverb and more background noise, as the
real "other" subsets are harder.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.audio import save_audio
from corpus.augment import add_noise, apply_reverb, pink_noise, synthetic_rir
from corpus.cli import UserError, positive_int
from corpus.demo.text import DemoText
from corpus.engines import map_ordered
from corpus.formats.librispeech import (ChapterRow, SpeakerRow, chapter_dir, utterance_id, write_chapters,
                                        write_speakers, write_transcript)
from corpus.manifest import write_jsonl
from corpus.synth import SpeakerBank, SpeakerProfile, SynthError, stable_seed, synthesize
from corpus.text import normalize_words, rules_for

__all__ = ["LibriSynthConfig", "generate_librispeech", "truth_path", "register"]

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000  # LibriSpeech's rate
_SPLIT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")

@dataclass(frozen=True, kw_only=True)
class LibriSynthConfig:
    out: Path  # the tree goes to out/LibriSpeech/<split>/...
    split: str = "test-clean"
    speakers: int = 8
    chapters_per_speaker: int = 2
    utterances_per_chapter: int = 5
    language: str = "en"
    seed: int = 0
    jobs: int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if not _SPLIT_NAME.match(self.split):
            raise ValueError(f"split must look like 'test-clean' (lower-case letters, digits, '-'), got {self.split!r}")
        for name in ("speakers", "chapters_per_speaker", "utterances_per_chapter"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.utterances_per_chapter > 9999:
            raise ValueError("utterances_per_chapter must fit in 4 digits (at most 9999)")


@dataclass(frozen=True, kw_only=True)
class _ChapterJob:
    root: str
    split: str
    language: str
    seed: int
    speaker: SpeakerProfile
    speaker_id: int
    chapter_id: int
    candidates: tuple[str, ...]  # more sentences than needed: some may be unusable
    utterances: int
    noisy: bool


def truth_path(out: str | Path, split: str) -> Path:
    return Path(out) / "LibriSpeech" / f"{split}.synthetic_truth.jsonl.gz"


def _utterance_audio(speech: np.ndarray, rng: np.random.Generator, noisy: bool) -> tuple[np.ndarray, float]:
    """Pad with leading/trailing silence (as LibriSpeech segments have), set the level, add the room."""
    lead_s = float(rng.uniform(0.15, 0.45))
    tail_s = float(rng.uniform(0.2, 0.5))
    peak = float(np.abs(speech).max()) or 1.0
    speech = speech * (10 ** (rng.uniform(-6.0, -1.0) / 20) / peak)
    audio = np.concatenate([np.zeros(int(lead_s * SAMPLE_RATE_HZ), np.float32), speech.astype(np.float32),
                            np.zeros(int(tail_s * SAMPLE_RATE_HZ), np.float32)])
    lead_s = int(lead_s * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    if noisy:
        audio = apply_reverb(audio, synthetic_rir(float(rng.uniform(0.2, 0.5)), SAMPLE_RATE_HZ, rng))
        snr_db = float(rng.uniform(12.0, 22.0))
    else:
        snr_db = float(rng.uniform(38.0, 50.0))  # a quiet room is never digital silence
    audio = add_noise(audio, pink_noise(len(audio), rng), snr_db, SAMPLE_RATE_HZ)
    return np.clip(audio, -1.0, 1.0), lead_s


def _make_chapter(job: _ChapterJob) -> dict[str, Any]:
    """Synthesize one chapter's utterances, write its FLACs, then its trans.txt (last, so its presence
    means the chapter is complete). Returns the truth records and the chapter's length."""
    rng = np.random.default_rng(stable_seed(job.seed, job.split, job.speaker_id, job.chapter_id, "audio"))
    folder = chapter_dir(job.root, job.split, job.speaker_id, job.chapter_id)
    rules = rules_for(job.language)
    truth: list[dict[str, Any]] = []
    lines: list[tuple[str, str]] = []
    seconds = 0.0
    for sentence in job.candidates:
        if len(lines) == job.utterances:
            break
        normalized = normalize_words(sentence, rules)
        if normalized.excluded:
            continue
        # Speak the normalized words so each timed token is exactly one transcript word; the final
        # full stop keeps a sentence's falling intonation without adding a token.
        try:
            result = synthesize(" ".join(normalized.words) + ".", language=job.language, speaker=job.speaker,
                                sample_rate_hz=SAMPLE_RATE_HZ)
        except SynthError as error:
            log.debug("skipping %r: %s", sentence, error)
            continue
        if len(result.words) != len(normalized.words):
            continue
        audio, lead_s = _utterance_audio(result.samples, rng, job.noisy)
        utt = utterance_id(job.speaker_id, job.chapter_id, len(lines))
        save_audio(folder / f"{utt}.flac", audio, SAMPLE_RATE_HZ)
        text = " ".join(word.upper() for word in normalized.words)
        lines.append((utt, text))
        duration_s = len(audio) / SAMPLE_RATE_HZ
        seconds += duration_s
        truth.append({
            "id": utt, "text": text, "speaker": str(job.speaker_id), "gender": job.speaker.gender,
            "chapter": str(job.chapter_id), "duration_s": round(duration_s, 6),
            "words": [{"text": word.upper(), "start_s": round(timing.start_s + lead_s, 6),
                       "end_s": round(timing.end_s + lead_s, 6)}
                      for word, timing in zip(normalized.words, result.words)],
        })
    if len(lines) < job.utterances:
        raise RuntimeError(f"chapter {job.chapter_id}: only {len(lines)} of {job.utterances} sentences were usable")
    write_transcript(folder / f"{job.speaker_id}-{job.chapter_id}.trans.txt", lines)
    return {"speaker_id": job.speaker_id, "chapter_id": job.chapter_id, "seconds": seconds, "truth": truth}


def generate_librispeech(config: LibriSynthConfig) -> Path:
    """Write out/LibriSpeech/<split>/..., SPEAKERS.TXT, CHAPTERS.TXT and the truth sidecar; return the split dir."""
    try:
        demo = DemoText.load(config.language)
    except ValueError as error:
        raise UserError(str(error)) from None
    root = Path(config.out) / "LibriSpeech"
    split_dir = root / config.split
    if split_dir.exists() and any(split_dir.iterdir()):
        if not config.force:
            raise UserError(f"{split_dir} already exists and is not empty; choose another --out or pass --force "
                            f"to replace it")
        shutil.rmtree(split_dir)
    rng = np.random.default_rng(stable_seed(config.seed, config.split, "librispeech-ids"))
    # Real ids are plain numbers; drawn per split so that splits of one tree rarely share speakers.
    speaker_ids = [int(i) for i in rng.choice(np.arange(10, 10000), config.speakers, replace=False)]
    chapter_ids = [int(i) for i in rng.choice(np.arange(1000, 400000),
                                              config.speakers * config.chapters_per_speaker, replace=False)]
    bank = SpeakerBank(config.speakers, seed=stable_seed(config.seed, config.split, "voices"))
    noisy = "other" in config.split
    jobs = []
    for s, speaker_id in enumerate(speaker_ids):
        for c in range(config.chapters_per_speaker):
            chapter_id = chapter_ids[s * config.chapters_per_speaker + c]
            candidates = demo.sentences(config.utterances_per_chapter * 2 + 5,
                                        seed=stable_seed(config.seed, config.split, speaker_id, chapter_id))
            jobs.append(_ChapterJob(root=str(root), split=config.split, language=config.language, seed=config.seed,
                                    speaker=bank[s], speaker_id=speaker_id, chapter_id=chapter_id,
                                    candidates=tuple(candidates), utterances=config.utterances_per_chapter,
                                    noisy=noisy))
    results = list(map_ordered(_make_chapter, jobs, jobs=config.jobs, desc=f"synth {config.split}", unit="chapter"))

    speaker_seconds: dict[int, float] = {}
    chapter_rows = []
    for number, result in enumerate(results):
        speaker_seconds[result["speaker_id"]] = speaker_seconds.get(result["speaker_id"], 0.0) + result["seconds"]
        chapter_rows.append(ChapterRow(
            chapter_id=str(result["chapter_id"]), reader_id=str(result["speaker_id"]),
            minutes=result["seconds"] / 60, subset=config.split, project_id=str(1000 + number),
            book_id=str(20000 + number), chapter_title=f"Chapter {number % 40 + 1:02d}",
            project_title=f"Synthetic Readings ({demo.name}), volume {number // 40 + 1}"))
    speaker_rows = [SpeakerRow(speaker_id=str(speaker_id), sex="F" if bank[s].gender == "female" else "M",
                               subset=config.split, minutes=speaker_seconds[speaker_id] / 60,
                               name=f"Synthetic Reader {speaker_id} ({bank[s].variant})")
                    for s, speaker_id in enumerate(speaker_ids)]
    write_speakers(root, speaker_rows)
    write_chapters(root, chapter_rows)
    truth = sorted((record for result in results for record in result["truth"]), key=lambda r: r["id"])
    for record in truth:
        record["split"] = config.split
        record["language"] = config.language
    write_jsonl(truth_path(config.out, config.split), truth)
    log.info("wrote %d utterances of %d speakers to %s", len(truth), len(speaker_ids), split_dir)
    return split_dir


def _run(args: argparse.Namespace) -> int:
    try:
        config = LibriSynthConfig(out=Path(args.out), split=args.split, speakers=args.speakers,
                                  chapters_per_speaker=args.chapters_per_speaker,
                                  utterances_per_chapter=args.utterances_per_chapter, language=args.lang,
                                  seed=args.seed, jobs=args.jobs, force=args.force)
    except ValueError as error:
        raise UserError(str(error)) from None
    split_dir = generate_librispeech(config)
    print(f"wrote {split_dir} (ground truth: {truth_path(config.out, config.split)})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth-librispeech", help="write a small synthetic corpus in the exact LibriSpeech layout",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Write a synthetic LibriSpeech split, spoken by espeak-ng, laid out exactly like the real download:

  OUT/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac   (16 kHz FLAC)
  OUT/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt        (ID TEXT, upper case)
  OUT/LibriSpeech/SPEAKERS.TXT, CHAPTERS.TXT       (rows of other splits already there are kept)
  OUT/LibriSpeech/<split>.synthetic_truth.jsonl.gz (per utterance: id, text, speaker, and every word
                                                    with start_s/end_s in its FLAC; not part of the layout)

The same --seed gives identical files (audio and truth included), whatever --jobs is.

example:
  python -m corpus synth-librispeech --out data/demo --split test-clean --speakers 4
  # then read it like the real corpus, from data/demo/LibriSpeech""")
    parser.add_argument("--out", required=True, help="folder that receives LibriSpeech/ (created if missing)")
    parser.add_argument("--split", default="test-clean", help="split folder name, e.g. dev-clean, test-other "
                        "('other' splits get reverb and more noise) (default: %(default)s)")
    parser.add_argument("--speakers", type=positive_int, default=8, help="number of readers (default: %(default)s)")
    parser.add_argument("--chapters-per-speaker", type=positive_int, default=2, help="(default: %(default)s)")
    parser.add_argument("--utterances-per-chapter", type=positive_int, default=5, help="(default: %(default)s)")
    parser.add_argument("--lang", default="en", help="language of the demo sentences and voice (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same corpus (default: %(default)s)")
    parser.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="replace OUT/LibriSpeech/<split> if it exists")
    parser.set_defaults(func=_run)
