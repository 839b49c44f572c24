"""One parameterised log-mel front end (numpy): the HTK mel filterbank, framing, power spectrum, log.

Two users with different, deliberate settings share this code:
- the forced aligner (`corpus.align.features`, `ALIGNER`): pre-emphasis 0.97, centred 25 ms Hamming
  frames every 10 ms (frame t stands for the time cell [t*hop, (t+1)*hop)), DC removed per frame,
  natural log, float32 (speed);
- the MSWC outlier embedding (`corpus.mswc.embedding`, `EMBEDDING`): no pre-emphasis, frames from the
  first sample (1 + (n - win) // hop of them; short clips padded to one window), Hann window, dB,
  float64, and the frame power beside the bands.

(The keyword spotter's features are TFLite Micro's micro-frontend, owned by `export.frontend`; they are a
different front end on purpose: the firmware computes them.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["LogMelConfig", "ALIGNER", "EMBEDDING", "mel_filterbank", "frame_count", "frames", "mel_power",
           "log_mel", "log_mel_and_power"]


@dataclass(frozen=True, kw_only=True)
class LogMelConfig:
    sample_rate_hz: int = 16000
    window_samples: int = 400      # 25 ms at 16 kHz
    hop_samples: int = 160         # 10 ms
    fft_size: int = 512
    n_mels: int = 40
    fmin_hz: float = 60.0
    fmax_hz: float = 7600.0
    window: str = "hamming"        # "hamming" | "hann"
    pre_emphasis: float = 0.0      # 0: off
    centred: bool = False          # True: frame t centred on the cell [t*hop, (t+1)*hop)
    remove_dc: bool = False        # subtract each frame's mean before the window
    decibels: bool = False         # 10*log10 (floored at `floor`) instead of ln(x + floor)
    floor: float = 1e-8
    dtype: str = "float32"         # "float32" (fast) | "float64"

    def __post_init__(self) -> None:
        if self.window not in ("hamming", "hann"):
            raise ValueError(f"window must be 'hamming' or 'hann', not {self.window!r}")
        if not 0 < self.hop_samples <= self.window_samples <= self.fft_size:
            raise ValueError("need 0 < hop_samples <= window_samples <= fft_size")
        if not 0 <= self.fmin_hz < self.fmax_hz <= self.sample_rate_hz / 2:
            raise ValueError("need 0 <= fmin_hz < fmax_hz <= sample_rate_hz / 2")


ALIGNER = LogMelConfig(pre_emphasis=0.97, centred=True, remove_dc=True)
EMBEDDING = LogMelConfig(window="hann", decibels=True, floor=1e-10, dtype="float64")


@functools.lru_cache(maxsize=8)
def mel_filterbank(n_mels: int = 40, fft_size: int = 512, sample_rate_hz: int = 16000, fmin_hz: float = 60.0,
                   fmax_hz: float = 7600.0) -> np.ndarray:
    """Triangular filters [fft_size//2 + 1, n_mels] on the HTK mel scale (float64; read-only)."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)

    def hz(m):
        return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)

    edges = hz(np.linspace(mel(fmin_hz), mel(fmax_hz), n_mels + 2))
    bins = np.fft.rfftfreq(fft_size, 1.0 / sample_rate_hz)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    weights = np.maximum(0.0, np.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre)))
    out = weights.T
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8)
def _filters(config: LogMelConfig) -> np.ndarray:
    return mel_filterbank(config.n_mels, config.fft_size, config.sample_rate_hz, config.fmin_hz,
                          config.fmax_hz).astype(config.dtype)


@functools.lru_cache(maxsize=8)
def _window(config: LogMelConfig) -> np.ndarray:
    make = np.hamming if config.window == "hamming" else np.hanning
    return make(config.window_samples).astype(config.dtype)


def frame_count(num_samples: int, config: LogMelConfig = ALIGNER) -> int:
    """Frames of `num_samples`: one per hop cell (centred), or 1 + (n - win) // hop (at least 1)."""
    if config.centred:
        return max(0, (num_samples + config.hop_samples // 2) // config.hop_samples)
    return 1 + max(0, num_samples - config.window_samples) // config.hop_samples


def frames(samples: np.ndarray, config: LogMelConfig = ALIGNER) -> np.ndarray:
    """[T, window_samples] frames (pre-emphasis applied; windowing not yet). A view where possible."""
    x = np.asarray(samples, dtype=config.dtype).reshape(-1)
    if config.pre_emphasis and x.size:
        emphasized = np.empty_like(x)
        emphasized[0] = x[0]
        emphasized[1:] = x[1:] - config.pre_emphasis * x[:-1]
        x = emphasized
    win, hop = config.window_samples, config.hop_samples
    count = frame_count(x.size, config)
    if config.centred:
        pad = (win - hop) // 2
        padded = np.zeros(count * hop + 2 * pad + win, config.dtype)
        padded[pad:pad + x.size] = x
    else:
        padded = x if x.size >= win else np.pad(x, (0, win - x.size))
    return np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][:count]


def mel_power(samples: np.ndarray, config: LogMelConfig = ALIGNER) -> tuple[np.ndarray, np.ndarray]:
    """(mel band power [T, n_mels], windowed frames [T, window_samples])."""
    framed = frames(samples, config)
    if config.remove_dc:
        framed = framed - framed.mean(axis=1, keepdims=True)
    windowed = framed * _window(config)
    spectrum = np.fft.rfft(windowed, config.fft_size, axis=1)
    if config.dtype == "float32":
        spectrum = spectrum.astype(np.complex64)
    return np.abs(spectrum) ** 2 @ _filters(config), windowed


def _log(x: np.ndarray, config: LogMelConfig) -> np.ndarray:
    if config.decibels:
        return 10 * np.log10(np.maximum(x, config.floor))
    return np.log(x + config.floor)


def log_mel(samples: np.ndarray, config: LogMelConfig = ALIGNER) -> np.ndarray:
    """[T, n_mels] log mel energies of mono samples at `config.sample_rate_hz`."""
    if np.asarray(samples).size == 0 and config.centred:
        return np.zeros((0, config.n_mels), config.dtype)
    power, _ = mel_power(samples, config)
    return _log(power, config).astype(config.dtype)


def log_mel_and_power(samples: np.ndarray, config: LogMelConfig = EMBEDDING) -> tuple[np.ndarray, np.ndarray]:
    """(log mel [T, n_mels], log frame power [T]: mean square of each windowed frame)."""
    power, windowed = mel_power(samples, config)
    frame_power = np.mean(windowed ** 2, axis=1)
    if config.decibels:
        level = 10 * np.log10(frame_power + config.floor)
    else:
        level = np.log(frame_power + config.floor)
    return _log(power, config).astype(config.dtype), level.astype(config.dtype)
