"""The multilingual keyword embedding: a many-way word classifier trained on MSWC-layout trees of several
languages; its penultimate layer ("embedding", Dense + ReLU after the backbone's pooled vector) is the
representation few-shot models reuse (Mazumder et al. 2021).

Classes are `<lang>/<word>` for every word with at least `min_train_clips` TRAIN clips (minus
`exclude_words`), plus silence. Training uses TRAIN speakers only, so DEV/TEST speakers of every
language stay unheard; DEV clips give the held-out word accuracy in the report.

Saved as a folder: `embedding.keras` (the whole classifier), `config.json` (this config, the backbone
config and the data roots), `classes.txt`, `files_train.tsv` / `files_dev.tsv` (the exact clips used:
id, word, speaker), `history.json` and `report.json` (written last: a folder without it is incomplete).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from corpus.formats.mswc import MswcRelease
from kws.common import SILENCE
from corpus.configs import (determinism_note, from_jsonable, read_json, read_lines, set_seed, stable_hash,
                            write_json, write_lines)
from kws.augmenter import AugmentConfig, Augmenter
from kws.data import (SILENCE_INDEX, AudioPool, ClipRef, DataError, NoiseBank, load_pool, make_noise_bank,
                      refs_of)
from kws.datasets import clip_features, silence_features, train_dataset
from kws.models import build_classifier, config_to_json, describe, preset
from kws.training import FitConfig, fit, predict_classes

__all__ = ["EmbeddingConfig", "Embedding", "train_embedding", "select_embedding_data", "embedding_key",
           "embedding_noise_bank"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EmbeddingConfig:
    backbone: str = "ds_cnn_s"  # a kws.models preset
    backbone_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {"channels": 16} for tests
    embedding_dim: int = 128
    dropout: float = 0.1
    min_train_clips: int = 5
    exclude_words: tuple[str, ...] = ()  # "word" (any language) or "lang/word"
    silence_share: float = 0.03
    fit: FitConfig = field(default_factory=lambda: FitConfig(epochs=30))
    # lighter than few-shot training's: with heavy noise and masking the many-way task learns several
    # times slower per epoch (held-out word accuracy 0.11 vs 0.35 after 12 epochs on the demo corpus)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(
        noise_prob=0.5, snr_db=(10.0, 30.0), gain_db=(-3.0, 3.0), spec_time_masks=1, spec_freq_masks=1))
    # other synthesizer families' voices (corpus.voices, e.g. flite for English): `family_clips_per_word`
    # renditions of every class word by each family in `voice_families` that serves its language and runs
    # here, added to its TRAIN clips (espeak-ng made the trees; other families widen the voices heard)
    voice_families: tuple[str, ...] = ()
    family_clips_per_word: int = 0
    seed: int = 0

    def model_config(self):
        return replace(preset(self.backbone), **self.backbone_overrides)


def embedding_noise_bank(*, seed: int, babble_languages=(), background_dirs=()) -> NoiseBank:
    """The noise embeddings train with: 30 s of babble per language, as since the first release. The cache
    key (`embedding_key`) does not cover the noise, so a cached and a fresh embedding agree only if it stays
    put. (Few-shot models get minutes of babble; an embedding trained with 120 s of it came out worse in the
    one full-size comparison: held-out accuracy 0.833 vs 0.862, and the deployable model's FRR at 1 FA/h
    0.36 vs 0.13.)"""
    return make_noise_bank(seed=seed, babble_languages=babble_languages, babble_seconds=30.0,
                           background_dirs=background_dirs)


def _excluded(ref: ClipRef, exclude: set[str]) -> bool:
    return ref.word in exclude or f"{ref.language}/{ref.word}" in exclude


def select_embedding_data(trees: dict[str, MswcRelease], config: EmbeddingConfig
                          ) -> tuple[list[ClipRef], list[ClipRef], list[str]]:
    """(TRAIN refs, DEV refs, class names) in a deterministic order."""
    exclude = set(config.exclude_words)
    train, dev = [], []
    for language in sorted(trees):
        release = trees[language]
        train += [r for r in refs_of(release, release.by_set("TRAIN")) if not _excluded(r, exclude)]
        dev += [r for r in refs_of(release, release.by_set("DEV")) if not _excluded(r, exclude)]
    counts: dict[str, int] = {}
    for ref in train:
        counts[f"{ref.language}/{ref.word}"] = counts.get(f"{ref.language}/{ref.word}", 0) + 1
    classes = sorted(c for c, n in counts.items() if n >= config.min_train_clips)
    if len(classes) < 2:
        raise DataError(f"embedding needs at least 2 words with >= {config.min_train_clips} TRAIN clips; "
                        f"found {len(classes)} in {', '.join(sorted(trees))}")
    keep = set(classes)
    train = sorted((r for r in train if f"{r.language}/{r.word}" in keep), key=lambda r: r.id)
    dev = sorted((r for r in dev if f"{r.language}/{r.word}" in keep), key=lambda r: r.id)
    return train, dev, [SILENCE, *classes]


def embedding_key(trees: dict[str, MswcRelease], config: EmbeddingConfig) -> str:
    """Names the cache folder: the config and the exact clips (ids) the embedding would train on."""
    train, dev, classes = select_embedding_data(trees, config)
    return stable_hash(config, [r.id for r in train], [r.id for r in dev], classes)


@dataclass
class Embedding:
    path: Path
    config: EmbeddingConfig
    classes: list[str]
    model: Any  # keras.Model: features -> class probabilities
    report: dict

    @property
    def encoder(self):
        """features -> embedding vector (the penultimate layer)."""
        import keras
        return keras.Model(self.model.input, self.model.get_layer("embedding").output, name="encoder")

    @property
    def words(self) -> set[str]:
        return {c for c in self.classes if c != SILENCE}

    def train_ids(self) -> list[str]:
        return [line.split("\t")[0] for line in read_lines(self.path / "files_train.tsv")[1:]]

    @staticmethod
    def load(path: str | Path) -> "Embedding":
        import keras

        path = Path(path)
        if not (path / "report.json").exists():
            raise FileNotFoundError(f"{path}: no complete embedding here (report.json missing)")
        meta = read_json(path / "config.json")
        config = from_jsonable(EmbeddingConfig, meta["embedding"])
        model = keras.models.load_model(path / "embedding.keras", compile=False)
        return Embedding(path=path, config=config, classes=read_lines(path / "classes.txt"), model=model,
                         report=read_json(path / "report.json"))


def _with_family_clips(pool: AudioPool, classes: list[str], config: EmbeddingConfig, cache_dir
                       ) -> tuple[AudioPool, np.ndarray, np.ndarray, dict]:
    """The pool plus renditions of every class word by the other families (ids <family>/<lang>/<word>/<n>),
    their pool indices and labels, and what was added (family -> clips, or why it was skipped)."""
    from corpus.voices import backend
    from kws.synthetic_shots import synthetic_shots

    note: dict[str, Any] = {}
    refs, arrays, labels = [], [], []
    count = config.family_clips_per_word
    for family in config.voice_families if count > 0 else ():
        candidate = backend(family)
        reason = candidate.unavailable()
        if reason:
            note[family] = f"skipped: {reason}"
            log.warning("embedding: synthesizer %s skipped: %s", family, reason)
            continue
        added = 0
        for label, name in enumerate(classes):
            if name == SILENCE or not candidate.serves(name.split("/", 1)[0]):
                continue
            language, word = name.split("/", 1)
            voices = cache_dir and Path(cache_dir).parent / "voices"
            shots = synthetic_shots(word, language, count, seed=config.seed, families=(family,), cache_dir=voices)
            refs += [ClipRef(language=family, link=f"{language}/{word}/{n}", word=word, speaker=speaker, set="TRAIN")
                     for n, speaker in enumerate(shots.speakers)]
            arrays.append(shots.audio)
            labels += [label] * len(shots.audio)
            added += len(shots.audio)
        note[family] = added
    if not refs:
        return pool, np.zeros(0, np.int64), np.zeros(0, np.int64), note
    extended = AudioPool(refs=pool.refs + tuple(refs), audio=np.concatenate([pool.audio, *arrays]),
                         failures=pool.failures)
    return extended, np.arange(len(pool), len(extended), dtype=np.int64), np.array(labels, np.int64), note


def train_embedding(trees: dict[str, MswcRelease], config: EmbeddingConfig, out: str | Path, *, noise: NoiseBank,
                    cache_dir: str | Path | None = None, jobs: int | None = None, verbose: bool = True) -> Embedding:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seeding = set_seed(config.seed)
    train_refs, dev_refs, classes = select_embedding_data(trees, config)
    class_index = {c: i for i, c in enumerate(classes)}
    pool = load_pool(trees, train_refs + dev_refs, cache_dir=cache_dir, jobs=jobs)
    by_id = pool.index()
    train_idx = np.array([by_id[r.id] for r in train_refs if r.id in by_id], np.int64)
    dev_idx = np.array([by_id[r.id] for r in dev_refs if r.id in by_id], np.int64)
    label_of = np.array([class_index[f"{r.language}/{r.word}"] for r in pool.refs], np.int64)
    pool, family_idx, family_labels, families_note = _with_family_clips(pool, classes, config, cache_dir)
    train_idx = np.concatenate([train_idx, family_idx])
    label_of = np.concatenate([label_of, family_labels])
    silences = int(round(config.silence_share * len(train_idx)))
    indices = np.concatenate([train_idx, np.full(silences, SILENCE_INDEX)])
    labels = np.concatenate([label_of[train_idx], np.zeros(silences, np.int64)])
    augmenter = Augmenter(pool, noise, config.augment, context_pool=train_idx)
    dataset = train_dataset(augmenter, indices, labels, batch_size=config.fit.batch_size, seed=config.seed,
                            jobs=jobs)
    dev_x = np.concatenate([clip_features(pool, dev_idx, cache_dir=cache_dir),
                            silence_features(noise, max(1, len(dev_idx) // 50), seed=config.seed + 7)])
    dev_y = np.concatenate([label_of[dev_idx], np.zeros(len(dev_x) - len(dev_idx), np.int64)])
    model = build_classifier(config.model_config(), len(classes), embedding_dim=config.embedding_dim,
                             dropout=config.dropout, name="embedding_classifier")
    if verbose:
        log.info("embedding: %s, %d classes (%d languages), %d TRAIN clips, %d DEV clips", describe(
            config.model_config()), len(classes), len(trees), len(train_idx), len(dev_idx))
    history = fit(model, dataset, num_classes=len(classes), steps_per_epoch=-(-len(indices) // config.fit.batch_size),
                  config=config.fit, validation=(dev_x, dev_y), name="embedding", verbose=verbose)
    predicted, _ = predict_classes(model, dev_x)
    model.save(out / "embedding.keras")
    write_lines(out / "classes.txt", classes)
    write_lines(out / "files_train.tsv", ["id\tword\tspeaker", *(f"{r.id}\t{r.word}\t{r.speaker}" for r in
                                                                  (pool.refs[i] for i in train_idx))])
    write_lines(out / "files_dev.tsv", ["id\tword\tspeaker", *(f"{r.id}\t{r.word}\t{r.speaker}" for r in
                                                                (pool.refs[i] for i in dev_idx))])
    write_json(out / "history.json", history)
    write_json(out / "config.json", {"embedding": config, "model": config_to_json(config.model_config()),
                                     "trees": {l: str(t.root) for l, t in sorted(trees.items())},
                                     "languages": sorted(trees)})
    report = {
        "model": describe(config.model_config()), "classes": len(classes), "languages": sorted(trees),
        "words": len(classes) - 1, "train_clips": int(len(train_idx)), "dev_clips": int(len(dev_idx)),
        "skipped_clips": [list(f) for f in pool.failures],
        "dev_accuracy": round(float(np.mean(predicted == dev_y)), 4) if len(dev_y) else None,
        "voice_families": families_note,
        "parameters": int(model.count_params()), "seconds": round(time.perf_counter() - started, 1),
        "determinism": determinism_note(), "seeding": seeding,
    }
    write_json(out / "report.json", report)  # last: marks the folder complete
    return Embedding(path=out, config=config, classes=classes, model=model, report=report)

