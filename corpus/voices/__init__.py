"""Synthetic voices from several synthesizer families behind one small interface.

A *family* is one synthesizer (its own voices, prosody and artefacts): a keyword spotter trained on one
family and tested on another hears voices no training synthesizer made. Families here:

- `espeak` (`corpus.voices.espeak`): espeak-ng through `corpus.synth`, 100+ languages, exact word times.
- `flite` (`corpus.voices.flite`): CMU Flite (Debian package `flite`, installed by `tools/ensure_flite.sh`),
  English voices kal16 (diphone), awb, rms, slt (cluster unit selection); speaking rate settable (and
  the pitch of kal16). No word times: it serves isolated words and running speech.
- `kokoro` (`corpus.voices.kokoro`): Kokoro-82M, a neural synthesizer (int8 ONNX from the pip extra
  `voices`), its five shipped voice styles and blends of them reading espeak-ng's IPA: English, Spanish,
  French, Italian, Portuguese. No word times.

Each backend says which languages it serves and, when it cannot run here, why (`unavailable`): callers
skip it with that one line. Rendering is deterministic (same text, voice and settings -> same samples)
and `render` caches it on disk when given a folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from corpus.configs import stable_hash
from corpus.fsutil import atomic_path

__all__ = ["Voice", "Rendered", "VoiceBackend", "VoiceError", "FAMILIES", "backend", "backends_for", "render",
           "skipped_lines"]

FAMILIES = ("espeak", "flite", "kokoro")


class VoiceError(RuntimeError):
    """A synthesizer failed on a text, or cannot run here (the message names which and why)."""


@dataclass(frozen=True, kw_only=True)
class Voice:
    """One synthetic speaker of a family: a base voice and its settings (a pure description)."""

    family: str
    speaker_id: str
    base: str  # the family's voice name (espeak variant, flite voice)
    gender: str  # "male" | "female"
    rate: float = 1.0  # speaking-rate factor (> 1 faster)
    pitch: float = 0.0  # family-specific pitch setting (espeak 0..100, flite Hz of the f0 mean; 0 = default)
    settings: tuple[tuple[str, float], ...] = ()  # any other family-specific numbers


@dataclass(frozen=True)
class Rendered:
    samples: np.ndarray  # float32 mono at 16 kHz
    sample_rate_hz: int
    word_times: tuple[tuple[float, float], ...] | None  # per whitespace token, when the family knows them


class VoiceBackend(Protocol):
    family: str

    def serves(self, language: str) -> bool: ...

    def unavailable(self) -> str | None: ...

    def voices(self, language: str, count: int, *, seed: int) -> list[Voice]: ...

    def speak(self, text: str, *, language: str, voice: Voice) -> Rendered: ...


def backend(family: str) -> VoiceBackend:
    if family == "espeak":
        from corpus.voices.espeak import EspeakBackend
        return EspeakBackend()
    if family == "flite":
        from corpus.voices.flite import FliteBackend
        return FliteBackend()
    if family == "kokoro":
        from corpus.voices.kokoro import KokoroBackend
        return KokoroBackend()
    raise ValueError(f"unknown synthesizer family {family!r} (known: {', '.join(FAMILIES)})")


def backends_for(language: str, families: Sequence[str] = FAMILIES) -> list[VoiceBackend]:
    """The families that serve `language` and can run here, in `families` order."""
    out = []
    for family in families:
        candidate = backend(family)
        if candidate.serves(language) and candidate.unavailable() is None:
            out.append(candidate)
    return out


def skipped_lines(language: str, families: Sequence[str] = FAMILIES) -> list[str]:
    """One line per family that serves `language` but cannot run here, saying why."""
    lines = []
    for family in families:
        candidate = backend(family)
        reason = candidate.unavailable() if candidate.serves(language) else None
        if reason:
            lines.append(f"synthesizer {family} skipped: {reason}")
    return lines


def render(backend_: VoiceBackend, text: str, *, language: str, voice: Voice,
           cache_dir: str | os.PathLike[str] | None = None) -> Rendered:
    """`backend_.speak(...)`, cached under `cache_dir` by (family, voice, language, text)."""
    if cache_dir is None:
        return backend_.speak(text, language=language, voice=voice)
    path = Path(cache_dir) / f"{voice.family}-{stable_hash(voice, language, text, length=16)}.npz"
    if path.exists():
        with np.load(path) as saved:
            times = None if bool(saved["no_times"]) else tuple(map(tuple, saved["word_times"].tolist()))
            return Rendered(saved["samples"], int(saved["sample_rate_hz"]), times)
    result = backend_.speak(text, language=language, voice=voice)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, samples=result.samples, sample_rate_hz=result.sample_rate_hz,
                     word_times=np.array(result.word_times or [], np.float64).reshape(-1, 2),
                     no_times=result.word_times is None)
    return result
