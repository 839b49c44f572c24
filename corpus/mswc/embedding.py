"""Clip embeddings for outlier scoring: built in (no trained model), or pluggable.

`embedder(spec)` turns a spec into a function `(float32 audio at 16 kHz) -> 1-D float32 vector`:

- `"builtin"`: `word_shape_embedding`, needing no trained model. The word's part of the clip (our clips
  are zero-padded around the word) is cut into `SEGMENTS` equal time slices; per slice the mean
  cepstrum (c1-c8 of 40 log-mel bands) minus the word's own mean (removes the channel and much of
  the speaker), the energy and the voicing; then the word's mean cepstrum, energy spread and
  duration. Clips of one word share this time-normalized shape across speaking rates and voices; a
  clip holding another word, a fragment of one, or noise does not.
- `"module:function"`: any importable function with that signature.
- `"module:factory=ARG"`: `factory(ARG)` returns such a function (called once per worker process).
  This is how a higher layer plugs in without `corpus` importing it: a `kws/` embedding folder is
  `kws.outlier_embedding:embedder=models/embeddings/<name>` (its encoder on the KWS front end).
- a path to a saved Keras model, loaded once per worker process (`.keras` file or SavedModel folder)
  taking a batch of 16,000-sample waveforms at 16 kHz and giving one vector per clip.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["word_shape_embedding", "embedder", "SEGMENTS", "EMBEDDING_SIZE", "log_mel_frames"]

SAMPLE_RATE_HZ = 16000
SEGMENTS = 8
_N_MELS = 40
_WIN, _HOP, _NFFT = 400, 160, 512
_FLOOR_DB = -100.0


@functools.lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)

    def hz(m):
        return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)

    edges = hz(np.linspace(mel(60.0), mel(7600.0), _N_MELS + 2))
    bins = np.fft.rfftfreq(_NFFT, 1.0 / SAMPLE_RATE_HZ)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).T  # [bins, mels]


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(_WIN)


def log_mel_frames(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-mel dB [frames, 40], frame power dB [frames]) with 25-ms windows every 10 ms."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if len(audio) < _WIN:
        audio = np.pad(audio, (0, _WIN - len(audio)))
    count = 1 + (len(audio) - _WIN) // _HOP
    index = np.arange(_WIN)[None, :] + _HOP * np.arange(count)[:, None]
    frames = audio[index] * _window()[None, :]
    power = np.abs(np.fft.rfft(frames, _NFFT, axis=1)) ** 2
    mel = power @ _mel_filters()
    return (10 * np.log10(np.maximum(mel, 1e-10)), 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10))


def _segment_means(frames: np.ndarray, segments: int) -> np.ndarray:
    bounds = np.linspace(0, len(frames), segments + 1)
    return np.stack([frames[int(a):max(int(a) + 1, int(round(b)))].mean(axis=0)
                     for a, b in zip(bounds[:-1], bounds[1:])])


def _voicing(audio: np.ndarray, first: int, last: int) -> np.ndarray:
    """Per frame, the peak of the normalized autocorrelation at pitch lags 2.5-12.5 ms (80-400 Hz)."""
    index = np.minimum(np.arange(_WIN)[None, :] + _HOP * np.arange(first, last)[:, None], len(audio) - 1)
    frames = audio[index] - audio[index].mean(axis=1, keepdims=True)
    corr = np.fft.irfft(np.abs(np.fft.rfft(frames, 1024, axis=1)) ** 2, 1024, axis=1)[:, :201]
    return corr[:, 40:201].max(axis=1) / (corr[:, 0] + 1e-10)


def word_shape_embedding(audio: np.ndarray) -> np.ndarray:
    """The built-in embedding (90 values): the word's time-normalized cepstral shape and contours.

    Over the word's frames (those within 50 dB of the loudest, above -90 dB: our clips are zero-padded
    around the word), cut into SEGMENTS equal slices: the mean of cepstra c1-c8 minus the word's mean
    (the spectral-envelope movement: which sounds, in which order, at any speaking rate), the energy
    contour relative to the peak and the voicing contour; plus the word's mean cepstrum (its
    envelope: speech vs noise), its energy spread and its duration. Scaled to comparable sizes.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    mel, level = log_mel_frames(audio)
    active = np.flatnonzero(level > max(float(level.max()) - 50.0, -90.0))
    if active.size < 2:  # digital silence: a constant vector far from any word
        return np.concatenate([np.zeros(EMBEDDING_SIZE - 1), [-10.0]]).astype(np.float32)
    first, last = int(active[0]), int(active[-1]) + 1
    cepstra = _dct_matrix() @ mel[first:last].T  # [8, frames]
    cepstra = cepstra.T
    mean = cepstra.mean(axis=0)
    energy = level[first:last]
    parts = [
        _segment_means(cepstra - mean, SEGMENTS).reshape(-1) / 10.0,
        _segment_means((energy - energy.max())[:, None], SEGMENTS).reshape(-1) / 10.0,
        _segment_means(_voicing(audio, first, last)[:, None], SEGMENTS).reshape(-1) * 2.0,
        mean / 10.0,
        [(np.percentile(energy, 90) - np.percentile(energy, 10)) / 10.0],
        [(last - first) * _HOP / SAMPLE_RATE_HZ * 4.0],
    ]
    return np.concatenate(parts).astype(np.float32)


_CEPSTRA = 8
EMBEDDING_SIZE = SEGMENTS * (_CEPSTRA + 2) + _CEPSTRA + 2


@functools.lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II rows 1..8 over the 40 mel bands (c0, the level, is left out)."""
    n = np.arange(_N_MELS)
    rows = [np.sqrt(2.0 / _N_MELS) * np.cos(np.pi * k * (2 * n + 1) / (2 * _N_MELS)) for k in range(1, _CEPSTRA + 1)]
    return np.array(rows)


@functools.lru_cache(maxsize=4)
def _keras_embedder(path: str) -> Callable[[np.ndarray], np.ndarray]:
    """A saved Keras model (`.keras` file or SavedModel folder) taking a batch of 16,000-sample waveforms."""
    folder = Path(path)
    if folder.is_dir() and (folder / "embedding.keras").exists():
        raise ValueError(f"{path} is a kws embedding folder: use --embedding "
                         f"kws.outlier_embedding:embedder={path}")
    import keras  # only when a model is asked for: TensorFlow is slow to import

    model = keras.saving.load_model(path, compile=False) if folder.is_file() else keras.layers.TFSMLayer(
        path, call_endpoint="serving_default")

    def embed(audio: np.ndarray) -> np.ndarray:
        out = model(np.asarray(audio, dtype=np.float32).reshape(1, -1))
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out, dtype=np.float32).reshape(-1)

    return embed


@functools.lru_cache(maxsize=16)
def embedder(spec: str = "builtin") -> Callable[[np.ndarray], np.ndarray]:
    """The embedding function for a spec: builtin | module:function | path to a saved Keras model."""
    if spec in ("", "builtin"):
        return word_shape_embedding
    if Path(spec).exists():
        return _keras_embedder(str(Path(spec).resolve()))
    target, equals, argument = spec.partition("=")
    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"embedding {spec!r} is not 'builtin', an existing Keras model path, module:function or "
                         "module:factory=ARG")
    try:
        function = getattr(importlib.import_module(module), name, None)
    except ImportError as error:
        raise ValueError(f"embedding {spec!r}: cannot import {module} ({error})") from None
    if not callable(function):
        raise ValueError(f"embedding {spec!r}: {module} has no function {name!r}")
    return function(argument) if equals else function
