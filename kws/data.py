"""From MSWC-layout trees to training batches: clip selection, decoding with a disk cache, a noise bank,
augmentation, and tf.data pipelines of micro-frontend features.

- `ClipRef` names one clip (`<lang>/<LINK>`); file lists saved next to models are lists of these ids.
- `load_pool` decodes clips (Opus, WAV, anything `corpus.audio` reads) to 16 kHz int16 once, on a
  process pool, and caches the array under a key made of the clip ids and the files' sizes and times.
  A clip that cannot be decoded is reported and skipped.
- `NoiseBank`: white, pink and brown noise, babble of synthetic talkers, and the WAVs of any
  `_background_noise_/` folder (Speech Commands convention) found beside the data.
- `Augmenter`: time shift (+-100 ms), background noise at a random SNR, gain, and front-end warm-up
  context (see `kws.features`: a clip in a stream is heard with the noise estimate warmed by what came
  before, so most training clips are preceded by 1 s of other speech or silence under the same noise,
  and the context's frames are dropped). Vectorized NumPy on whole batches, seeded per epoch.
- `train_dataset`: tf.data (batches from the augmenter -> the `audio_microfrontend` op -> int8 ->
  float -> SpecAugment), deterministic for a seed. `clip_features`: clean features of clips without
  augmentation, cached on disk beside the audio (feature caching).

Silence examples have pool index -1.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from corpus.audio import AudioError, load_audio, to_int16
from corpus.augment import pink_noise, time_stretch, white_noise
from corpus.engines import map_ordered
from corpus.formats.mswc import MswcClip, MswcFormatError, MswcRelease, read_release
from corpus.fsutil import atomic_path
from corpus.configs import read_json, stable_hash, write_json
from kws.features import FRONTEND, FrontendConfig, clip_features_int8, int8_to_float

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "ClipRef", "refs_of", "open_tree", "AudioPool", "load_pool", "NoiseBank", "make_noise_bank", "AugmentConfig",
    "Augmenter", "train_dataset", "clip_features", "silence_features", "SILENCE_INDEX", "DataError",
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


# ----------------------------------------------------------------------------------------- augmentation

@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    time_shift_ms: int = 100
    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (5.0, 25.0)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    context_prob: float = 0.7  # share of examples heard after 1 s of context (warm front end)
    context_speech_prob: float = 0.5  # given context: other speech (else silence, both under the noise)
    speed_prob: float = 0.0  # speed perturbation (tempo and pitch together, like another speaker's rate/voice)
    speed_range: tuple[float, float] = (0.88, 1.12)
    tempo_prob: float = 0.0  # speaking-rate change with the pitch kept (WSOLA): slow isolated shots vs fast words
    tempo_range: tuple[float, float] = (0.75, 1.6)  # in sentences; rates drawn log-uniformly (>1: faster)
    free_shift_prob: float = 0.0  # shift anywhere that keeps the spoken part inside the window (streaming)
    free_shift_overhang: float = 0.0  # ... or up to this share of it beyond either edge
    neighbor_prob: float = 0.0  # other words inside the window, before and after the clip's word (running speech)
    neighbor_gap_ms: tuple[int, int] = (40, 250)
    silence_rms_db: tuple[float, float] = (-70.0, -25.0)  # level of noise-only "silence" examples, dBFS RMS
    spec_time_masks: int = 2
    spec_time_mask_frames: int = 5
    spec_freq_masks: int = 2
    spec_freq_mask_channels: int = 4


def _active_power(x: np.ndarray, frame: int = 160, floor_db: float = 30.0) -> np.ndarray:
    """Per row: mean power of 10-ms frames within `floor_db` of the loudest (the speech, not the pauses); the
    batch form of corpus.augment.active_power, vectorized over a whole augmentation batch."""
    usable = x.shape[1] // frame * frame
    power = np.square(x[:, :usable].astype(np.float64)).reshape(len(x), -1, frame).mean(axis=2)
    peak = power.max(axis=1, keepdims=True)
    loud = power >= peak * 10 ** (-floor_db / 10)
    return np.where(peak[:, 0] > 0, (power * loud).sum(axis=1) / np.maximum(loud.sum(axis=1), 1), 0.0)


def _centre_fit(x: np.ndarray, n: int) -> np.ndarray:
    """`x` cropped or zero-padded to `n` samples around its centre."""
    if len(x) >= n:
        first = (len(x) - n) // 2
        return x[first:first + n]
    out = np.zeros(n, x.dtype)
    first = (n - len(x)) // 2
    out[first:first + len(x)] = x
    return out


def _change_speed(clip: np.ndarray, factor: float) -> np.ndarray:
    """Play `clip` `factor` times faster (linear interpolation), keeping its centre and its length."""
    n = len(clip)
    positions = (np.arange(n) - n / 2) * factor + n / 2
    return np.interp(positions, np.arange(n), clip, left=0.0, right=0.0).astype(np.float32)


class Augmenter:
    """Turns pool indices (or SILENCE_INDEX) into augmented int16 audio: rows [context | clip] and, per row,
    the sample where the front end starts (0, or the clip's start for rows heard without context)."""

    def __init__(self, pool: AudioPool, noise: NoiseBank, config: AugmentConfig = AugmentConfig(), *,
                 frontend: FrontendConfig = FRONTEND, context_pool: np.ndarray | None = None) -> None:
        self.pool, self.noise, self.config, self.frontend = pool, noise, config, frontend
        self.clip_samples = frontend.clip_samples
        # context must be whole strides so that clip frames stay on the same grid
        self.context_samples = self.clip_samples // frontend.stride_samples * frontend.stride_samples
        self.context_pool = np.arange(len(pool)) if context_pool is None else np.asarray(context_pool)

    @property
    def length(self) -> int:
        return self.context_samples + self.clip_samples

    def _spans(self) -> np.ndarray:
        """(first, last) sample of the spoken part of every pool clip (10-ms frames within 35 dB of the peak)."""
        if getattr(self, "_span_cache", None) is None:
            frame = self.frontend.sample_rate_hz // 100
            spans = np.zeros((len(self.pool), 2), np.int64)
            for first in range(0, len(self.pool), 512):
                block = self.pool.audio[first:first + 512].astype(np.float32)
                usable = block.shape[1] // frame * frame
                power = np.square(block[:, :usable]).reshape(len(block), -1, frame).mean(axis=2)
                loud = power >= power.max(axis=1, keepdims=True) * 10 ** -3.5
                spans[first:first + len(block), 0] = np.argmax(loud, axis=1) * frame
                spans[first:first + len(block), 1] = (loud.shape[1] - np.argmax(loud[:, ::-1], axis=1)) * frame
            self._span_cache = spans
        return self._span_cache

    def _add_neighbors(self, clips: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
        """Put the end of another clip's word before this row's word and the start of another after it,
        separated by short gaps: the keyword inside running speech, as a stream's window hears it."""
        if len(rows) == 0:
            return
        spans, n, rate = self._spans(), clips.shape[1], self.frontend.sample_rate_hz
        frame = rate // 100
        fade = np.linspace(0.0, 1.0, frame, dtype=np.float32)
        low, high = (g * rate // 1000 for g in self.config.neighbor_gap_ms)
        for row in rows:
            power = np.square(clips[row, : n // frame * frame]).reshape(-1, frame).mean(axis=1)
            if power.max() <= 0:
                continue
            loud = np.flatnonzero(power >= power.max() * 10 ** -3.5)
            first, last = loud[0] * frame, (loud[-1] + 1) * frame
            level = np.sqrt(power[loud].mean())
            for side in (0, 1):
                other = int(self.context_pool[rng.integers(len(self.context_pool))])
                a, c = spans[other]
                word = self.pool.audio[other, a:c].astype(np.float32) / 32768.0
                if len(word) < 2 * frame:
                    continue
                gap = int(rng.integers(low, high + 1))
                room = first - gap if side == 0 else n - (last + gap)
                if room < 4 * frame:
                    continue
                piece = (word[-room:] if side == 0 else word[:room]).copy()
                piece[:frame] *= fade[: len(piece[:frame])]
                piece[-frame:] *= fade[::-1][: len(piece[-frame:])]
                rms = np.sqrt(np.mean(piece ** 2)) + 1e-9
                piece *= np.float32(level / rms * 10 ** (rng.uniform(-6, 3) / 20))
                start = first - gap - len(piece) if side == 0 else last + gap
                clips[row, start:start + len(piece)] += piece

    def audio(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        config, n, b = self.config, self.clip_samples, len(indices)
        indices = np.asarray(indices)
        clips = np.zeros((b, n), np.float32)
        real = indices >= 0
        clips[real] = self.pool.audio[indices[real]].astype(np.float32) / 32768.0
        if config.speed_prob > 0:
            for row in np.flatnonzero(real & (rng.random(b) < config.speed_prob)):
                clips[row] = _change_speed(clips[row], float(rng.uniform(*config.speed_range)))
        if config.tempo_prob > 0:
            low, high = np.log(config.tempo_range)
            for row in np.flatnonzero(real & (rng.random(b) < config.tempo_prob)):
                stretched = time_stretch(clips[row], float(np.exp(rng.uniform(low, high))),
                                         sample_rate_hz=self.frontend.sample_rate_hz)
                clips[row] = _centre_fit(stretched, n)
        # time shift with zero fill: +-time_shift_ms, or (free_shift_prob) anywhere the spoken part stays inside
        max_shift = config.time_shift_ms * self.frontend.sample_rate_hz // 1000
        shifts = rng.integers(-max_shift, max_shift + 1, size=b) if max_shift > 0 else np.zeros(b, np.int64)
        free = real & (rng.random(b) < config.free_shift_prob)
        if free.any():
            spans = self._spans()[indices[free]]
            overhang = (config.free_shift_overhang * (spans[:, 1] - spans[:, 0])).astype(np.int64)
            low, high = -spans[:, 0] - overhang, n - spans[:, 1] + overhang
            shifts[free] = np.minimum(low, high) + (rng.random(int(free.sum())) *
                                                   (np.abs(high - low) + 1)).astype(np.int64)
        for row in np.flatnonzero(shifts):  # row slices: no [B, n] index arrays per batch
            shift = int(shifts[row])
            moved = np.zeros(n, np.float32)
            if 0 < shift < n:
                moved[shift:] = clips[row, :n - shift]
            elif -n < shift < 0:
                moved[:n + shift] = clips[row, -shift:]
            clips[row] = moved
        if config.neighbor_prob > 0 and len(self.context_pool):
            self._add_neighbors(clips, np.flatnonzero(real & (rng.random(b) < config.neighbor_prob)), rng)
        # context: other speech or silence before the clip
        context = np.zeros((b, self.context_samples), np.float32)
        with_context = rng.random(b) < config.context_prob
        speech = with_context & (rng.random(b) < config.context_speech_prob) & (len(self.context_pool) > 0)
        if speech.any():
            picks = self.context_pool[rng.integers(0, len(self.context_pool), size=int(speech.sum()))]
            context[speech] = self.pool.audio[picks, -self.context_samples:].astype(np.float32) / 32768.0
        full = np.concatenate([context, clips], axis=1)
        # noise under context and clip; silence rows get noise at an absolute level
        noisy = rng.random(b) < config.noise_prob
        kinds = rng.integers(0, len(self.noise.signals), size=b)
        starts = rng.integers(0, 1 << 30, size=b)
        snr = rng.uniform(*config.snr_db, size=b)
        silence_rms = 10 ** (rng.uniform(*config.silence_rms_db, size=b) / 20)
        clip_power = _active_power(clips)
        for row in np.flatnonzero(noisy | ~real):
            if not noisy[row] and rng.random() < 0.5:
                continue  # some silence examples stay digital silence
            segment = self.noise.segment(int(kinds[row]), int(starts[row]), full.shape[1])
            if real[row] and clip_power[row] > 0:
                rms = np.sqrt(clip_power[row] / 10 ** (snr[row] / 10))
            else:
                rms = silence_rms[row]
            full[row] += segment * np.float32(rms)
        gains = 10 ** (rng.uniform(*config.gain_db, size=b) / 20)
        full *= gains[:, None].astype(np.float32)
        # rows without context start the front end at the clip itself (a cold start; zeros before the clip
        # would not give the same state, the front end's filterbank is not silent on digital silence)
        starts = np.where(with_context, 0, self.context_samples).astype(np.int32)
        return np.clip(np.round(full * np.float32(32768.0)), -32768, 32767).astype(np.int16), starts


def _spec_augment(features: "tf.Tensor", config: AugmentConfig, seed: "tf.Tensor") -> "tf.Tensor":
    """SpecAugment on a batch [B, frames, channels]: per example, `spec_time_masks` bands of up to
    `spec_time_mask_frames` frames and `spec_freq_masks` bands of up to `spec_freq_mask_channels`
    channels set to the example's mean (stateless random ops: deterministic for a seed)."""
    import tensorflow as tf

    batch = tf.shape(features)[0]
    frames, channels = features.shape[-2], features.shape[-1]
    mean = tf.reduce_mean(features, axis=[1, 2], keepdims=True)
    keep = tf.ones_like(features, dtype=tf.bool)
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    for k, (size, count, length, axis) in enumerate((
            (config.spec_time_mask_frames, config.spec_time_masks, frames, 1),
            (config.spec_freq_mask_channels, config.spec_freq_masks, channels, 2))):
        if count == 0 or size == 0:
            continue
        width = tf.random.stateless_uniform([batch, count], seeds[2 * k], 0, size + 1, dtype=tf.int32)
        unit = tf.random.stateless_uniform([batch, count], seeds[2 * k + 1], 0.0, 1.0)
        start = tf.cast(unit * tf.cast(length - width + 1, tf.float32), tf.int32)
        positions = tf.range(length)[None, None, :]
        band = (positions >= start[:, :, None]) & (positions < (start + width)[:, :, None])  # [B, count, length]
        band = tf.reduce_any(band, axis=1)
        keep = keep & ~(band[:, :, None] if axis == 1 else band[:, None, :])
    return tf.where(keep, features, mean)


def _batch_features(audio: "tf.Tensor", starts: "tf.Tensor", frontend: FrontendConfig) -> "tf.Tensor":
    """[B, samples] int16 + [B] start samples (0 or the clip's start) -> [B, frames, channels] float: the
    front end run from each row's start, last `frames` frames kept."""
    import tensorflow as tf

    from kws.features import tf_frontend_uint16, tf_int8_to_float, tf_uint16_to_int8

    frames, clip = frontend.frames, frontend.clip_samples

    @tf.autograph.experimental.do_not_convert  # plain graph code: nothing for AutoGraph to convert (and it warned)
    def one(pair) -> tf.Tensor:
        row, start = pair
        # two static-length branches (the op's shape inference needs a static input length)
        values = tf.cond(start > 0, lambda: tf_frontend_uint16(row[-clip:], frontend)[-frames:],
                         lambda: tf_frontend_uint16(row, frontend)[-frames:])
        return tf_int8_to_float(tf_uint16_to_int8(values, frontend), frontend)

    return tf.map_fn(one, (audio, starts), fn_output_signature=tf.TensorSpec([frames, frontend.channels], tf.float32))


def train_dataset(augmenter: Augmenter, indices: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int,
                  spec_augment: bool = True, shuffle: bool = True, jobs: int | None = None) -> "tf.data.Dataset":
    """One epoch per iteration (Keras iterates it once per epoch); each epoch draws fresh augmentation,
    each batch from a generator seeded by (seed, epoch, batch position), so a run is reproducible. The
    augmentation runs on `jobs` worker processes (kws.augment_workers; default all cores, 1 = here)."""
    import tensorflow as tf

    from kws.augment_workers import AugmentWorkers

    indices, labels = np.asarray(indices), np.asarray(labels)
    if len(indices) != len(labels):
        raise ValueError("indices and labels differ in length")
    epoch_counter = [0]
    length = augmenter.length
    workers = AugmentWorkers(augmenter, jobs=jobs)

    def batches():
        epoch = epoch_counter[0]
        epoch_counter[0] += 1
        rng = np.random.default_rng([seed, epoch, 0xDA7A])
        order = rng.permutation(len(indices)) if shuffle else np.arange(len(indices))
        firsts = range(0, len(order), batch_size)
        made = workers.map((indices[order[first:first + batch_size]], (seed, epoch, first)) for first in firsts)
        for first, (audio, starts) in zip(firsts, made):
            chosen = order[first:first + batch_size]
            yield audio, starts, labels[chosen].astype(np.int32), np.array([seed, epoch * 100003 + first], np.int64)

    dataset = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec([None, length], tf.int16), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([2], tf.int64)))
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-len(indices) // batch_size)))
    frontend, config = augmenter.frontend, augmenter.config

    @tf.autograph.experimental.do_not_convert
    def to_features(audio, starts, y, batch_seed):
        x = _batch_features(audio, starts, frontend)
        if spec_augment and (config.spec_time_masks or config.spec_freq_masks):
            x = _spec_augment(x, config, batch_seed)
        return x, y

    options = tf.data.Options()
    options.deterministic = True
    return (dataset.map(to_features, num_parallel_calls=2, deterministic=True)
            .prefetch(2).with_options(options))


def _features_job(job: tuple[np.ndarray, FrontendConfig]) -> np.ndarray:
    audio, frontend = job
    return np.stack([clip_features_int8(row, frontend) for row in audio])


def clip_features(pool: AudioPool, indices: np.ndarray | None = None, *, frontend: FrontendConfig = FRONTEND,
                  cache_dir: str | os.PathLike[str] | None = None) -> np.ndarray:
    """float [N, frames, channels] of clean, isolated clips (front end from a zero state), cached on disk."""
    indices = np.arange(len(pool)) if indices is None else np.asarray(indices)
    key = stable_hash([pool.refs[i].id for i in indices], frontend, length=16)
    path = Path(cache_dir) / f"features-{key}.npy" if cache_dir is not None else None
    if path is not None and path.exists():
        return int8_to_float(np.load(path), frontend)
    q = _features_job((pool.audio[indices], frontend)) if len(indices) else \
        np.zeros((0, *frontend.shape), np.int8)
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, q)
    return int8_to_float(q, frontend)


def silence_features(noise: NoiseBank, count: int, *, seed: int, frontend: FrontendConfig = FRONTEND,
                     rms_db: tuple[float, float] = (-70.0, -25.0)) -> np.ndarray:
    """Deterministic noise-only clips (no speech) as float features: the silence class for evaluation."""
    rng = np.random.default_rng([seed, 0x51])
    rows = []
    for i in range(count):
        kind = int(rng.integers(len(noise.signals)))
        level = 10 ** (rng.uniform(*rms_db) / 20)
        segment = noise.segment(kind, int(rng.integers(1 << 30)), frontend.clip_samples) * level
        rows.append(clip_features_int8(np.clip(segment, -1, 1), frontend))
    return int8_to_float(np.stack(rows)) if rows else np.zeros((0, *frontend.shape), np.float32)
