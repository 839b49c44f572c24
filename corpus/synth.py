"""Synthetic speech with known word timings, from espeak-ng (the `espeakng-loader` wheel, through ctypes).

This is the suite's ground truth: the aligner, the MSWC builder and the keyword spotters are all
measured against speech whose words and word times are known exactly.

Timing method. espeak reports, in synthesis order, a WORD event when it starts a word and a PHONEME
event (with the exact sample index) for every phoneme, pauses included (`_`, `_:`, `_!`, ...). A
word's start is its first non-pause phoneme; its end is the next phoneme event after its last
non-pause phoneme (a pause, or the next word's first sound) so pauses never count as part of a word.
Where a word meets a pause, silent frames at that edge (e.g. a stop closure) are trimmed by energy;
where two words touch and the second starts with a stop, the closure silence goes to the second
word, as in phonetic annotation (TIMIT, Buckeye).
espeak may split one written token into several spoken words ("42" -> "forty two"); timings are
reported per whitespace token of the input, which is what a transcript holds.

espeak-ng carries state from one utterance to the next, so synthesis runs in `corpus.espeak_zygote`
server processes (one per language voice, started lazily, restarted after a fork) that fork a fresh
child per utterance: the same text, voice and settings always give the same samples, whatever was
synthesized before and whichever worker of a pool does it.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import struct
import subprocess
import sys
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import espeakng_loader
import numpy as np

from corpus.audio import resample

__all__ = [
    "SpeakerProfile", "WordTiming", "SynthResult", "SpeakerBank", "SynthError", "UnknownLanguage", "synthesize",
    "espeak_voice_for", "available_languages", "LANGUAGE_VOICES",
]

# Languages espeak-ng has no voice for, read with the voice of a close orthography. Luganda and
# Kinyarwanda are Bantu languages written in a Latin orthography close to Swahili's.
LANGUAGE_VOICES: dict[str, str] = {"lg": "sw", "rw": "sw"}

# Human-sounding espeak variants with a gender label. Left out: robotic, whispering and Klatt variants
# (Klatt synthesizes at half the speed), variants with a built-in echo (m2, f2-f5, Alicia, Marco): an
# echo fills pauses and blurs word ends (rooms are simulated explicitly by `corpus.augment`, on top of
# dry speech whose word times are exact), and variants with breath noise (sandro, victor): espeak-ng
# reads uninitialized memory there, so their audio changes with the process's memory layout.
_MALE_VARIANTS = ("m1", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "Denis", "Diogo", "Henrique", "Hugo", "Lee",
                  "antonio", "michel", "miguel", "travis")
_FEMALE_VARIANTS = ("f1", "Andrea", "Annie", "anika", "aunty", "belinda", "grandma", "linda", "steph", "steph2",
                    "steph3")

_EVENT_WORD, _EVENT_PHONEME = 1, 7
_TRIM_FRAME_S = 0.005
_TRIM_BELOW_PEAK_DB = 40.0


class SynthError(RuntimeError):
    pass


class UnknownLanguage(SynthError, ValueError):
    """No espeak-ng voice for the language code (a user error, not a synthesis failure)."""


@dataclass(frozen=True, kw_only=True)
class SpeakerProfile:
    """One synthetic speaker: an espeak voice variant plus prosody settings."""

    speaker_id: str
    variant: str
    gender: str  # "male" | "female"
    rate_wpm: int = 175
    pitch: int = 50  # espeak 0..100
    pitch_range: int = 50  # espeak 0..100
    volume: int = 100  # espeak 0..200


@dataclass(frozen=True, kw_only=True)
class WordTiming:
    text: str  # the token as written in the input text
    index: int  # position of the token among the text's whitespace-separated tokens
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SynthResult:
    samples: np.ndarray  # float32 mono
    sample_rate_hz: int
    words: tuple[WordTiming, ...]
    text: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


class _Zygote:
    """Client of one `corpus.espeak_zygote` process (one per language voice per process)."""

    def __init__(self, voice: str) -> None:
        self.voice = voice
        self.process = subprocess.Popen([sys.executable, "-m", "corpus.espeak_zygote", voice],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def _fail(self, what: str) -> SynthError:
        self.process.kill()
        stderr = self.process.stderr.read().decode(errors="replace").strip() if self.process.stderr else ""
        return SynthError(f"espeak-ng ({self.voice}) {what}{': ' + stderr if stderr else ''}")

    def speak(self, text: str, profile: SpeakerProfile) -> tuple[np.ndarray, list, int]:
        request = json.dumps({"variant": profile.variant, "rate": profile.rate_wpm, "pitch": profile.pitch,
                              "range": profile.pitch_range, "volume": profile.volume, "text": text}).encode()
        try:
            self.process.stdin.write(struct.pack("<I", len(request)) + request)
            self.process.stdin.flush()
            size = struct.unpack("<I", self._read(4))[0]
            header = json.loads(self._read(size))
            audio = np.frombuffer(self._read(2 * header["num_samples"]), dtype="<i2")
        except (BrokenPipeError, EOFError):
            raise self._fail("stopped unexpectedly") from None
        if header.get("error"):
            raise SynthError(f"{header['error']} (text {text[:60]!r})")
        return audio, [tuple(e) for e in header["events"]], int(header["sample_rate_hz"])

    def _read(self, count: int) -> bytes:
        data = self.process.stdout.read(count)
        if len(data) != count:
            raise EOFError
        return data

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


_lock = threading.Lock()
_zygotes: dict[str, _Zygote] = {}
_zygote_pid = 0


def _zygote(voice: str) -> _Zygote:
    global _zygote_pid
    if _zygote_pid != os.getpid():  # forked: the parent's pipes are not ours
        _zygotes.clear()
        _zygote_pid = os.getpid()
    if voice not in _zygotes or _zygotes[voice].process.poll() is not None:
        _zygotes[voice] = _Zygote(voice)
    return _zygotes[voice]


@atexit.register
def _close_zygotes() -> None:
    if _zygote_pid == os.getpid():
        for zygote in _zygotes.values():
            zygote.close()


@functools.lru_cache(maxsize=1)
def available_languages() -> frozenset[str]:
    """espeak-ng language codes (from its `lang` tree) plus the mapped ones (lg, rw)."""
    root = Path(espeakng_loader.get_data_path()) / "lang"
    codes = {p.name for p in root.rglob("*") if p.is_file()}
    return frozenset(codes | set(LANGUAGE_VOICES))


def espeak_voice_for(language: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9-]+)?", language or ""):
        raise UnknownLanguage(f"not a language code: {language!r}")
    voice = LANGUAGE_VOICES.get(language, language)
    if voice not in available_languages():
        raise UnknownLanguage(f"espeak-ng has no voice for language {language!r}")
    return voice


def _token_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) character spans of whitespace-separated tokens."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def _is_pause(name: str) -> bool:
    return name.startswith("_")


def _frame_is_loud(audio: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, int]:
    frame = max(1, int(_TRIM_FRAME_S * sample_rate_hz))
    usable = len(audio) // frame * frame
    energy = (audio[:usable].astype(np.float64).reshape(-1, frame) ** 2).mean(axis=1) + 1e-12
    floor = energy.max() * 10 ** (-_TRIM_BELOW_PEAK_DB / 10)
    return energy > floor, frame


def _word_spans(events: list, num_samples: int) -> list[tuple[int, int, int, bool, bool]]:
    """(text_position, start_sample, end_sample, pause_before, pause_after) per spoken word.

    espeak puts pause phonemes inside some words too (a prenasalized stop, a geminate), so a word
    ends at the event after its *last* sounding phoneme, not at its first pause.
    """
    phonemes: list[tuple[int, bool, int]] = []  # (sample, is_pause, word ordinal)
    positions: list[int] = []
    for kind, position, _length, sample, name in events:
        if kind == _EVENT_WORD:
            positions.append(position)
        elif kind == _EVENT_PHONEME and positions:
            phonemes.append((sample, _is_pause(name), len(positions) - 1))
    spans = []
    for word, position in enumerate(positions):
        sounding = [i for i, (_, pause, owner) in enumerate(phonemes) if owner == word and not pause]
        if not sounding:
            continue
        first, last = sounding[0], sounding[-1]
        start = phonemes[first][0]
        end = phonemes[last + 1][0] if last + 1 < len(phonemes) else num_samples
        pause_before = first == 0 or phonemes[first - 1][1]
        pause_after = last + 1 >= len(phonemes) or phonemes[last + 1][1]
        if end > start:
            spans.append((position, start, end, pause_before, pause_after))
    return spans


def _trim_silent_edges(span: tuple[int, int, int, bool, bool], loud: np.ndarray, frame: int) -> tuple[int, int]:
    _, start, end, pause_before, pause_after = span
    first, last = start // frame, max(start // frame, (end - 1) // frame)
    frames = np.flatnonzero(loud[first:last + 1]) + first
    if frames.size == 0:
        return start, end
    if pause_before:
        start = max(start, int(frames[0]) * frame)
    if pause_after:
        end = min(end, (int(frames[-1]) + 1) * frame)
    return start, max(end, start + 1)


def _closures_to_next_word(spans: list[tuple[int, int, int, bool, bool]], loud: np.ndarray, frame: int
                           ) -> list[tuple[int, int, int, bool, bool]]:
    """Where two words touch and the second starts with a stop, espeak times the stop at its burst, so
    the closure silence would end the first word. Phonetic convention (and acoustics) give the
    closure to the stop: move such a boundary back to where the silence begins."""
    spans = [list(s) for s in spans]
    for left, right in zip(spans, spans[1:]):
        if left[4] or right[3] or left[2] != right[1]:
            continue  # a pause separates them, or they don't touch
        boundary_frame = left[2] // frame
        first = boundary_frame
        while first - 1 > left[1] // frame and not loud[first - 1]:
            first -= 1
        if first < boundary_frame:
            left[2] = right[1] = first * frame
    return [tuple(s) for s in spans]


def synthesize(text: str, *, language: str, speaker: SpeakerProfile, sample_rate_hz: int = 16000) -> SynthResult:
    """Speak `text` and return float32 audio at `sample_rate_hz` with per-token word timings."""
    if not text.strip():
        raise SynthError("nothing to say: empty text")
    voice = espeak_voice_for(language)
    with _lock:
        audio, events, native_hz = _zygote(voice).speak(text, speaker)
    if audio.size == 0:
        raise SynthError(f"espeak-ng produced no audio for {text[:60]!r}")
    loud, frame = _frame_is_loud(audio, native_hz)
    tokens = _token_spans(text)
    per_token: dict[int, list[int]] = {}
    for span in _closures_to_next_word(_word_spans(events, len(audio)), loud, frame):
        position = span[0] - 1  # espeak counts characters from 1
        token = next((i for i, (a, b) in enumerate(tokens) if a <= position < b), None)
        if token is None:
            continue
        start, end = _trim_silent_edges(span, loud, frame)
        bounds = per_token.setdefault(token, [start, end])
        bounds[0], bounds[1] = min(bounds[0], start), max(bounds[1], end)
    words = tuple(WordTiming(text=text[tokens[i][0]:tokens[i][1]], index=i, start_s=a / native_hz,
                             end_s=b / native_hz)
                  for i, (a, b) in sorted(per_token.items()))
    samples = resample(audio.astype(np.float32) / 32768.0, native_hz, sample_rate_hz)
    return SynthResult(samples=samples, sample_rate_hz=sample_rate_hz, words=words, text=text)


class SpeakerBank:
    """N distinct, deterministic synthetic speakers for a seed, half female where N allows.

    Speaker i depends only on (seed, i), so growing the bank never changes existing speakers.
    Distinctness comes from voice variant x pitch x pitch range x speaking rate.
    """

    def __init__(self, num_speakers: int, *, seed: int = 0, prefix: str = "spk") -> None:
        if num_speakers <= 0:
            raise ValueError("num_speakers must be positive")
        self.seed = seed
        self.speakers = tuple(self.speaker(i, prefix=prefix) for i in range(num_speakers))

    def speaker(self, index: int, *, prefix: str = "spk") -> SpeakerProfile:
        rng = np.random.default_rng([self.seed, index, 0x5EA4])
        female = index % 2 == 1
        variants = _FEMALE_VARIANTS if female else _MALE_VARIANTS
        variant = variants[(index // 2 + int(rng.integers(0, 1000))) % len(variants)]
        return SpeakerProfile(
            speaker_id=f"{prefix}{index:04d}",
            variant=variant,
            gender="female" if female else "male",
            rate_wpm=int(rng.integers(135, 215)),
            pitch=int(rng.integers(55, 85) if female else rng.integers(25, 60)),
            pitch_range=int(rng.integers(30, 80)),
            volume=int(rng.integers(85, 120)),
        )

    def __len__(self) -> int:
        return len(self.speakers)

    def __getitem__(self, index: int) -> SpeakerProfile:
        return self.speakers[index]

    def __iter__(self):
        return iter(self.speakers)


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from any printable parts, stable across processes (unlike hash())."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode("utf-8"))
