"""The one training loop every model here uses: Adam with cosine decay, (smoothed) cross-entropy on the
softmax output, tf.data batches from `kws.datasets.train_dataset`, per-epoch validation on held-out
speakers, and a short log line per epoch."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

__all__ = ["FitConfig", "fit", "balanced_indices", "predict_classes"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FitConfig:
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 3e-3
    label_smoothing: float = 0.1
    weight_decay: float = 1e-4


def balanced_indices(labels: np.ndarray, rng: np.random.Generator, *, per_class: int | None = None,
                     weights: dict[int, float] | None = None) -> np.ndarray:
    """Positions into `labels` so that every class appears `per_class` times (default: the largest
    class's count) times its weight (default 1), by repeating smaller classes in shuffled rounds."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    counts = {c: int(np.sum(labels == c)) for c in classes}
    base = per_class or max(counts.values())
    out = []
    for c in classes:
        target = max(1, int(round(base * (weights or {}).get(int(c), 1.0))))
        members = np.flatnonzero(labels == c)
        reps = int(np.ceil(target / len(members)))
        out.append(np.concatenate([rng.permutation(members) for _ in range(reps)])[:target])
    return np.concatenate(out)


def fit(model, train_dataset, *, num_classes: int, steps_per_epoch: int, config: FitConfig,
        validation: tuple[np.ndarray, np.ndarray] | None = None, name: str = "model", verbose: bool = True) -> dict:
    """Train in place; returns the history (loss, accuracy, val_accuracy per epoch, seconds)."""
    import keras
    import tensorflow as tf

    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, config.epochs *
                                                                                            steps_per_epoch),
                                                      alpha=0.02)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    data = train_dataset.map(lambda x, y: (x, tf.one_hot(y, num_classes)))
    validation_data = None
    if validation is not None and len(validation[1]):
        validation_data = (validation[0], keras.utils.to_categorical(validation[1], num_classes))

    class EpochLog(keras.callbacks.Callback):
        """A log line per epoch and one tqdm bar over every step of the run (rate and ETA)."""

        def __init__(self) -> None:
            super().__init__()
            self.start = time.perf_counter()
            self.bar = tqdm(total=config.epochs * steps_per_epoch, desc=name, unit="batch", leave=False,
                            disable=not verbose, dynamic_ncols=True)

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

        def on_epoch_end(self, epoch, logs=None):
            if not verbose:
                return
            logs = logs or {}
            val = f", held-out accuracy {logs['val_accuracy']:.3f}" if "val_accuracy" in logs else ""
            log.info("%s epoch %d/%d: loss %.3f, accuracy %.3f%s (%.0f s)", name, epoch + 1, config.epochs,
                     logs.get("loss", float("nan")), logs.get("accuracy", float("nan")), val,
                     time.perf_counter() - self.start)

    start = time.perf_counter()
    history = model.fit(data, epochs=config.epochs, validation_data=validation_data, verbose=0, shuffle=False,
                        callbacks=[EpochLog()])
    return {**{k: [round(float(v), 5) for v in values] for k, values in history.history.items()},
            "seconds": round(time.perf_counter() - start, 1)}


def predict_classes(model, features: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    if len(features) == 0:
        return np.zeros(0, np.int64), np.zeros((0, model.output_shape[-1]), np.float32)
    probabilities = model.predict(np.asarray(features, np.float32), batch_size=batch_size, verbose=0)
    return np.argmax(probabilities, axis=1), probabilities
