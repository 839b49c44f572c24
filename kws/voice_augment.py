"""Augmentation for voices and microphones training never heard (used by `kws.augmenter`).

Synthetic speech is dry, full-band and recorded by no microphone; real keyword recordings are made in
rooms, by phone and laptop microphones with their own frequency responses and band limits. These steps
stand in for that, vectorized over a batch and driven by the batch's generator:

- `room_reverb`: each row convolved with a synthetic room impulse response (`corpus.augment.synthetic_rir`:
  direct path at lag 0, exponentially decaying tail) of a random RT60 and direct-to-reverberant ratio;
- `microphone_eq`: a random smooth frequency response per row -- a spectral tilt (dB per octave around
  1 kHz), a high-pass (small capsules lose the lows), a low-pass (phone codecs, cheap microphones: 3.4 to
  8 kHz) and a few broad resonance peaks or dips -- applied in the frequency domain;
- `vocal_tract`: vocal-tract-length and pitch perturbation by resampling (formants and pitch move together,
  as between a child's, a woman's and a man's voice) followed by a WSOLA time stretch back to the original
  duration, so the speaking rate is left to the tempo perturbation.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import irfft, rfft
from scipy.signal import fftconvolve

from corpus.augment import centre_fit, synthetic_rir, time_stretch

__all__ = ["room_reverb", "microphone_eq", "vocal_tract"]


def room_reverb(rows: np.ndarray, rng: np.random.Generator, *, rt60_s: tuple[float, float],
                direct_to_reverb_db: tuple[float, float], sample_rate_hz: int) -> np.ndarray:
    """Each row reverberated (in place of the dry row), its active level kept."""
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        rir = synthetic_rir(float(rng.uniform(*rt60_s)), sample_rate_hz, rng,
                            direct_to_reverb_db=float(rng.uniform(*direct_to_reverb_db)))
        wet = fftconvolve(row, rir)[: len(row)]
        before, after = float(np.sqrt(np.mean(row ** 2))), float(np.sqrt(np.mean(wet ** 2)))
        out[i] = wet * (before / after if after > 0 else 0.0)
    return out


def microphone_eq(rows: np.ndarray, rng: np.random.Generator, *, tilt_db_per_octave: tuple[float, float],
                  highpass_hz: tuple[float, float], lowpass_hz: tuple[float, float], lowpass_prob: float,
                  peaks: int, peak_db: float, sample_rate_hz: int) -> np.ndarray:
    """Each row through a random smooth frequency response (module docstring); RMS kept. The response is
    drawn on a 1/12-octave grid and interpolated onto the FFT bins (it is smooth; this keeps it cheap)."""
    b, n = rows.shape
    grid_hz = 20.0 * 2.0 ** (np.arange(0, 12 * np.log2(sample_rate_hz / 2 / 20.0) + 1) / 12.0)
    octaves = np.log2(grid_hz / 1000.0)
    gain_db = rng.uniform(*tilt_db_per_octave, size=(b, 1)) * octaves[None, :]
    # 2nd-order high-pass / 4th-order low-pass magnitude responses
    ratio = grid_hz[None, :] / rng.uniform(*highpass_hz, size=(b, 1))
    gain_db += 10 * np.log10(ratio ** 4 / (1 + ratio ** 4))
    cut_high = np.where(rng.random(b) < lowpass_prob, rng.uniform(*lowpass_hz, size=b), np.inf)[:, None]
    gain_db -= 10 * np.log10(1 + (grid_hz[None, :] / cut_high) ** 8)
    for _ in range(peaks):  # broad resonances of capsule and housing: Gaussian bumps on a log axis
        centre = rng.uniform(np.log2(300 / 1000), np.log2(6000 / 1000), size=(b, 1))
        width = rng.uniform(0.3, 1.0, size=(b, 1))
        gain_db += rng.uniform(-peak_db, peak_db, size=(b, 1)) * np.exp(-0.5 * ((octaves[None] - centre) / width) ** 2)
    bins_hz = np.maximum(np.fft.rfftfreq(n, 1.0 / sample_rate_hz), grid_hz[0])
    shaped = np.empty_like(rows)
    for i in range(b):
        response = (10 ** (np.interp(bins_hz, grid_hz, gain_db[i]) / 20)).astype(np.float32)
        shaped[i] = irfft(rfft(rows[i]) * response, n=n)
    before = np.sqrt(np.mean(np.square(rows, dtype=np.float64), axis=1))
    after = np.sqrt(np.mean(np.square(shaped, dtype=np.float64), axis=1))
    return shaped * np.where(after > 0, before / np.maximum(after, 1e-12), 0.0)[:, None].astype(np.float32)


def vocal_tract(clip: np.ndarray, factor: float, *, sample_rate_hz: int) -> np.ndarray:
    """`clip` with pitch and formants scaled by `factor` (> 1 higher), same duration and centre."""
    n = len(clip)
    positions = np.arange(0.0, n - 1, factor)  # resample: played `factor` times faster
    faster = np.interp(positions, np.arange(n), clip).astype(np.float32)
    restored = time_stretch(faster, 1.0 / factor, sample_rate_hz=sample_rate_hz)
    return centre_fit(restored.astype(np.float32), n)
