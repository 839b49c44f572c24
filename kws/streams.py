"""Test streams for streaming detection: keywords spliced into running speech of other words, with
pauses, silence and background noise, and the exact time of every keyword (the ground truth).

- Keyword audio: held-out clips (DEV/TEST speakers) of the keywords from the MSWC tree, cut to the
  spoken word (from `synthetic_truth.jsonl.gz` when the tree is synthetic, else by energy) with 40 ms
  margins and short fades. Clips are reused in turn when the stream needs more occurrences.
- Running speech: sentences of the language's demo text that contain none of the keywords, spoken by
  stream speakers (a speaker bank of their own, in no split) -- or, for languages without demo text,
  "sentences" made of held-out clips of other words. A keyword goes either between two sentences or
  inside one, at a word boundary.
- Levels: every keyword is scaled to the running speech's active level, give or take
  `keyword_level_db`, so the SNR below holds for the keywords too.
- Noise: blocks of `noise_block_s` with a random noise of the bank at a random SNR relative to the
  speech's active level, over the whole stream (pauses included).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus.audio import AudioError, load_audio, save_audio
from corpus.augment import active_power
from corpus.engines import map_ordered
from corpus.formats.mswc import MswcRelease
from corpus.manifest import read_jsonl
from corpus.synth import SpeakerBank, SpeakerProfile, SynthError, stable_seed
from corpus.configs import read_json, write_json
from kws.data import NoiseBank
from kws.evaluate import Occurrence

log = logging.getLogger(__name__)

__all__ = ["StreamConfig", "Stream", "KeywordClip", "keyword_clips", "make_stream", "write_stream", "read_stream",
           "running_speech"]

RATE = 16000


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    duration_s: float = 600.0
    keyword_spacing_s: tuple[float, float] = (6.0, 14.0)
    pause_s: tuple[float, float] = (0.15, 1.2)
    long_silence_prob: float = 0.05  # now and then a few seconds of silence (noise only)
    snr_db: tuple[float, float] = (10.0, 20.0)
    # each keyword is brought to the running speech's active level, +- this: clips come at their recording
    # level (MSWC clips vary by 15 dB), and a keyword 8 dB under the speech would sit 8 dB under the SNR
    # the stream claims
    keyword_level_db: tuple[float, float] = (-3.0, 3.0)
    noise_block_s: float = 20.0
    speakers: int = 24
    filler: str = "auto"  # sentences | clips | auto (sentences when the language has demo text)
    seed: int = 0


@dataclass(frozen=True)
class KeywordClip:
    word: str
    audio: np.ndarray  # float32, the word with margins
    word_start_s: float  # inside `audio`
    word_end_s: float


@dataclass
class Stream:
    audio: np.ndarray
    occurrences: list[Occurrence]
    language: str
    filler: str

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE


def _energy_span(audio: np.ndarray, floor_db: float = 30.0) -> tuple[float, float]:
    frame = RATE // 100
    usable = len(audio) // frame * frame
    power = np.square(audio[:usable].astype(np.float64)).reshape(-1, frame).mean(axis=1)
    if power.max() <= 0:
        return 0.0, len(audio) / RATE
    loud = np.flatnonzero(power >= power.max() * 10 ** (-floor_db / 10))
    return loud[0] * frame / RATE, (loud[-1] + 1) * frame / RATE


def _cut(audio: np.ndarray, start_s: float, end_s: float, margin_s: float = 0.04, fade_s: float = 0.01
         ) -> tuple[np.ndarray, float, float]:
    first = max(0, int((start_s - margin_s) * RATE))
    last = min(len(audio), int(np.ceil((end_s + margin_s) * RATE)))
    piece = audio[first:last].astype(np.float32).copy()
    fade = min(int(fade_s * RATE), len(piece) // 2)
    if fade:
        ramp = np.linspace(0, 1, fade, endpoint=False, dtype=np.float32)
        piece[:fade] *= ramp
        piece[-fade:] *= ramp[::-1]
    return piece, start_s - first / RATE, end_s - first / RATE


def keyword_clips(release: MswcRelease, words: Sequence[str], *, sets: Sequence[str] = ("DEV", "TEST"),
                  per_word: int | None = None) -> list[KeywordClip]:
    """Held-out clips of `words`, cut to the spoken word; corrupt clips are skipped."""
    truth = {}
    truth_path = release.root / "synthetic_truth.jsonl.gz"
    if truth_path.exists():
        truth = {r["link"]: (r["word_start_s"], r["word_end_s"]) for r in read_jsonl(truth_path)}
    out = []
    for word in words:
        clips = sorted((c for c in release.clips if c.word == word and c.set in sets and c.valid),
                       key=lambda c: c.link)[:per_word]
        for clip in clips:
            try:
                audio = load_audio(release.clip_path(clip), sample_rate_hz=RATE)
            except AudioError as error:  # a corrupt clip is left out of the stream, and said so
                log.warning("%s: skipped (%s)", clip.link, error)
                continue
            start, end = truth.get(clip.link) or _energy_span(audio)
            piece, a, b = _cut(audio, start, end)
            out.append(KeywordClip(word=word, audio=piece, word_start_s=a, word_end_s=b))
    return out


def _speak(job: tuple[str, str, SpeakerProfile]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    from corpus.synth import synthesize

    text, language, speaker = job
    result = synthesize(text, language=language, speaker=speaker, sample_rate_hz=RATE)
    return result.samples, [(w.start_s, w.end_s) for w in result.words]


def _sentences_without(language: str, keywords: Sequence[str], count: int, seed: int) -> list[str]:
    from corpus.demo.text import DemoText
    from corpus.text import normalize_words, rules_for

    text, rules = DemoText.load(language), rules_for(language)
    banned = set(keywords)
    out = []
    for sentence in text.sentences(count * 2 + 50, seed=seed):
        if not banned & set(normalize_words(sentence, rules).words):
            out.append(sentence)
        if len(out) >= count:
            break
    return out


def _can_synthesize(language: str) -> bool:
    try:
        from corpus.demo.text import DemoText
        from corpus.synth import espeak_voice_for
        DemoText.load(language)
        espeak_voice_for(language)
        return True
    except (ValueError, SynthError):  # no demo text, or no espeak voice for the language
        return False


def _clip_sentences(release: MswcRelease, keywords: Sequence[str], count: int, rng: np.random.Generator,
                    sets: Sequence[str]) -> list[tuple[np.ndarray, list[tuple[float, float]]]]:
    others = [c for c in release.clips if c.set in sets and c.valid and c.word not in set(keywords)]
    if not others:
        raise ValueError(f"{release.root}: no held-out clips of other words to build running speech from")
    cache: dict[str, tuple[np.ndarray, float, float]] = {}
    sentences = []
    for _ in range(count):
        parts, words, position = [], [], 0.0
        for _ in range(int(rng.integers(3, 8))):
            clip = others[int(rng.integers(len(others)))]
            if clip.link not in cache:
                try:
                    audio = load_audio(release.clip_path(clip), sample_rate_hz=RATE)
                except AudioError as error:  # a corrupt clip is left out of the stream, and said so
                    log.warning("%s: skipped (%s)", clip.link, error)
                    continue
                cache[clip.link] = _cut(audio, *_energy_span(audio))
            piece, a, b = cache[clip.link]
            gap = np.zeros(int(rng.uniform(0.05, 0.2) * RATE), np.float32)
            words.append((position + a, position + b))
            parts += [piece, gap]
            position += (len(piece) + len(gap)) / RATE
        if parts:
            sentences.append((np.concatenate(parts), words))
    return sentences


def running_speech(release: MswcRelease, keywords: Sequence[str], seconds: float, *, seed: int,
                   jobs: int | None = None, sets: Sequence[str] = ("TRAIN",), speakers: int = 24,
                   filler: str = "auto") -> np.ndarray:
    """About `seconds` of continuous speech of the release's language without the keywords (float32, 16 kHz):
    negative audio for training. Synthesized demo sentences by a speaker bank of its own ("neg", in no
    split) when the language has demo text, else clips of other words from `sets` strung into sentences."""
    rng = np.random.default_rng([seed, 0x4E6])
    count = int(seconds / 2.5) + 5
    if filler == "auto":
        filler = "sentences" if _can_synthesize(release.language) else "clips"
    if filler == "sentences":
        bank = SpeakerBank(speakers, seed=stable_seed("negative-speakers", seed), prefix="neg")
        texts = _sentences_without(release.language, keywords, count, stable_seed("negative-text", seed))
        jobs_list = [(t, release.language, bank[int(rng.integers(len(bank)))]) for t in texts]
        sentences = list(map_ordered(_speak, jobs_list, jobs=jobs, desc="negative speech", unit="sentence",
                                     progress=True))
    else:
        sentences = _clip_sentences(release, keywords, count, rng, sets)
    parts = []
    for samples, _ in sentences:
        parts += [samples.astype(np.float32), np.zeros(int(rng.uniform(0.1, 0.6) * RATE), np.float32)]
    return np.concatenate(parts)[: int(seconds * RATE)]


def make_stream(release: MswcRelease | None, keywords: Sequence[str], noise: NoiseBank,
                config: StreamConfig = StreamConfig(), *, clips: Sequence[KeywordClip] | None = None,
                jobs: int | None = None, sets: Sequence[str] = ("DEV", "TEST"),
                sentences: Sequence[tuple[np.ndarray, list[tuple[float, float]]]] | None = None,
                language: str | None = None) -> Stream:
    """A stream of about `config.duration_s` with the keywords spliced in (see the module docstring).
    `sentences` (audio, word times; times may be empty) replace the synthesized running speech, e.g. real
    recordings or another synthesizer's (kws.voice_streams); then `release` may be None."""
    rng = np.random.default_rng([config.seed, 0x57AE])
    clips = list(clips) if clips is not None else keyword_clips(release, keywords, sets=sets)
    if not clips:
        where = f" in {release.root}" if release is not None else ""
        raise ValueError(f"no held-out clips of {list(keywords)}{where} to put into a stream")
    order = rng.permutation(len(clips))
    language = language or release.language
    filler = config.filler
    if filler == "auto":
        filler = "sentences" if _can_synthesize(language) else "clips"
    count = int(config.duration_s / 2.5) + 10
    if sentences is not None:
        sentences, filler = list(sentences), "given"
    elif filler == "sentences":
        bank = SpeakerBank(config.speakers, seed=stable_seed("stream-speakers", config.seed), prefix="strm")
        texts = _sentences_without(language, keywords, count, stable_seed("stream-text", config.seed))
        jobs_list = [(t, language, bank[int(rng.integers(len(bank)))]) for t in texts]
        sentences = list(map_ordered(_speak, jobs_list, jobs=jobs, desc="stream speech", unit="sentence",
                                     progress=True))
    else:
        sentences = _clip_sentences(release, keywords, count, rng, sets)

    speech_level = active_power(np.concatenate([samples for samples, _ in sentences[:50]]), RATE)
    pieces: list[np.ndarray] = []
    occurrences: list[Occurrence] = []
    position = 0  # samples
    next_keyword = rng.uniform(*config.keyword_spacing_s) * RATE
    used = 0
    target = int(config.duration_s * RATE)

    def add(piece: np.ndarray) -> None:
        nonlocal position
        pieces.append(piece.astype(np.float32))
        position += len(piece)

    def silence(seconds: float) -> None:
        add(np.zeros(int(seconds * RATE), np.float32))

    def keyword() -> None:
        nonlocal used, next_keyword
        clip = clips[int(order[used % len(clips)])]
        used += 1
        silence(rng.uniform(0.1, 0.4))
        start = position + int(clip.word_start_s * RATE)
        end = position + int(clip.word_end_s * RATE)
        occurrences.append(Occurrence(label=clip.word, start_ms=start * 1000 // RATE, end_ms=end * 1000 // RATE))
        level = active_power(clip.audio, RATE)
        offset_db = rng.uniform(*config.keyword_level_db)
        add(clip.audio * np.float32(np.sqrt(speech_level / level * 10 ** (offset_db / 10)) if level > 0 else 1.0))
        silence(rng.uniform(0.1, 0.4))
        next_keyword = position + rng.uniform(*config.keyword_spacing_s) * RATE

    index = 0
    while position < target:
        samples, words = sentences[index % len(sentences)]
        index += 1
        if position >= next_keyword and len(words) >= 2 and rng.random() < 0.5:
            cut_after = int(rng.integers(0, len(words) - 1))
            boundary = (words[cut_after][1] + words[cut_after + 1][0]) / 2
            cut = int(boundary * RATE)
            add(samples[:cut])
            keyword()
            add(samples[cut:])
        else:
            add(samples)
            if position >= next_keyword:
                silence(rng.uniform(*config.pause_s))
                keyword()
        if rng.random() < config.long_silence_prob:
            silence(rng.uniform(2.0, 5.0))
        else:
            silence(rng.uniform(*config.pause_s))
    audio = np.concatenate(pieces)
    speech_power = active_power(audio, RATE)
    block = int(config.noise_block_s * RATE)
    for first in range(0, len(audio), block):
        length = min(block, len(audio) - first)
        kind = int(rng.integers(len(noise.signals)))
        snr = rng.uniform(*config.snr_db)
        segment = noise.segment(kind, int(rng.integers(1 << 30)), length)
        audio[first:first + length] += segment * np.float32(np.sqrt(speech_power / 10 ** (snr / 10)))
    peak = np.abs(audio).max()
    if peak > 0.99:
        audio *= 0.99 / peak
    return Stream(audio=audio, occurrences=occurrences, language=language, filler=filler)


def write_stream(stream: Stream, path: str | Path) -> Path:
    """`<path>` (16 kHz WAV) and `<path>.truth.json` (the keyword occurrences)."""
    path = Path(path)
    save_audio(path, stream.audio, RATE)
    write_json(path.with_suffix(path.suffix + ".truth.json"), {
        "language": stream.language, "filler": stream.filler, "duration_s": stream.duration_s,
        "occurrences": [{"label": o.label, "start_ms": o.start_ms, "end_ms": o.end_ms} for o in stream.occurrences]})
    return path


def read_stream(path: str | Path) -> Stream:
    path = Path(path)
    truth = read_json(path.with_suffix(path.suffix + ".truth.json"))
    return Stream(audio=load_audio(path, sample_rate_hz=RATE),
                  occurrences=[Occurrence(**o) for o in truth["occurrences"]], language=truth["language"],
                  filler=truth["filler"])
