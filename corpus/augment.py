"""Deterministic degradations for synthetic speech: noise at a target SNR, room reverb, gain.

Everything takes an explicit `numpy.random.Generator`, so the same seed gives the same bytes.
Reverb keeps the direct path at lag 0, so word timings of the dry signal stay valid for the wet one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

__all__ = [
    "DegradeConfig", "white_noise", "pink_noise", "add_noise", "active_power", "synthetic_rir", "apply_reverb",
    "apply_gain", "augment", "time_stretch", "centre_fit", "NOISE_KINDS",
]

NOISE_KINDS = ("white", "pink", "babble")


@dataclass(frozen=True, kw_only=True)
class DegradeConfig:
    """How to degrade one clip (noise, reverb, gain; `None` or 0 disables a step). Named apart from
    `kws.augmenter.AugmentConfig`, which configures training-time augmentation."""

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


def time_stretch(samples: np.ndarray, rate: float, *, sample_rate_hz: int = 16000, frame_ms: float = 30.0,
                 tolerance_ms: float = 6.0) -> np.ndarray:
    """`samples` played `rate` times faster with the pitch kept (WSOLA): Hann frames overlap-added at half a
    frame's hop, each read near its nominal input place (+-`tolerance_ms`) where it best continues the
    frame before it, so periods line up instead of beating. Length: round(len / rate) samples.

    Unlike resampling (`rate` changes tempo, pitch and formants together), this changes only the speaking
    rate: a word said slowly in isolation and quickly inside a sentence differ mostly in this way."""
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    x = np.asarray(samples, np.float32)
    out_len = int(round(len(x) / rate))
    frame = max(2, int(sample_rate_hz * frame_ms / 1000) // 2 * 2)
    hop, tolerance = frame // 2, int(sample_rate_hz * tolerance_ms / 1000)
    if out_len == 0 or len(x) == 0:
        return np.zeros(out_len, np.float32)
    if rate == 1.0:
        return x.copy()
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)).astype(np.float32)  # sums to 1 at hop
    frames = -(-out_len // hop) + 1
    # padded[i + lead] == x[i]; lead leaves room for the first frame's search and the leading half frame
    lead = tolerance + int(np.ceil(hop * rate))
    tail = int(np.ceil(frames * hop * rate)) + frame + 2 * tolerance + hop
    padded = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(max(0, tail - len(x)), np.float32)])
    out = np.zeros(frames * hop + frame, np.float32)
    previous = -hop
    for k in range(frames):
        nominal = int(round((k - 1) * hop * rate))  # frame k covers output [(k-1)*hop, (k+1)*hop)
        if k == 0:
            start = nominal
        else:
            natural = padded[previous + hop + lead: previous + hop + lead + frame]
            region = padded[nominal - tolerance + lead: nominal + tolerance + lead + frame]
            energy = np.cumsum(np.concatenate([[0.0], np.square(region, dtype=np.float64)]))
            norm = np.sqrt(np.maximum(energy[frame:] - energy[:-frame], 1e-12))  # normalized: no pull to loud
            start = nominal - tolerance + int(np.argmax(np.correlate(region, natural, mode="valid") / norm))
        out[k * hop: k * hop + frame] += window * padded[start + lead: start + lead + frame]
        previous = start
    return out[hop: hop + out_len]


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


def centre_fit(samples: np.ndarray, num_samples: int) -> np.ndarray:
    """`samples` cropped or zero-padded to `num_samples` around its centre (a clip keeps its word in the middle
    when a stretch or pitch change altered its length)."""
    if len(samples) >= num_samples:
        first = (len(samples) - num_samples) // 2
        return samples[first:first + num_samples]
    out = np.zeros(num_samples, samples.dtype)
    first = (num_samples - len(samples)) // 2
    out[first:first + len(samples)] = samples
    return out


def augment(samples: np.ndarray, config: DegradeConfig, rng: np.random.Generator, *, sample_rate_hz: int = 16000,
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
