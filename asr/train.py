"""Training: AdamW with Noam warm-up, gradient clipping, CTC loss, checkpoints with exact resume,
TensorBoard logs, a tqdm line (loss, dev WER, utterances/s), MirroredStrategy and mixed precision on GPUs.

Exact resume: a checkpoint holds model, optimizer, step and the dropout seed generators; batches are
planned from (seed, epoch) and SpecAugment draws from (seed, step), so a run killed after a checkpoint and
restarted ends with the same weights as one that never stopped (checked by a test).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus.configs import from_jsonable, read_json, set_seed, stable_hash, write_json, write_lines

from asr.data import DataConfig, Example, Utterance, make_batch, plan_batches, prepare
from asr.decode import greedy, log_softmax
from asr.features import FeatureConfig
from asr.model import build_conformer, config_for_size, output_lengths
from asr.tokens import Tokenizer, load_tokenizer, train_tokenizer
from asr.wer import corpus_wer

__all__ = ["TrainConfig", "NoamSchedule", "train", "TrainingError"]


class TrainingError(RuntimeError):
    """Training cannot start or continue (no usable data, a folder trained with another config, NaN loss)."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    size: str = "tiny"
    tokenizer: str = "char"  # char | bpe
    bpe_vocab_size: int = 128
    steps: int = 4000
    # CTC first learns to emit only blanks; 3e-3 kept a tiny Conformer on that plateau for 1,666 steps, 1e-3
    # and 1.5e-3 leave it after ~250-300 (bench/asr.py notes). Warm-up: ~10 % of the steps.
    peak_learning_rate: float = 1e-3
    warmup_steps: int = 400
    # After warm-up: "noam" decays as 1/sqrt(step); "constant" holds the peak. Either way the last
    # `anneal_share` of the run (of `steps`, or of the time budget when train() is given one) falls
    # linearly to zero. Hold-then-anneal beat Noam by 8 points of test WER in equal 6-min runs (bench notes).
    schedule: str = "constant"
    anneal_share: float = 0.4
    weight_decay: float = 1e-3
    clip_norm: float = 1.0
    dropout: float = 0.1
    augment_after_steps: int = 500  # SpecAugment from this step on (masks on a model still emitting only
    # blanks lengthen CTC's all-blank plateau)
    checkpoint_every: int = 200
    eval_every: int = 200
    dev_utterances: int = 64
    seed: int = 0
    mixed_precision: bool = False  # float16 compute on GPUs; the CTC head stays float32
    replicas: int = 0  # 0: one device (or every GPU when there are several); N: MirroredStrategy over N devices
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model_overrides: tuple[tuple[str, int], ...] = ()  # e.g. (("layers", 2),) for tests


SCHEDULES = ("noam", "constant")


def anneal_factor(progress: float, anneal_share: float) -> float:
    """1 until the last `anneal_share` of the run, then linearly down to 0 at progress 1."""
    if anneal_share <= 0:
        return 1.0
    return min(1.0, max(0.0, (1.0 - progress) / anneal_share))


def noam_rate(step: int, peak: float, warmup: int, *, schedule: str = "noam", progress: float = 0.0,
              anneal_share: float = 0.0) -> float:
    """Linear warm-up to `peak`, then decay as 1/sqrt(step) (the Noam schedule scaled to its peak) or
    hold ("constant"); times the final linear anneal. The same numbers as `NoamSchedule` (logs use it)."""
    step = max(step, 1)
    after = math.sqrt(warmup / step) if schedule == "noam" else 1.0
    return peak * min(step / warmup, after) * anneal_factor(progress, anneal_share)


def NoamSchedule(peak: float, warmup: int, *, schedule: str = "noam", anneal_share: float = 0.0,
                 progress=None):  # noqa: N802 - a Keras schedule class, built lazily
    """`progress` (a float variable the training loop sets to the share of the run done) drives the anneal."""
    import keras
    from keras import ops

    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")

    class _Noam(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = ops.maximum(ops.cast(step, "float32") + 1.0, 1.0)
            after = ops.sqrt(warmup / step) if schedule == "noam" else ops.ones_like(step)
            rate = peak * ops.minimum(step / warmup, after)
            if anneal_share > 0 and progress is not None:
                rate = rate * ops.clip((1.0 - ops.cast(progress, "float32")) / anneal_share, 0.0, 1.0)
            return rate

        def get_config(self):
            return {"peak": peak, "warmup": warmup, "schedule": schedule, "anneal_share": anneal_share}

    return _Noam()


def _scalar(name: str, value: float, step: int) -> None:
    """A TensorBoard scalar event without the tensorboard package (tensorflow-cpu does not bring it):
    tf.summary.write with the 'scalars' plugin's metadata is what tf.summary.scalar writes."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=metadata)


def _strategy(config: TrainConfig):
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if config.replicas > 1:
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))][:config.replicas]
        if len(devices) < config.replicas:
            raise TrainingError(f"{config.replicas} replicas asked for, but only {len(devices)} devices exist")
        return tf.distribute.MirroredStrategy(devices)
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _progress(step: int, steps: int, elapsed_s: float, time_budget_s: float | None) -> float:
    """Share of the run done: of the steps, or of the time budget when that ends the run sooner."""
    done = step / steps
    if time_budget_s:
        done = max(done, elapsed_s / time_budget_s)
    return min(1.0, done)


def _dev_wer(model, examples: Sequence[Example], tokenizer: Tokenizer) -> float:
    if not examples:
        return float("nan")
    batch = make_batch(examples, range(len(examples)))
    logits = np.asarray(model({"features": batch["features"], "lengths": batch["lengths"]}, training=False))
    hyps = []
    for row, length in enumerate(batch["lengths"]):
        hyps.append(tokenizer.decode(greedy(log_softmax(logits[row, :int(output_lengths(length))]))))
    return corpus_wer([e.text for e in examples], hyps).wer


def _batch_stream(examples, config: TrainConfig, start_step: int):
    """(step, batch) from `start_step` on, replaying the epoch plans so a resumed run lines up exactly."""
    step, epoch = 0, 0
    while True:
        plan = plan_batches(examples, config.data, seed=config.seed, epoch=epoch)
        if not plan:
            raise TrainingError("no batches: every training utterance was filtered out")
        for indices in plan:
            if step >= start_step:
                rng = np.random.default_rng([config.seed, step, 11])
                augment = config.data if step >= config.augment_after_steps else None
                yield step, make_batch(examples, indices, config=augment, rng=rng)
            step += 1
        epoch += 1


def prepare_folder(out: Path, config: TrainConfig, train_items: Sequence[Utterance]) -> Tokenizer:
    """Write or check config.json and the tokenizer: a folder belongs to one config (resume needs it)."""
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "train_config.json"
    if config_path.is_file():
        saved = from_jsonable(TrainConfig, read_json(config_path))
        if saved != config:
            raise TrainingError(f"{out} holds a run with another configuration; choose another --out or remove it")
        return load_tokenizer(out)
    tokenizer = train_tokenizer(config.tokenizer, [u.text for u in train_items], vocab_size=config.bpe_vocab_size,
                                seed=config.seed)
    tokenizer.save(out)
    write_json(config_path, config)
    return tokenizer


def train(config: TrainConfig, train_items: Sequence[Utterance], dev_items: Sequence[Utterance], out: str | Path,
          *, jobs: int | None = None, progress: bool = True, stop_after: int | None = None,
          time_budget_s: float | None = None, log=print) -> dict:
    """Train into `out` (resuming from its last checkpoint) and return the training report.

    `stop_after` ends this call after that many steps of the run (a controlled stand-in for a kill).
    `time_budget_s` ends training early but as finished (weights saved), for benchmarks with a time limit."""
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    out = Path(out)
    set_seed(config.seed)
    tokenizer = prepare_folder(out, config, train_items)
    examples, train_report = prepare(train_items, tokenizer.encode, features=config.features, config=config.data,
                                     train=True, jobs=jobs, progress=progress)
    dev_examples, dev_report = prepare(dev_items[:config.dev_utterances], tokenizer.encode,
                                       features=config.features, config=config.data, train=False, jobs=jobs,
                                       progress=progress)
    log(f"training data: {train_report.summary()}; dev: {dev_report.summary()}")
    if not examples:
        raise TrainingError(f"no usable training utterance ({train_report.summary()})")
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    model_config = config_for_size(config.size, tokenizer.size, dropout=config.dropout,
                                   mel_bands=config.features.mel_bands, **dict(config.model_overrides))
    strategy = _strategy(config)
    with strategy.scope():
        model = build_conformer(model_config)
        progress_var = tf.Variable(0.0, dtype=tf.float32, trainable=False)  # share of the run done (anneal)
        schedule = NoamSchedule(config.peak_learning_rate, config.warmup_steps, schedule=config.schedule,
                                anneal_share=config.anneal_share, progress=progress_var)
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay,
                                           global_clipnorm=config.clip_norm)
        if config.mixed_precision:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False)
    seeds = [v for v in model.variables if "seed_generator" in v.path]
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var, seeds=seeds)
    manager = tf.train.CheckpointManager(checkpoint, str(out / "checkpoints"), max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log(f"resumed from {manager.latest_checkpoint} at step {int(step_var.numpy())}")
    write_json(out / "config.json", {"model": model_config, "features": config.features, "train": config})

    def replica_loss(batch):
        logits = model({"features": batch["features"], "lengths": batch["lengths"]}, training=True)
        losses = tf.nn.ctc_loss(labels=batch["labels"], logits=tf.cast(logits, tf.float32),
                                label_length=batch["label_lengths"], logit_length=output_lengths(batch["lengths"]),
                                logits_time_major=False, blank_index=0)
        return losses

    def replica_step(batch, global_size):
        with tf.GradientTape() as tape:
            losses = replica_loss(batch)
            loss = tf.reduce_sum(losses) / tf.cast(global_size, tf.float32)
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    signature = {"features": tf.TensorSpec((None, None, config.features.mel_bands), tf.float32),
                 "lengths": tf.TensorSpec((None,), tf.int32), "labels": tf.TensorSpec((None, None), tf.int32),
                 "label_lengths": tf.TensorSpec((None,), tf.int32)}

    # One trace for every batch shape on one device; the mirrored path traces per distributed spec.
    @tf.function(input_signature=[signature, tf.TensorSpec((), tf.int32)])
    def single_step(batch, global_size):
        return replica_step(batch, global_size)

    @tf.function(reduce_retracing=True)
    def distributed_step(batch, global_size):
        per_replica = strategy.run(replica_step, args=(batch, global_size))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def rate(step: int, progress: float) -> float:
        return noam_rate(step, config.peak_learning_rate, config.warmup_steps, schedule=config.schedule,
                         progress=progress, anneal_share=config.anneal_share)

    writer = tf.summary.create_file_writer(str(out / "logs"))
    start_step = int(step_var.numpy())
    bar = tqdm(total=config.steps, initial=start_step, desc="train", unit="step", disable=not progress,
               dynamic_ncols=True)
    stream = _batch_stream(examples, config, start_step)
    started, audio_s, utterances, dev_wer, done_this_run = time.perf_counter(), 0.0, 0, float("nan"), 0
    last_loss, budget_hit, loss_sum, loss_count = float("nan"), False, 0.0, 0
    for step, batch in stream:
        if step >= config.steps or (stop_after is not None and done_this_run >= stop_after):
            break
        if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
            budget_hit = True
            break
        done_share = _progress(step, config.steps, time.perf_counter() - started, time_budget_s)
        progress_var.assign(done_share)
        size = len(batch["lengths"])
        if strategy.num_replicas_in_sync > 1:
            dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))
            last_loss = float(distributed_step(next(iter(dataset)), tf.constant(size)))
        else:
            last_loss = float(single_step(batch, tf.constant(size)))
        if not math.isfinite(last_loss):
            raise TrainingError(f"loss is {last_loss} at step {step}; the last checkpoint is kept in {out}")
        step_var.assign(step + 1)
        done_this_run += 1
        loss_sum, loss_count = loss_sum + last_loss, loss_count + 1
        audio_s += float(batch["lengths"].sum()) * config.features.hop_ms / 1000
        utterances += size
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            dev_wer = _dev_wer(model, dev_examples, tokenizer)
            if not progress:  # the tqdm line says this when there is one; a log keeps the learning curve
                log(f"step {step + 1}: loss {loss_sum / loss_count:.3f} (mean since the last evaluation), "
                    f"dev WER {dev_wer:.3f}, learning rate "
                    f"{rate(step + 1, done_share):.2e}, "
                    f"{time.perf_counter() - started:.0f} s")
            loss_sum, loss_count = 0.0, 0
        with writer.as_default():
            _scalar("loss", last_loss, step + 1)
            _scalar("learning_rate", rate(step + 1, done_share), step + 1)
            if (step + 1) % config.eval_every == 0:
                _scalar("dev_wer", dev_wer, step + 1)
        elapsed = time.perf_counter() - started
        bar.set_postfix(loss=f"{last_loss:.2f}", dev_wer=f"{dev_wer:.3f}", utt_s=f"{utterances / elapsed:.1f}")
        bar.update(1)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            manager.save(checkpoint_number=step + 1)
    bar.close()
    writer.flush()
    elapsed = time.perf_counter() - started
    final_step = int(step_var.numpy())
    if budget_hit:
        manager.save(checkpoint_number=final_step)
    report = {"steps": final_step, "finished": final_step >= config.steps or budget_hit, "loss": last_loss,
              "stopped_by_time_budget": budget_hit, "audio_s_trained": round(audio_s, 3),
              "dev_wer": _dev_wer(model, dev_examples, tokenizer), "seconds_this_run": round(elapsed, 3),
              "audio_s_per_s": round(audio_s / elapsed, 3) if elapsed else 0.0,
              "train_data": train_report.as_dict(), "dev_data": dev_report.as_dict(),
              "parameters": int(model.count_params()), "replicas": strategy.num_replicas_in_sync,
              "model_id": stable_hash(config, [u.id for u in train_items])}
    if report["finished"]:
        # Keras wants the .weights.h5 suffix; write beside and rename so a crash never leaves half a file.
        model.save_weights(out / "partial.weights.h5")
        (out / "partial.weights.h5").replace(out / "model.weights.h5")
        write_lines(out / "files_train.tsv", [f"{u.id}\t{u.path}" for u in train_items])
        write_json(out / "train_report.json", report)
    return report
