"""tf.data pipelines of micro-frontend features from pool clips (kws.data).

- `train_dataset`: batches from the augmenter (kws.augmenter) -> the `audio_microfrontend` op -> int8 ->
  float -> SpecAugment, deterministic for a seed.
- `clip_features`: clean features of clips without augmentation, cached on disk beside the audio (feature
  caching); `silence_features`: noise-only clips as features, the silence class for evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from corpus.fsutil import atomic_path
from corpus.configs import stable_hash
from kws.augmenter import AugmentConfig, Augmenter
from kws.data import AudioPool, NoiseBank
from kws.features import FRONTEND, FrontendConfig, clip_features_int8, int8_to_float

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["train_dataset", "clip_features", "silence_features"]

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
