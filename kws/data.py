"""From MSWC-layout trees to audio pools and noise: clip selection, decoding with a disk cache, and a noise bank.

- `ClipRef` names one clip (`<lang>/<LINK>`); file lists saved next to models are lists of these ids.
- `load_pool` decodes clips (Opus, WAV, anything `corpus.audio` reads) to 16 kHz int16 once, on a
  process pool, and caches the array under a key made of the clip ids and the files' sizes and times.
  A clip that cannot be decoded is reported and skipped.
- `NoiseBank`: white, pink and brown noise, babble of synthetic talkers, and the WAVs of any
  `_background_noise_/` folder (Speech Commands convention) found beside the data.

Augmentation is in `kws.augmenter`, tf.data pipelines and feature caching in `kws.datasets`.
Silence examples have pool index -1.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from corpus.audio import AudioError, load_audio, to_int16
from corpus.augment import pink_noise, white_noise
from corpus.engines import map_ordered
from corpus.formats.mswc import MswcClip, MswcFormatError, MswcRelease, read_release
from corpus.fsutil import atomic_path
from corpus.configs import read_json, stable_hash, write_json
from kws.features import FRONTEND, FrontendConfig

__all__ = [
    "ClipRef", "refs_of", "open_tree", "AudioPool", "load_pool", "NoiseBank", "make_noise_bank", "SILENCE_INDEX",
    "DataError",
]

log = logging.getLogger(__name__)

SILENCE_INDEX = -1


class DataError(ValueError):
    """Data that cannot be used as asked (missing tree, unknown word, too few clips); message says why."""


@dataclass(frozen=True, kw_only=True)
class ClipRef:
    language: str
    link: str
    word: str
    speaker: str
    set: str

    @property
    def id(self) -> str:
        return f"{self.language}/{self.link}"


def open_tree(path: str | os.PathLike[str], language: str | None = None) -> MswcRelease:
    """An MSWC language folder (or its parent with `language`), with a clear error when it is not one."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such folder")
    try:
        return read_release(path, language)
    except MswcFormatError as error:
        raise DataError(f"{path}: not an MSWC-layout language folder ({error})") from None


def refs_of(release: MswcRelease, clips: Iterable[MswcClip]) -> list[ClipRef]:
    return [ClipRef(language=release.language, link=c.link, word=c.word, speaker=c.speaker, set=c.set)
            for c in clips if c.valid]


def _decode(job: tuple[str, int]) -> np.ndarray | str:
    path, length = job
    try:
        samples = load_audio(path, sample_rate_hz=16000)
    except AudioError as error:
        return str(error)
    if len(samples) > length:  # keep the middle (MSWC clips are exactly 1 s; others are centred)
        first = (len(samples) - length) // 2
        samples = samples[first:first + length]
    return to_int16(np.pad(samples, (0, length - len(samples))))


@dataclass(frozen=True)
class AudioPool:
    """Decoded clips: `audio[i]` is the int16 clip of `refs[i]`; `failures` are (id, reason) of skipped ones."""

    refs: tuple[ClipRef, ...]
    audio: np.ndarray  # int16 [N, clip_samples]
    failures: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.refs)

    def index(self) -> dict[str, int]:
        return {ref.id: i for i, ref in enumerate(self.refs)}

    def indices(self, predicate: Callable[[ClipRef], bool]) -> np.ndarray:
        return np.array([i for i, r in enumerate(self.refs) if predicate(r)], dtype=np.int64)


def load_pool(roots: dict[str, MswcRelease], refs: Sequence[ClipRef], *, cache_dir: str | os.PathLike[str] | None,
              jobs: int | None = None, frontend: FrontendConfig = FRONTEND, progress: bool = False) -> AudioPool:
    """Decode `refs` (each looked up in `roots[ref.language]`), using and filling the disk cache."""
    length = frontend.clip_samples
    paths = [str(roots[r.language].clip_path(MswcClip(set=r.set, link=r.link, word=r.word, valid=True,
                                                       speaker=r.speaker, gender="NAN"))) for r in refs]
    stats = []
    for path in paths:
        try:
            info = os.stat(path)
            stats.append((info.st_size, info.st_mtime_ns))
        except OSError:
            stats.append((-1, -1))
    key = stable_hash([r.id for r in refs], paths, stats, length, length=16)
    if cache_dir is not None:
        cache = Path(cache_dir)
        array_path, index_path = cache / f"audio-{key}.npy", cache / f"audio-{key}.json"
        if array_path.exists() and index_path.exists():
            index = read_json(index_path)
            by_id = {r.id: r for r in refs}
            audio = np.load(array_path, mmap_mode=None)
            return AudioPool(refs=tuple(by_id[i] for i in index["ids"]), audio=audio,
                             failures=tuple(tuple(f) for f in index["failures"]))
    results = list(map_ordered(_decode, [(p, length) for p in paths], jobs=jobs, desc="decode clips", unit="clip",
                               chunksize=32, progress=progress))
    kept, arrays, failures = [], [], []
    for ref, result in zip(refs, results):
        if isinstance(result, str):
            failures.append((ref.id, result))
        else:
            kept.append(ref)
            arrays.append(result)
    if failures:
        log.warning("skipped %d clip(s) that could not be decoded, e.g. %s", len(failures), failures[0][1])
    audio = np.stack(arrays) if arrays else np.zeros((0, length), np.int16)
    pool = AudioPool(refs=tuple(kept), audio=audio, failures=tuple(failures))
    if cache_dir is not None:
        with atomic_path(array_path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, audio)
        write_json(index_path, {"ids": [r.id for r in kept], "failures": failures})
    return pool


# ----------------------------------------------------------------------------------------------- noise

@dataclass(frozen=True)
class NoiseBank:
    """Unit-RMS float32 noise signals at 16 kHz, each at least a few seconds long."""

    names: tuple[str, ...]
    signals: tuple[np.ndarray, ...]

    def segment(self, kind: int, start: int, length: int) -> np.ndarray:
        signal = self.signals[kind]
        start = start % len(signal)
        if start + length <= len(signal):
            return signal[start:start + length]
        # wraps around: index modulo the length (tiling the whole signal cost megabytes per row)
        return signal[(start + np.arange(length)) % len(signal)]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    x = x - x.mean()
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def make_noise_bank(*, seed: int, seconds: float = 30.0, babble_languages: Sequence[str] = (),
                    babble_seconds: float = 120.0, background_dirs: Sequence[str | os.PathLike[str]] = ()
                    ) -> NoiseBank:
    """White, pink and brown noise (seeded, `seconds` each), `babble_seconds` of babble of 5 synthetic
    talkers per language in `babble_languages`, and every WAV in `<dir>/_background_noise_/` of
    `background_dirs`. Babble is not stationary: a short loop is learned by heart (streams with
    another babble then lost half their keywords), hence minutes of it."""
    rng = np.random.default_rng([seed, 0xB6])
    n = int(seconds * 16000)
    names, signals = ["white", "pink", "brown"], [white_noise(n, rng), pink_noise(n, rng),
                                                  np.cumsum(rng.standard_normal(n))]
    # Brown noise drifts; a gentle high-pass (difference from a slow moving average) keeps it stationary.
    brown = signals[2]
    kernel = np.ones(1601) / 1601
    signals[2] = brown - np.convolve(brown, kernel, mode="same")
    if babble_languages:
        from corpus.demo.noise import babble_bank
        for language in babble_languages:
            names.append(f"babble-{language}")
            signals.append(babble_bank(language, seed, seconds=babble_seconds))
    for folder in background_dirs:
        for path in sorted((Path(folder) / "_background_noise_").glob("*.wav")):
            try:
                signals.append(load_audio(path, sample_rate_hz=16000))
                names.append(path.stem)
            except AudioError as error:
                log.warning("background noise %s skipped: %s", path, error.reason)
    return NoiseBank(names=tuple(names), signals=tuple(_unit(s) for s in signals))
