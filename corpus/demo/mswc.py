"""`python -m corpus synth-mswc`: MSWC-release-layout keyword clips straight from synthetic speech.

For keyword-spotting work that does not need the builder. Each clip is cut from a short synthetic
sentence in which the word is spoken (so it carries the coarticulation and neighbour bleed of real
MSWC clips), by the same cutter the builder uses (`corpus.clips`), with the true word span known.
Speakers are split TRAIN/DEV/TEST by `corpus.splits` exactly like the builder does.

Output per language: `<out>/<lang>/clips/<word>/common_voice_<lang>_<n>.opus`, `<lang>_splits.csv`,
`<lang>_{train,dev,test}.csv`, `metadata.json`, and `synthetic_truth.jsonl.gz` (per clip: the
carrier sentence, the speaker, and where the word sits inside the 1-s clip).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from corpus.audio import save_audio
from corpus.cli import UserError, positive_int
from corpus.clips import clip_span_s, cut_keyword_clip
from corpus.demo.noise import NoisePlan, degrade, draw_augmentation
from corpus.demo.text import DemoText
from corpus.engines import map_ordered
from corpus.formats.common_voice import client_id_for
from corpus.formats.mswc import MswcClip, mswc_gender, write_metadata, write_splits
from corpus.fsutil import safe_name
from corpus.manifest import write_jsonl
from corpus.splits import speaker_split
from corpus.synth import SpeakerBank, SpeakerProfile, espeak_voice_for, stable_seed, synthesize
from corpus.text import normalize_words, rules_for

__all__ = ["SynthMswcConfig", "synth_mswc", "choose_words", "register"]

_CARRIER_WORDS = (2, 6)


@dataclass(frozen=True, kw_only=True)
class SynthMswcConfig:
    language: str
    words: int = 50
    clips_per_word: int = 20
    speakers: int = 40
    seed: int = 0
    include: tuple[str, ...] = ()  # words that must be among the chosen ones
    exclude: tuple[str, ...] = ()  # words that must not be
    noise: NoisePlan = field(default_factory=lambda: NoisePlan(noisy_share=1.0, snr_db=(15.0, 40.0)))
    split_shares: tuple[float, float, float] = (0.8, 0.1, 0.1)
    version: str = "synthetic-1.0"


@dataclass(frozen=True, kw_only=True)
class _ClipJob:
    word: str
    link: str
    out_path: str
    carrier: str
    position: int  # index of the word's token in the carrier
    speaker: SpeakerProfile
    language: str
    seed: int
    corpus_seed: int
    noise: NoisePlan


def choose_words(text: DemoText, count: int, *, seed: int, include: tuple[str, ...] = (),
                 exclude: tuple[str, ...] = ()) -> list[str]:
    """`count` normalized single words of >= 3 letters: `include` first, then the language's keywords,
    then the rest of the vocabulary in a seeded order."""
    rules = rules_for(text.language)
    vocabulary = sorted({w for token in text.vocabulary() for w in normalize_words(token, rules).words
                         if len(w) >= 3})
    banned = set(exclude)
    chosen = [w for w in dict.fromkeys((*include, *text.keywords)) if w not in banned]
    rest = [vocabulary[i] for i in np.random.default_rng(stable_seed("words", seed)).permutation(len(vocabulary))]
    for word in rest:
        if len(chosen) >= count:
            break
        if word not in chosen and word not in banned:
            chosen.append(word)
    if len(chosen) < count:
        raise ValueError(f"{text.language}: only {len(chosen)} usable words, asked for {count}")
    return chosen[:count]


def _jobs(config: SynthMswcConfig, lang_dir: Path) -> list[_ClipJob]:
    text = DemoText.load(config.language)
    words = choose_words(text, config.words, seed=config.seed, include=config.include, exclude=config.exclude)
    bank = SpeakerBank(config.speakers, seed=config.seed)
    carriers = text.sentences(200, seed=stable_seed("carriers", config.seed))
    jobs = []
    number = 30000000
    for word_index, word in enumerate(words):
        rng = np.random.default_rng(stable_seed("synth-mswc", config.language, config.seed, word))
        speakers = rng.permutation(config.speakers)
        folder = safe_name(word)
        for k in range(config.clips_per_word):
            carrier_words = carriers[int(rng.integers(len(carriers)))].rstrip(".?!").split()
            size = int(rng.integers(*_CARRIER_WORDS, endpoint=True))
            start = int(rng.integers(0, max(1, len(carrier_words) - size + 1)))
            carrier_words = carrier_words[start:start + size]
            position = int(rng.integers(0, len(carrier_words) + 1))
            carrier_words.insert(position, word)
            name = f"common_voice_{config.language}_{number + word_index * 1000 + k}.opus"
            jobs.append(_ClipJob(
                word=word, link=f"{folder}/{name}", out_path=str(lang_dir / "clips" / folder / name),
                carrier=" ".join(carrier_words), position=position,
                speaker=bank[int(speakers[k % config.speakers])], language=config.language,
                seed=stable_seed(config.seed, config.language, name), corpus_seed=config.seed, noise=config.noise))
    return jobs


def _render(job: _ClipJob) -> dict:
    rng = np.random.default_rng(job.seed)
    result = synthesize(job.carrier, language=job.language, speaker=job.speaker)
    timing = next((w for w in result.words if w.index == job.position), None)
    if timing is None:
        raise RuntimeError(f"espeak gave no timing for {job.word!r} in carrier {job.carrier!r}")
    aug = draw_augmentation(job.noise, rng)
    samples = degrade(result.samples, aug, rng, language=job.language, seed=job.corpus_seed)
    clip = cut_keyword_clip(samples, result.sample_rate_hz, timing.start_s, timing.end_s)
    save_audio(job.out_path, clip, result.sample_rate_hz)
    first_s, last_s = clip_span_s(timing.start_s, timing.end_s, result.duration_s)
    offset_s = (1.0 - (last_s - first_s)) / 2 - first_s  # where recording time t lands in the clip
    return {"link": job.link, "word": job.word, "carrier": job.carrier, "speaker_id": job.speaker.speaker_id,
            "gender": job.speaker.gender, "word_start_s": round(max(0.0, timing.start_s + offset_s), 5),
            "word_end_s": round(min(1.0, timing.end_s + offset_s), 5), "augment": asdict(aug)}


def synth_mswc(config: SynthMswcConfig, out: str | Path, *, jobs: int | None = None, progress: bool = True) -> Path:
    """Write `<out>/<lang>/` in the MSWC release layout and return it."""
    espeak_voice_for(config.language)
    lang_dir = Path(out) / config.language
    work = _jobs(config, lang_dir)
    truths = list(map_ordered(_render, work, jobs=jobs, desc=f"synth-mswc {config.language}", unit="clip",
                              progress=progress))
    clips = []
    for job in work:
        client = client_id_for(config.seed, job.speaker.speaker_id)
        clips.append(MswcClip(set=speaker_split(client, seed=config.seed, shares=config.split_shares),
                              link=job.link, word=job.word, valid=True, speaker=client,
                              gender=mswc_gender(job.speaker.gender)))
    write_splits(lang_dir, config.language, clips)
    folders = {job.word: job.link.split("/", 1)[0] for job in work}
    write_metadata(lang_dir, config.language, DemoText.load(config.language).name, clips, folders, config.version)
    write_jsonl(lang_dir / "synthetic_truth.jsonl.gz", truths)
    return lang_dir


def _main(args: argparse.Namespace) -> int:
    for language in args.langs.split(","):
        try:
            config = SynthMswcConfig(language=language, words=args.words, clips_per_word=args.clips_per_word,
                                     speakers=args.speakers, seed=args.seed)
            lang_dir = synth_mswc(config, args.out, jobs=args.jobs)
        except ValueError as error:
            raise UserError(str(error)) from None
        print(f"wrote {lang_dir}: {config.words} words x {config.clips_per_word} clips")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "synth-mswc", help="write synthetic keyword clips in the MSWC release layout",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__ + "\nexample:\n  python -m corpus synth-mswc --langs en,es --words 50 --out data/mswc")
    parser.add_argument("--langs", required=True, help="comma-separated language codes, e.g. en,es,sw")
    parser.add_argument("--out", required=True, help="release root; each language goes to <out>/<lang>/")
    parser.add_argument("--words", type=positive_int, default=50, help="keywords per language (default 50)")
    parser.add_argument("--clips-per-word", type=positive_int, default=20, help="clips per keyword (default 20)")
    parser.add_argument("--speakers", type=positive_int, default=40, help="speakers per language (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.set_defaults(func=_main)
