"""`python -m corpus synth-cv`: a Common Voice language folder spoken by espeak-ng, with ground truth.

Writes `<out>/cv-corpus-<version>/<lang>/` exactly as a release does (the six TSVs with the current
header, `clip_durations.tsv`, `clips/common_voice_<lang>_<n>.mp3` as mono MP3), plus
`synthetic_truth.jsonl.gz`, which real Common Voice lacks: per clip the text actually spoken, word
start/end times in the MP3's timeline, the speaker profile, the degradation applied and any planted fault.

Planted faults (all optional, all recorded in the truth file):
- wrong_transcript: the TSV holds another sentence than the one spoken;
- silent_clip: the clip holds only background noise;
- corrupt_clip: the MP3 is garbage, empty, or a header with no frames;
- odd_unicode: the TSV sentence is written with NFD accents, zero-width and bidi characters, no-break
  spaces and full-width punctuation (its normalized words equal those spoken);
- hostile_word: a token such as `../x` or `con` is spoken and written.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from corpus.audio import save_audio
from corpus.cli import UserError, positive_int, share
from corpus.demo.noise import NoisePlan, degrade, draw_augmentation
from corpus.demo.text import DemoText
from corpus.engines import map_ordered
from corpus.formats.common_voice import (CVRow, client_id_for, sentence_id_for, write_clip_durations,
                                         write_cv_tsv)
from corpus.fsutil import atomic_write_bytes, atomic_write_text
from corpus.manifest import write_jsonl
from corpus.synth import SpeakerBank, SpeakerProfile, espeak_voice_for, stable_seed, synthesize

__all__ = ["SynthCVConfig", "synth_common_voice", "register", "HOSTILE_TOKENS", "oddify"]

HOSTILE_TOKENS = ("../x", "..", "con", "a/b", "nul", "x\\y")
_FAULT_KINDS = ("wrong_transcript", "silent_clip", "corrupt_clip", "odd_unicode", "hostile_word")
_AGES = ("teens", "twenties", "thirties", "fourties", "fifties", "sixties", "")
_CV_GENDER = {"male": "male_masculine", "female": "female_feminine"}


@dataclass(frozen=True, kw_only=True)
class SynthCVConfig:
    language: str
    sentences: int = 200
    speakers: int = 20
    reads_per_sentence: int = 1
    seed: int = 0
    version: str = "17.0-synthetic"
    clip_rate_hz: int = 48000
    noise: NoisePlan = field(default_factory=NoisePlan)
    padding_s: tuple[float, float] = (0.3, 1.0)
    wrong_transcript_share: float = 0.0
    silent_clip_share: float = 0.0
    corrupt_clips: int = 0
    odd_unicode_share: float = 0.0
    hostile_word_share: float = 0.0
    invalidated_share: float = 0.03
    other_share: float = 0.03
    split_shares: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def __post_init__(self) -> None:
        if self.sentences <= 0 or self.speakers <= 0 or self.reads_per_sentence <= 0:
            raise ValueError("sentences, speakers and reads_per_sentence must be positive")
        if self.reads_per_sentence > self.speakers:
            raise ValueError("reads_per_sentence cannot exceed the number of speakers")


@dataclass(frozen=True, kw_only=True)
class _ClipJob:
    clip: str
    out_path: str
    tsv: str
    spoken: str
    transcript: str
    speaker: SpeakerProfile
    client_id: str
    language: str
    seed: int
    corpus_seed: int
    faults: tuple[str, ...]
    noise: NoisePlan
    padding_s: tuple[float, float]
    clip_rate_hz: int


def oddify(sentence: str, rng: np.random.Generator) -> str:
    """The same words written with the Unicode oddities real crowd-sourced text carries."""
    words = sentence.split(" ")
    target = max(range(len(words)), key=lambda i: (len(words[i]), -i))
    word = words[target]
    cut = int(rng.integers(1, max(2, len(word) - 1)))
    words[target] = word[:cut] + str(rng.choice(["\u200b", "\u200d", "\u00ad"])) + word[cut:]
    if len(words) > 2:
        quoted = int(rng.integers(0, len(words)))
        words[quoted] = "\u201c" + words[quoted] + "\u201d"
    joiner = str(rng.choice(["\u00a0", "\u2009", "\u3000"]))
    text = words[0] + "".join((joiner if i == 1 else " ") + w for i, w in enumerate(words[1:], start=1))
    text = text.replace(",", "\uff0c").replace(".", "\uff0e")
    return "\u200f" + unicodedata.normalize("NFD", text)


def _assign_speakers(config: SynthCVConfig, rng: np.random.Generator) -> list[list[int]]:
    """Speaker indices reading each sentence: every speaker reads at least once, then a heavy tail."""
    weights = 1.0 / (np.arange(config.speakers) + 1.0) ** 0.8
    weights /= weights.sum()
    first_reads = list(rng.permutation(config.speakers))
    readers = []
    for _ in range(config.sentences):
        chosen: list[int] = []
        while len(chosen) < config.reads_per_sentence:
            pick = int(first_reads.pop()) if first_reads else int(rng.choice(config.speakers, p=weights))
            if pick not in chosen:
                chosen.append(pick)
        readers.append(chosen)
    return readers


def _plan_faults(count: int, config: SynthCVConfig, rng: np.random.Generator) -> dict[int, str]:
    """Disjoint sets of validated clip indices for each fault kind."""
    wanted = {
        "wrong_transcript": round(config.wrong_transcript_share * count),
        "silent_clip": round(config.silent_clip_share * count),
        "corrupt_clip": config.corrupt_clips,
        "odd_unicode": round(config.odd_unicode_share * count),
        "hostile_word": round(config.hostile_word_share * count),
    }
    if sum(wanted.values()) > count:
        raise ValueError(f"asked for {sum(wanted.values())} faulty clips among {count}")
    order = list(rng.permutation(count))
    plan: dict[int, str] = {}
    for kind in _FAULT_KINDS:
        for _ in range(wanted[kind]):
            plan[int(order.pop())] = kind
    return plan


def _jobs(config: SynthCVConfig, lang_dir: Path) -> list[_ClipJob]:
    rng = np.random.default_rng(stable_seed("synth-cv", config.language, config.seed))
    text = DemoText.load(config.language)
    extra = round((config.invalidated_share + config.other_share) * config.sentences)
    sentences = text.sentences(config.sentences + extra, seed=config.seed)
    bank = SpeakerBank(config.speakers, seed=config.seed)
    readers = _assign_speakers(replace(config, sentences=config.sentences + extra), rng)
    tsv_of = ["validated"] * config.sentences
    n_invalid = round(config.invalidated_share * config.sentences)
    tsv_of += ["invalidated"] * n_invalid + ["other"] * (extra - n_invalid)
    pairs = [(s, r) for s, speakers in enumerate(readers) for r in speakers]
    validated = [i for i, (s, _) in enumerate(pairs) if tsv_of[s] == "validated"]
    faults = {validated[i]: kind for i, kind in _plan_faults(len(validated), config, rng).items()}
    jobs = []
    for index, (s, r) in enumerate(pairs):
        clip = f"common_voice_{config.language}_{20000000 + index}.mp3"
        spoken = transcript = sentences[s]
        kind = faults.get(index)
        clip_rng = np.random.default_rng(stable_seed(config.seed, clip, "faults"))
        if kind == "hostile_word":
            words = spoken.split()
            words.insert(int(clip_rng.integers(1, len(words) + 1)), str(clip_rng.choice(HOSTILE_TOKENS)))
            spoken = transcript = " ".join(words)
        elif kind == "wrong_transcript" or tsv_of[s] == "invalidated":
            others = [t for t in sentences if t != spoken]
            transcript = others[int(clip_rng.integers(len(others)))]
        elif kind == "odd_unicode":
            transcript = oddify(spoken, clip_rng)
        speaker = bank[r]
        jobs.append(_ClipJob(
            clip=clip, out_path=str(lang_dir / "clips" / clip), tsv=tsv_of[s], spoken=spoken, transcript=transcript,
            speaker=speaker, client_id=client_id_for(config.seed, speaker.speaker_id), language=config.language,
            seed=stable_seed(config.seed, clip), corpus_seed=config.seed, faults=(kind,) if kind else (),
            noise=config.noise, padding_s=config.padding_s, clip_rate_hz=config.clip_rate_hz))
    return jobs


def _corrupt_bytes(rng: np.random.Generator) -> bytes:
    kind = int(rng.integers(3))
    if kind == 0:
        return b""  # zero-byte upload
    if kind == 1:
        return bytes(rng.integers(0, 256, 4096, dtype=np.uint8))  # garbage, no MP3 frame sync
    return b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an ID3 tag and nothing after it


def _render(job: _ClipJob) -> dict:
    """Synthesize, pad, degrade and encode one clip; returns its ground-truth record."""
    rng = np.random.default_rng(job.seed)
    result = synthesize(job.spoken, language=job.language, speaker=job.speaker)
    rate = result.sample_rate_hz
    lead_s, tail_s = (float(rng.uniform(*job.padding_s)) for _ in range(2))
    lead, tail = int(lead_s * rate), int(tail_s * rate)
    speech = result.samples
    if "silent_clip" in job.faults:
        speech = np.zeros_like(speech)
    samples = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(tail, np.float32)])
    aug = draw_augmentation(job.noise, rng)
    if "silent_clip" in job.faults and aug.noise_kind is None:
        aug = replace(aug, noise_kind="pink")
    samples = degrade(samples, aug, rng, language=job.language, seed=job.corpus_seed, sample_rate_hz=rate)
    if "silent_clip" in job.faults:
        samples = (samples / (np.abs(samples).max() + 1e-9) * 0.01).astype(np.float32)
    if "corrupt_clip" in job.faults:
        atomic_write_bytes(job.out_path, _corrupt_bytes(rng))
    else:
        save_audio(job.out_path, samples, rate, file_rate_hz=job.clip_rate_hz)
    offset = lead / rate
    words = [] if "silent_clip" in job.faults else [
        {"text": w.text, "start_s": round(w.start_s + offset, 5), "end_s": round(w.end_s + offset, 5)}
        for w in result.words]
    return {
        "path": job.clip, "tsv": job.tsv, "spoken_text": job.spoken, "sentence": job.transcript,
        "speaker_id": job.speaker.speaker_id, "client_id": job.client_id, "gender": job.speaker.gender,
        "speaker": asdict(job.speaker), "duration_s": round(len(samples) / rate, 5), "words": words,
        "faults": list(job.faults), "augment": asdict(aug), "language": job.language,
    }


def _split_of(client_id: str, shares: tuple[float, float, float], seed: int) -> str:
    point = (stable_seed("cv-split", seed, client_id) % 10_000) / 10_000
    return "train" if point < shares[0] else "dev" if point < shares[0] + shares[1] else "test"


def synth_common_voice(config: SynthCVConfig, out: str | Path, *, jobs: int | None = None,
                       progress: bool = True) -> Path:
    """Write the tree and return the language folder `<out>/cv-corpus-<version>/<lang>`."""
    espeak_voice_for(config.language)  # fail before any work on an unknown language
    lang_dir = Path(out) / f"cv-corpus-{config.version}" / config.language
    (lang_dir / "clips").mkdir(parents=True, exist_ok=True)
    work = _jobs(config, lang_dir)
    rng = np.random.default_rng(stable_seed("cv-meta", config.seed))
    ages = {job.client_id: str(rng.choice(_AGES)) for job in work}
    truths = list(map_ordered(_render, work, jobs=jobs, desc=f"synth-cv {config.language}", unit="clip",
                              progress=progress))
    tables: dict[str, list[CVRow]] = {name: [] for name in ("validated", "train", "dev", "test", "invalidated",
                                                            "other")}
    for job, truth in zip(work, truths):
        votes = {"validated": (2, 0), "invalidated": (0, 2), "other": (1, 0)}[job.tsv]
        row = CVRow(client_id=job.client_id, path=job.clip, sentence_id=sentence_id_for(job.transcript),
                    sentence=job.transcript, up_votes=votes[0], down_votes=votes[1], age=ages[job.client_id],
                    gender=_CV_GENDER[job.speaker.gender], locale=config.language)
        tables[job.tsv].append(row)
        if job.tsv == "validated":
            tables[_split_of(job.client_id, config.split_shares, config.seed)].append(row)
    for name, rows in tables.items():
        write_cv_tsv(lang_dir / f"{name}.tsv", rows)
    write_clip_durations(lang_dir / "clip_durations.tsv",
                         {t["path"]: int(round(t["duration_s"] * 1000)) for t in truths})
    write_jsonl(lang_dir / "synthetic_truth.jsonl.gz", truths)
    atomic_write_text(lang_dir / "synthetic_config.json", _config_json(config))
    return lang_dir


def _config_json(config: SynthCVConfig) -> str:
    return json.dumps(asdict(config), indent=2, sort_keys=True) + "\n"


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    return float(low), float(high or low)


def _main(args: argparse.Namespace) -> int:
    noise = NoisePlan(noisy_share=args.noisy_share, snr_db=_range(args.snr_db),
                      noise_kinds=tuple(k for k in args.noise_kinds.split(",") if k),
                      reverb_share=args.reverb_share, rt60_s=_range(args.rt60_s))
    try:
        config = SynthCVConfig(
            language=args.lang, sentences=args.sentences, speakers=args.speakers,
            reads_per_sentence=args.reads_per_sentence, seed=args.seed, version=args.version, noise=noise,
            wrong_transcript_share=args.wrong_transcripts, silent_clip_share=args.silent_clips,
            corrupt_clips=args.corrupt_clips, odd_unicode_share=args.odd_unicode,
            hostile_word_share=args.hostile_words)
        lang_dir = synth_common_voice(config, args.out, jobs=args.jobs)
    except ValueError as error:
        raise UserError(str(error)) from None
    print(f"wrote {lang_dir} ({config.sentences * config.reads_per_sentence} validated clips)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "synth-cv", help="write a synthetic Common Voice language folder (MP3 clips + TSVs + ground truth)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__ + "\nexample:\n  python -m corpus synth-cv --lang lg --sentences 200 --speakers 20 "
                              "--out data/cv\n  -> data/cv/cv-corpus-17.0-synthetic/lg/validated.tsv ...")
    parser.add_argument("--lang", required=True, help="language code (any espeak-ng language with demo text)")
    parser.add_argument("--out", required=True, help="folder that receives cv-corpus-<version>/<lang>/")
    parser.add_argument("--sentences", type=positive_int, default=200, help="validated sentences (default 200)")
    parser.add_argument("--speakers", type=positive_int, default=20, help="distinct speakers (default 20)")
    parser.add_argument("--reads-per-sentence", type=positive_int, default=1, help="clips per sentence")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> identical TSVs and clips")
    parser.add_argument("--version", default="17.0-synthetic", help="release name after cv-corpus-")
    parser.add_argument("--noisy-share", type=share, default=1.0, help="share of clips with added noise")
    parser.add_argument("--snr-db", default="20:40", help="SNR range LOW:HIGH in dB (default 20:40)")
    parser.add_argument("--noise-kinds", default="white,pink", help="comma list of white,pink,babble")
    parser.add_argument("--reverb-share", type=share, default=0.2, help="share of clips with room reverb")
    parser.add_argument("--rt60-s", default="0.2:0.5", help="reverb time range in seconds")
    parser.add_argument("--wrong-transcripts", type=share, default=0.0, help="share with another sentence's text")
    parser.add_argument("--silent-clips", type=share, default=0.0, help="share of clips holding only noise")
    parser.add_argument("--corrupt-clips", type=int, default=0, help="number of undecodable MP3 files")
    parser.add_argument("--odd-unicode", type=share, default=0.0, help="share of sentences with odd Unicode")
    parser.add_argument("--hostile-words", type=share, default=0.0, help="share with tokens like ../x or con")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.set_defaults(func=_main)
