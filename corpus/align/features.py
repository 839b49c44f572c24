"""Acoustic features for the aligner, vectorized numpy: 40 log-mel bands, 25 ms windows, 10 ms hop.

Frames are centred: frame t covers samples [t*hop - (win-hop)/2, t*hop + hop + (win-hop)/2), so it
stands for the time cell [t*hop, (t+1)*hop) and a state change between frames t-1 and t means a
boundary at t*hop seconds. `mfcc_deltas` (13 cepstra + deltas + delta-deltas) feeds the diagonal-GMM
stage; `splice` stacks neighbouring log-mel frames for the MLP. Normalization is per utterance (or
per window in long audio): mean and variance of each band, with a floor so silence stays finite.
"""

from __future__ import annotations

import functools

import numpy as np

from corpus import logmel

__all__ = ["SAMPLE_RATE_HZ", "HOP", "WIN", "FRAME_S", "log_mel", "normalize", "mfcc_deltas", "splice",
           "frame_count", "speech_mask", "frame_energy", "dither", "DITHER"]

SAMPLE_RATE_HZ = logmel.ALIGNER.sample_rate_hz
HOP = logmel.ALIGNER.hop_samples  # 10 ms
WIN = logmel.ALIGNER.window_samples  # 25 ms
N_MELS = logmel.ALIGNER.n_mels
FRAME_S = HOP / SAMPLE_RATE_HZ
DITHER = 3e-5


def frame_count(num_samples: int) -> int:
    return logmel.frame_count(num_samples, logmel.ALIGNER)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """[T, 40] float32 log mel energies of 16 kHz mono samples (`corpus.logmel.ALIGNER`: pre-emphasis 0.97,
    centred Hamming frames, DC removed, natural log)."""
    return logmel.log_mel(samples, logmel.ALIGNER)


def dither(samples: np.ndarray, level: float = DITHER) -> np.ndarray:
    """Samples plus Gaussian noise at `level` RMS (about -90 dBFS): digital silence (zero padding, gated
    recordings) gets a finite, speaker-independent floor instead of the log floor, so per-utterance
    normalization is not dominated by it. Seeded by the length: the same input gives the same features."""
    x = np.asarray(samples, np.float32).reshape(-1)
    if not level or x.size == 0:
        return x
    noise = np.random.default_rng(x.size).standard_normal(x.size, dtype=np.float32)
    return x + np.float32(level) * noise


def frame_energy(feats: np.ndarray) -> np.ndarray:
    """Per-frame log energy proxy from log-mel features (log of summed band energies)."""
    top = feats.max(axis=1, keepdims=True)
    return (top[:, 0] + np.log(np.exp(feats - top).sum(axis=1))).astype(np.float32)


def normalize(feats: np.ndarray) -> np.ndarray:
    """Per-band mean and variance normalization, variance floored (a silent stretch stays finite)."""
    if len(feats) == 0:
        return feats
    mean = feats.mean(axis=0)
    std = np.sqrt(np.maximum(feats.var(axis=0), 1e-2))
    return ((feats - mean) / std).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _dct(n_in: int = N_MELS, n_out: int = 13) -> np.ndarray:
    k = np.arange(n_out)[None, :]
    n = np.arange(n_in)[:, None]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def _delta(x: np.ndarray, width: int = 2) -> np.ndarray:
    padded = np.pad(x, ((width, width), (0, 0)), mode="edge")
    num = sum(k * (padded[width + k:len(x) + width + k] - padded[width - k:len(x) + width - k])
              for k in range(1, width + 1))
    return num / (2 * sum(k * k for k in range(1, width + 1)))


def mfcc_deltas(feats: np.ndarray) -> np.ndarray:
    """[T, 39]: 13 cepstra of the log-mel frames, deltas and delta-deltas, mean/variance normalized."""
    cep = feats @ _dct()
    d1 = _delta(cep)
    out = np.concatenate([cep, d1, _delta(d1)], axis=1)
    return normalize(out.astype(np.float32))


def splice(feats: np.ndarray, offsets: tuple[int, ...]) -> np.ndarray:
    """[T, D*len(offsets)]: each frame with its neighbours at `offsets` (edges repeat the end frames)."""
    T = len(feats)
    if T == 0:
        return np.zeros((0, feats.shape[1] * len(offsets)), np.float32)
    index = np.clip(np.arange(T)[:, None] + np.asarray(offsets)[None, :], 0, T - 1)
    return feats[index].reshape(T, -1)


def speech_mask(energy: np.ndarray, *, margin_db: float = 12.0) -> np.ndarray:
    """Frames louder than the noise floor by `margin_db`: a rough speech/silence split for the flat start.

    The floor is a low percentile of frame energy; the threshold sits between floor and peak.
    """
    if energy.size == 0:
        return np.zeros(0, bool)
    floor = np.percentile(energy, 10)
    peak = np.percentile(energy, 95)
    threshold = max(floor + margin_db * np.log(10) / 10, floor + 0.3 * (peak - floor))
    return energy > threshold
