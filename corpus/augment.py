"""Deterministic degradations for synthetic speech: noise at a target SNR, room reverb, gain.

Everything takes an explicit `numpy.random.Generator`, so the same seed gives the same bytes.
Reverb keeps the direct path at lag 0, so word timings of the dry signal stay valid for the wet one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

__all__ = [
    "AugmentConfig", "white_noise", "pink_noise", "add_noise", "active_power", "synthetic_rir", "apply_reverb",
    "apply_gain", "augment", "NOISE_KINDS",
]

NOISE_KINDS = ("white", "pink", "babble")


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """What to do to one clip; `None` or 0 disables a step."""

    noise_kind: str | None = None  # "white" | "pink" | "babble"
    snr_db: float = 20.0
    rt60_s: float = 0.0  # 0 -> no reverb
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if self.noise_kind is not None and self.noise_kind not in NOISE_KINDS:
            raise ValueError(f"noise_kind must be one of {NOISE_KINDS} or None, got {self.noise_kind!r}")
        if self.rt60_s < 0:
            raise ValueError("rt60_s must be >= 0")


def white_noise(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(num_samples).astype(np.float32)


def pink_noise(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise by shaping white noise in the frequency domain, scaled to unit variance."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    scale = 1.0 / np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    noise = np.fft.irfft(spectrum * scale, n=num_samples)
    return (noise / (noise.std() + 1e-12)).astype(np.float32)


def active_power(samples: np.ndarray, sample_rate_hz: int = 16000, *, floor_db: float = 30.0) -> float:
    """Mean power of the frames within `floor_db` of the loudest: the speech, not the pauses."""
    frame = max(1, sample_rate_hz // 100)
    usable = len(samples) // frame * frame
    if usable == 0:
        return float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
    power = np.square(samples[:usable].astype(np.float64)).reshape(-1, frame).mean(axis=1)
    if power.max() <= 0:
        return 0.0
    return float(power[power >= power.max() * 10 ** (-floor_db / 10)].mean())


def add_noise(speech: np.ndarray, noise: np.ndarray, snr_db: float, sample_rate_hz: int = 16000) -> np.ndarray:
    """speech + noise scaled so that active speech power / noise power = snr_db.

    `noise` is tiled or cut to the speech's length. Silent speech gets the noise at unit-free
    level 1e-3 RMS, which is what a 'silence' clip in a real corpus sounds like.
    """
    if len(noise) == 0:
        raise ValueError("noise is empty")
    reps = int(np.ceil(len(speech) / len(noise)))
    noise = np.tile(noise, reps)[: len(speech)].astype(np.float64)
    noise_power = np.mean(noise ** 2) + 1e-20
    speech_power = active_power(speech, sample_rate_hz)
    target = speech_power / 10 ** (snr_db / 10) if speech_power > 0 else 1e-6
    return (speech + noise * np.sqrt(target / noise_power)).astype(np.float32)


def synthetic_rir(rt60_s: float, sample_rate_hz: int, rng: np.random.Generator, *,
                  direct_to_reverb_db: float = 3.0) -> np.ndarray:
    """A room impulse response: a unit direct path at lag 0, then exponentially decaying noise.

    The tail starts after a short pre-delay (2-10 ms) and decays by 60 dB over `rt60_s`.
    """
    length = max(1, int(rt60_s * sample_rate_hz))
    t = np.arange(length) / sample_rate_hz
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / max(rt60_s, 1e-3))
    pre_delay = int(rng.uniform(0.002, 0.010) * sample_rate_hz)
    tail[: pre_delay + 1] = 0.0
    tail_energy = np.sum(tail ** 2) + 1e-20
    tail *= np.sqrt(10 ** (-direct_to_reverb_db / 10) / tail_energy)
    tail[0] = 1.0
    return tail.astype(np.float32)


def apply_reverb(samples: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve and cut to the input's length; peak level is kept as before."""
    wet = fftconvolve(samples.astype(np.float64), rir.astype(np.float64))[: len(samples)]
    peak_in, peak_out = np.abs(samples).max(), np.abs(wet).max()
    if peak_out > 0 and peak_in > 0:
        wet *= peak_in / peak_out
    return wet.astype(np.float32)


def apply_gain(samples: np.ndarray, gain_db: float) -> np.ndarray:
    return np.clip(samples * 10 ** (gain_db / 20), -1.0, 1.0).astype(np.float32)


def augment(samples: np.ndarray, config: AugmentConfig, rng: np.random.Generator, *, sample_rate_hz: int = 16000,
            babble: np.ndarray | None = None) -> np.ndarray:
    """Reverb, then noise, then gain. Babble noise must be supplied (it is speech of other speakers)."""
    out = np.asarray(samples, dtype=np.float32)
    if config.rt60_s > 0:
        out = apply_reverb(out, synthetic_rir(config.rt60_s, sample_rate_hz, rng))
    if config.noise_kind is not None:
        if config.noise_kind == "babble":
            if babble is None:
                raise ValueError("babble noise needs the babble signal (speech of other synthetic speakers)")
            noise = babble
        elif config.noise_kind == "pink":
            noise = pink_noise(len(out), rng)
        else:
            noise = white_noise(len(out), rng)
        out = add_noise(out, noise, config.snr_db, sample_rate_hz)
    if config.gain_db:
        out = apply_gain(out, config.gain_db)
    return out
