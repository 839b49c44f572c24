"""The audio side of `synth-ia` (corpus.demo.internet_archive): an MP3 written piece by piece over a pink-noise
floor, and synthetic music for the stretches between talk."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf

from corpus.augment import pink_noise
from corpus.fsutil import atomic_path

__all__ = ["Mp3Stream", "music"]


class Mp3Stream:
    """Append float pieces to an MP3 that appears under its name only when closed without error.

    A low pink-noise floor is added to every piece (the encoder and the ear both expect one); each
    piece's noise comes from the item's generator, so the bytes depend only on the seed.
    """

    def __init__(self, path: Path, sample_rate_hz: int, rng: np.random.Generator, floor_rms: float, *,
                 compression_level: float | None = None) -> None:
        self.path = path
        self.sample_rate_hz = sample_rate_hz
        self.rng = rng
        self.floor_rms = floor_rms
        self.compression_level = compression_level
        self.samples_written = 0

    def __enter__(self) -> "Mp3Stream":
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._file = sf.SoundFile(tmp, "w", samplerate=self.sample_rate_hz, channels=1, format="MP3",
                                      subtype="MPEG_LAYER_III", compression_level=self.compression_level)
        except BaseException as error:
            self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def write(self, piece: np.ndarray) -> None:
        piece = np.asarray(piece, dtype=np.float32)
        if self.floor_rms > 0:
            piece = piece + pink_noise(len(piece), self.rng) * self.floor_rms
        self._file.write(np.clip(piece, -1.0, 1.0))
        self.samples_written += len(piece)

    @property
    def position_s(self) -> float:
        return self.samples_written / self.sample_rate_hz

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._file.close()
        self._atomic.__exit__(kind, error, traceback)


def music(num_samples: int, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A jingle: a pentatonic melody of harmonic tones with plucked envelopes over a bass line."""
    out = np.zeros(num_samples, np.float64)
    beat_s = 60.0 / float(rng.uniform(80, 140))
    root_hz = float(rng.uniform(180, 300))
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16, 19, 21])
    harmonics = np.arange(1, 7)
    decay_s = float(rng.uniform(0.15, 0.5))

    def note(start: int, length: int, freq_hz: float, amplitude: float) -> None:
        length = min(length, num_samples - start)
        if length <= 0:
            return
        t = np.arange(length) / sample_rate_hz
        tone = (np.sin(2 * np.pi * np.outer(t, harmonics * freq_hz)) / harmonics ** 1.3).sum(axis=1)
        envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / decay_s)
        out[start:start + length] += amplitude * tone * envelope

    position = 0
    while position < num_samples:
        length = int(beat_s * float(rng.choice([0.5, 1.0, 1.0, 2.0])) * sample_rate_hz)
        note(position, length, root_hz * 2 ** (int(rng.choice(scale)) / 12), 1.0)
        position += max(1, length)
    bass_step = int(2 * beat_s * sample_rate_hz)
    for start in range(0, num_samples, max(1, bass_step)):
        note(start, bass_step, root_hz / 2 * 2 ** (int(rng.choice([0, 5, 7])) / 12), 0.6)
    peak = float(np.abs(out).max()) or 1.0
    return (out * (float(rng.uniform(0.2, 0.5)) / peak)).astype(np.float32)
