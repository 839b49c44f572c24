"""Log-mel features for the recognizer: 25 ms Hann windows every 10 ms, 80 mel bands, log, per-utterance
mean/variance normalization per band (NeMo's `per_feature`). Computed by NumPy so training, decoding and
the TFLite models all see the same numbers without a TF op in the exported graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["FeatureConfig", "log_mel", "frames_for"]


@dataclass(frozen=True, kw_only=True)
class FeatureConfig:
    sample_rate_hz: int = 16000
    window_ms: float = 25.0
    hop_ms: float = 10.0
    fft_size: int = 512
    mel_bands: int = 80
    low_hz: float = 0.0
    high_hz: float = 8000.0

    @property
    def window_samples(self) -> int:
        return int(round(self.sample_rate_hz * self.window_ms / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.sample_rate_hz * self.hop_ms / 1000))


@lru_cache(maxsize=4)
def _mel_matrix(config: FeatureConfig) -> np.ndarray:
    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    bins = config.fft_size // 2 + 1
    edges_mel = np.linspace(hz_to_mel(np.array(config.low_hz)), hz_to_mel(np.array(config.high_hz)),
                            config.mel_bands + 2)
    edges_hz = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    fft_hz = np.linspace(0, config.sample_rate_hz / 2, bins)
    matrix = np.zeros((bins, config.mel_bands), np.float32)
    for band in range(config.mel_bands):
        low, centre, high = edges_hz[band:band + 3]
        rising = (fft_hz - low) / max(centre - low, 1e-6)
        falling = (high - fft_hz) / max(high - centre, 1e-6)
        matrix[:, band] = np.maximum(0.0, np.minimum(rising, falling))
    return matrix


def frames_for(num_samples: int, config: FeatureConfig = FeatureConfig()) -> int:
    return 1 + max(0, num_samples - config.window_samples) // config.hop_samples


def log_mel(samples: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """float32 [frames, mel_bands] of float32 mono audio at `config.sample_rate_hz`."""
    samples = np.asarray(samples, np.float32)
    if samples.size < config.window_samples:
        samples = np.pad(samples, (0, config.window_samples - samples.size))
    frames = frames_for(samples.size, config)
    index = np.arange(config.window_samples)[None, :] + config.hop_samples * np.arange(frames)[:, None]
    windows = samples[index] * np.hanning(config.window_samples + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(windows, n=config.fft_size, axis=1)) ** 2
    features = np.log(power.astype(np.float32) @ _mel_matrix(config) + 1e-6)
    mean = features.mean(axis=0, keepdims=True)
    std = features.std(axis=0, keepdims=True)
    return ((features - mean) / (std + 1e-5)).astype(np.float32)
