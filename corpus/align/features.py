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

__all__ = ["SAMPLE_RATE_HZ", "HOP", "WIN", "FRAME_S", "log_mel", "normalize", "mfcc_deltas", "splice",
           "frame_count", "speech_mask", "frame_energy"]

SAMPLE_RATE_HZ = 16000
HOP = 160  # 10 ms
WIN = 400  # 25 ms
NFFT = 512
N_MELS = 40
FRAME_S = HOP / SAMPLE_RATE_HZ
_PAD = (WIN - HOP) // 2


@functools.lru_cache(maxsize=4)
def _mel_matrix(n_mels: int = N_MELS, nfft: int = NFFT, rate: int = SAMPLE_RATE_HZ, fmin: float = 60.0,
                fmax: float = 7600.0) -> np.ndarray:
    """Triangular mel filters [nfft//2+1, n_mels] (HTK mel scale)."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f) / 700.0)

    def hz(m):
        return 700.0 * np.expm1(np.asarray(m) / 1127.0)

    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.fft.rfftfreq(nfft, 1.0 / rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    weights = np.maximum(0.0, np.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre)))
    return weights.T.astype(np.float32)


@functools.lru_cache(maxsize=2)
def _window(win: int = WIN) -> np.ndarray:
    return np.hamming(win).astype(np.float32)


def frame_count(num_samples: int) -> int:
    return max(0, (num_samples + HOP // 2) // HOP)


def _frames(samples: np.ndarray) -> np.ndarray:
    count = frame_count(len(samples))
    padded = np.zeros(count * HOP + 2 * _PAD + WIN, np.float32)
    padded[_PAD:_PAD + len(samples)] = samples
    view = np.lib.stride_tricks.sliding_window_view(padded, WIN)[::HOP][:count]
    return view


def log_mel(samples: np.ndarray) -> np.ndarray:
    """[T, 40] float32 log mel energies of 16 kHz mono samples (pre-emphasis 0.97, Hamming window)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0:
        return np.zeros((0, N_MELS), np.float32)
    emphasized = np.empty_like(x)
    emphasized[0] = x[0]
    emphasized[1:] = x[1:] - 0.97 * x[:-1]
    frames = _frames(emphasized)
    frames = (frames - frames.mean(axis=1, keepdims=True)) * _window()
    power = np.abs(np.fft.rfft(frames, NFFT, axis=1).astype(np.complex64)) ** 2
    return np.log(power @ _mel_matrix() + 1e-8).astype(np.float32)


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
