"""What CTC training silently depends on: padding never changes a real frame's logits, the logit lengths
given to the loss are the model's real output frames, blank is id 0 for loss and decoder alike, features are
finite on digital silence, and the batch plan (SortaGrad first, shuffled later) and the SpecAugment start."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.configs import quiet_tensorflow

from asr.data import DataConfig, Example, make_batch, plan_batches
from asr.decode import greedy, log_softmax
from asr.features import log_mel
from asr.model import build_conformer, config_for_size, output_lengths

SMALL = dict(d_model=32, heads=2, layers=2, subsampling_channels=8, kernel_size=7, dropout=0.0)


@pytest.fixture(scope="module")
def model():
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    return build_conformer(config_for_size("tiny", 12, mel_bands=16, **SMALL))


def test_padding_does_not_leak(model):
    rng = np.random.default_rng(0)
    short, long = rng.normal(size=(37, 16)).astype("float32"), rng.normal(size=(90, 16)).astype("float32")
    batch = np.full((2, 90, 16), 7.0, "float32")  # garbage in the padding must not matter either
    batch[0, :37], batch[1] = short, long
    alone = np.asarray(model({"features": short[None], "lengths": np.array([37], "int32")}, training=False))
    padded = np.asarray(model({"features": batch, "lengths": np.array([37, 90], "int32")}, training=False))
    frames = int(output_lengths(37))
    assert alone.shape[1] == frames
    np.testing.assert_allclose(padded[0, :frames], alone[0], atol=1e-4)


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5, 8, 9, 101])
def test_output_lengths_are_the_model_frames(model, frames):
    features = np.zeros((1, frames, 16), "float32")
    logits = model({"features": features, "lengths": np.array([frames], "int32")}, training=False)
    assert logits.shape[1] == int(output_lengths(frames))


def test_blank_is_zero_for_loss_and_decoder():
    quiet_tensorflow()
    import tensorflow as tf

    path = [0, 3, 3, 0, 5, 0, 0, 3, 0]  # blank 0: decodes to 3 5 3
    logits = np.full((1, len(path), 7), -20.0, "float32")
    logits[0, np.arange(len(path)), path] = 20.0
    assert greedy(log_softmax(logits[0])) == [3, 5, 3]
    loss = tf.nn.ctc_loss(labels=tf.constant([[3, 5, 3, 0]]), logits=tf.constant(logits),
                          label_length=tf.constant([3]), logit_length=tf.constant([len(path)]),
                          logits_time_major=False, blank_index=0)
    assert float(loss[0]) < 1e-3


def test_features_of_digital_silence_are_finite():
    samples = np.zeros(16000, "float32")
    samples[4000:8000] = np.sin(np.arange(4000) * 0.3).astype("float32")
    for audio in (samples, np.zeros(8000, "float32")):
        features = log_mel(audio)
        assert np.isfinite(features).all() and np.abs(features).max() < 100


def _examples(lengths):
    return [Example(id=str(i), features=np.zeros((n, 2), np.float16), tokens=np.ones(1, np.int32), text="A",
                    duration_s=n / 100) for i, n in enumerate(lengths)]


def test_sorta_grad_then_shuffled():
    examples = _examples(np.random.default_rng(1).integers(50, 500, size=200))
    config = DataConfig(batch_frames=2000, max_batch_utterances=8, sorted_epochs=1)
    first, second = (plan_batches(examples, config, seed=0, epoch=e) for e in (0, 1))
    for plan in (first, second):
        assert sorted(i for batch in plan for i in batch) == list(range(200))
    longest = [max(len(examples[i].features) for i in batch) for batch in first]
    assert longest == sorted(longest)
    assert [max(len(examples[i].features) for i in batch) for batch in second] != sorted(longest)
    assert plan_batches(examples, config, seed=0, epoch=0) == first  # a pure function of (seed, epoch)


def test_spec_augment_only_when_asked():
    examples = [Example(id="a", features=np.ones((300, 80), np.float16), tokens=np.ones(3, np.int32), text="A",
                        duration_s=3.0)]
    plain = make_batch(examples, [0])
    masked = make_batch(examples, [0], config=DataConfig(freq_masks=2, time_masks=2),
                        rng=np.random.default_rng(3))
    assert (plain["features"] == 1).all() and (masked["features"] == 0).any()


def test_spec_augment_starts_at_its_step():
    from asr.train import TrainConfig, _batch_stream

    examples = [Example(id=str(i), features=np.ones((200, 80), np.float16), tokens=np.ones(3, np.int32),
                        text="A", duration_s=2.0) for i in range(6)]
    config = TrainConfig(augment_after_steps=4, data=DataConfig(batch_frames=500, max_batch_utterances=2,
                                                                freq_masks=2, time_masks=2))
    stream = _batch_stream(examples, config, start_step=0)
    masked = [bool((batch["features"] == 0).any()) for _, (_, batch) in zip(range(8), stream)]
    assert masked[:4] == [False] * 4 and all(masked[4:])


@pytest.mark.parametrize("schedule", ["noam", "constant"])
def test_learning_rate_schedule_matches_its_log_and_anneals_to_zero(schedule):
    """The rate the optimizer uses is the one the logs print, and the anneal follows the progress variable
    (the share of steps or of the time budget done), reaching zero at the end of the run."""
    quiet_tensorflow()
    import tensorflow as tf

    from asr.train import NoamSchedule, _progress, noam_rate

    progress = tf.Variable(0.0)
    keras_rate = NoamSchedule(2e-3, 10, schedule=schedule, anneal_share=0.25, progress=progress)
    for step, done in [(0, 0.0), (9, 0.1), (40, 0.5), (80, 0.8), (99, 0.99), (100, 1.0)]:
        progress.assign(done)
        expected = noam_rate(step + 1, 2e-3, 10, schedule=schedule, progress=done, anneal_share=0.25)
        assert float(keras_rate(step)) == pytest.approx(expected, rel=1e-5)
    assert noam_rate(50, 2e-3, 10, schedule=schedule, progress=1.0, anneal_share=0.25) == 0.0
    assert noam_rate(50, 2e-3, 10, schedule="constant", progress=0.5, anneal_share=0.25) == pytest.approx(2e-3)
    # Progress is the larger of the step share and the time-budget share, capped at 1.
    assert _progress(25, 100, 10.0, None) == 0.25 and _progress(25, 100, 60.0, 100.0) == 0.6
    assert _progress(25, 100, 500.0, 100.0) == 1.0
