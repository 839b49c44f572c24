"""Closed-set keyword models (Speech Commands style) for words with many examples: `_silence_`,
`_unknown_` and the target words, trained from scratch on TRAIN speakers (augmented, class-balanced
with unknown clips drawn from every other word), validated on DEV, reported on TEST speakers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from corpus.formats.mswc import MswcRelease
from kws.common import SILENCE, UNKNOWN
from corpus.configs import set_seed
from kws.augmenter import AugmentConfig, Augmenter
from kws.data import SILENCE_INDEX, NoiseBank, load_pool, refs_of
from kws.datasets import clip_features, silence_features, train_dataset
from kws.evaluate import classification_metrics
from kws.fewshot import check_keywords
from kws.models import build_classifier, preset
from kws.training import FitConfig, fit, predict_classes

__all__ = ["ClosedSetConfig", "ClosedSetModel", "train_closed_set"]


@dataclass(frozen=True, kw_only=True)
class ClosedSetConfig:
    words: tuple[str, ...]
    model: str = "ds_cnn_s"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    dropout: float = 0.1
    unknown_share: float = 1.0  # unknown examples per epoch, relative to one target word's count
    silence_share: float = 1.0
    fit: FitConfig = field(default_factory=lambda: FitConfig(epochs=20))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return (SILENCE, UNKNOWN, *self.words)


@dataclass
class ClosedSetModel:
    model: Any
    labels: tuple[str, ...]
    train_ids: list[str]
    history: dict
    test: dict  # classification metrics on TEST speakers
    test_features: np.ndarray
    test_labels: np.ndarray
    representative: np.ndarray
    seconds: float


def train_closed_set(release: MswcRelease, config: ClosedSetConfig, *, noise: NoiseBank, cache_dir=None,
                     jobs: int | None = None, verbose: bool = True) -> ClosedSetModel:
    from dataclasses import replace

    started = time.perf_counter()
    set_seed(config.seed)
    check_keywords(release, config.words)
    labels = config.labels
    index = {w: 2 + i for i, w in enumerate(config.words)}
    refs = refs_of(release, release.clips)
    pool = load_pool({release.language: release}, refs, cache_dir=cache_dir, jobs=jobs)
    label_of = np.array([index.get(r.word, 1) for r in pool.refs], np.int64)
    by_set = {s: np.array([i for i, r in enumerate(pool.refs) if r.set == s], np.int64) for s in ("TRAIN", "DEV", "TEST")}
    train = by_set["TRAIN"]
    rng = np.random.default_rng([config.seed, 0xC105])
    targets = train[label_of[train] >= 2]
    unknown = train[label_of[train] == 1]
    per_word = int(np.ceil(len(targets) / max(1, len(config.words))))
    n_unknown = min(len(unknown), int(round(config.unknown_share * per_word)))
    n_silence = int(round(config.silence_share * per_word))
    chosen_unknown = rng.choice(unknown, n_unknown, replace=False) if n_unknown else np.zeros(0, np.int64)
    indices = np.concatenate([targets, chosen_unknown, np.full(n_silence, SILENCE_INDEX)])
    y = np.concatenate([label_of[targets], np.ones(n_unknown, np.int64), np.zeros(n_silence, np.int64)])
    augmenter = Augmenter(pool, noise, config.augment, context_pool=train)
    dataset = train_dataset(augmenter, indices, y, batch_size=config.fit.batch_size, seed=config.seed, jobs=jobs)

    def held_out(split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        ids = by_set[split]
        keyword_ids = ids[label_of[ids] >= 2]
        other = ids[label_of[ids] == 1]
        per = max(1, len(keyword_ids) // max(1, len(config.words)))
        other = np.sort(np.random.default_rng([seed, 0x0E]).choice(other, min(len(other), per), replace=False)) \
            if len(other) else other
        chosen = np.concatenate([keyword_ids, other])
        x = np.concatenate([clip_features(pool, chosen, cache_dir=cache_dir), silence_features(noise, per, seed=seed)])
        return x, np.concatenate([label_of[chosen], np.zeros(per, np.int64)])

    dev_x, dev_y = held_out("DEV", config.seed + 3)
    test_x, test_y = held_out("TEST", config.seed + 5)
    model_config = replace(preset(config.model), **config.model_overrides)
    model = build_classifier(model_config, len(labels), dropout=config.dropout, name="kws_closed_set")
    history = fit(model, dataset, num_classes=len(labels), steps_per_epoch=-(-len(indices) // config.fit.batch_size),
                  config=config.fit, validation=(dev_x, dev_y), name="closed-set", verbose=verbose)
    predicted, _ = predict_classes(model, test_x)
    representative = clip_features(pool, np.sort(rng.choice(train, min(len(train), 400), replace=False)),
                                   cache_dir=cache_dir)
    return ClosedSetModel(model=model, labels=labels, train_ids=[pool.refs[i].id for i in np.sort(train)],
                          history=history, test=classification_metrics(test_y, predicted, labels),
                          test_features=test_x, test_labels=test_y, representative=representative,
                          seconds=round(time.perf_counter() - started, 1))


def closed_set_words(release: MswcRelease, count: int, exclude: Sequence[str] = ()) -> list[str]:
    """The `count` words with most TRAIN clips (ties by name)."""
    counts: dict[str, int] = {}
    for clip in release.by_set("TRAIN"):
        if clip.valid and clip.word not in set(exclude):
            counts[clip.word] = counts.get(clip.word, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:count]]
