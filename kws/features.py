"""Micro-frontend features: the TFLite-Micro front end, through TensorFlow's `audio_microfrontend` op.

Definition (shared by training, evaluation, `detect` and the firmware; every parameter is a field of
`export.frontend.FrontendConfig`, saved in each model folder and in the generated C header):

    16 kHz int16 audio -> audio_microfrontend(window 30 ms, step 20 ms, 40 channels, PCAN on, log scale)
    -> uint16 v per channel and frame -> int8 q = clip(((v * 256) + 333) // 666 - 128, -128, 127)

One second gives 49 frames x 40 channels. This reproduces the integer vectors of TFLM's own tests
(`golden_features.json`, `current_pipeline`) exactly, and TFLM's micro_speech reference model classifies
its four clips correctly on these features (both are tests).

Models take the float form x = (q + 128) * 666 / 6553.6, i.e. q dequantized with scale 0.1016235 and zero
point -128, which equals v * 10 / 256 (TensorFlow's micro_speech training scale) rounded to the int8
grid. The int8 model's input tensor is pinned to exactly that scale and zero point at export
(`export.quantize`), so the firmware feeds q straight into the model.

The front end has state: a per-channel noise estimate that feeds noise reduction and PCAN. A 1-s clip
processed alone starts from a zero estimate; the same second inside a stream does not, and the values
differ a lot (up to half the range) for the first seconds. `FeatureStream` is the streaming form: it
keeps `history_s` of audio before each new block so the estimate is warm, and gives frames identical
to processing the whole signal at once once the estimate has forgotten its start (measured: identical
with 8 s of history on speech and noise; the default keeps 10 s). Training therefore prepends context
audio to clips (`kws.data`) so that models see warm-state features, as in a stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from corpus.audio import to_int16
from export.frontend import FRONTEND, FrontendConfig

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = [
    "FrontendConfig", "FRONTEND", "INT8_SCALE", "INT8_ZERO_POINT", "uint16_to_int8", "int8_to_float",
    "float_to_int8", "frontend_uint16", "features_int8", "features_float", "clip_features_int8", "FeatureStream",
    "tf_frontend_uint16", "tf_uint16_to_int8", "tf_int8_to_float", "as_int16",
]

INT8_ZERO_POINT = FRONTEND.int8_zero_point  # of the default definition; a model's own is in its config
INT8_SCALE = FRONTEND.int8_scale  # float value of one int8 step: (10 / 256) * (666 / 256)


def as_int16(samples: np.ndarray) -> np.ndarray:
    """int16 as is; float in [-1, 1] rounded and saturated (corpus.audio.to_int16)."""
    samples = np.asarray(samples)
    return samples if samples.dtype == np.int16 else to_int16(samples)


def uint16_to_int8(values: np.ndarray, config: FrontendConfig = FRONTEND) -> np.ndarray:
    return config.uint16_to_int8(values)


def int8_to_float(q: np.ndarray, config: FrontendConfig = FRONTEND) -> np.ndarray:
    return config.int8_to_float(q)


def float_to_int8(x: np.ndarray, config: FrontendConfig = FRONTEND) -> np.ndarray:
    """Inverse of int8_to_float for values on the grid (round to nearest, saturate)."""
    return config.float_to_int8(x)


def tf_frontend_uint16(samples_int16: "tf.Tensor", config: FrontendConfig = FRONTEND) -> "tf.Tensor":
    """The op on a 1-D int16 tensor: [frames, channels] uint16 (usable inside tf.data / tf.function)."""
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op

    return audio_microfrontend_op.audio_microfrontend(samples_int16, out_type=tf.uint16, **config.op_kwargs())


def tf_uint16_to_int8(values: "tf.Tensor", config: FrontendConfig = FRONTEND) -> "tf.Tensor":
    import tensorflow as tf

    v = tf.cast(values, tf.int32)
    q = tf.math.floordiv(v * config.int8_multiplier + config.int8_offset, config.int8_divisor) + config.int8_zero_point
    return tf.cast(tf.clip_by_value(q, -128, 127), tf.int8)


def tf_int8_to_float(q: "tf.Tensor", config: FrontendConfig = FRONTEND) -> "tf.Tensor":
    import tensorflow as tf

    return (tf.cast(q, tf.float32) - float(config.int8_zero_point)) * config.int8_scale


def frontend_uint16(samples: np.ndarray, config: FrontendConfig = FRONTEND) -> np.ndarray:
    """uint16 [frames, channels] of a whole signal (float in [-1, 1] or int16), from a zero state."""
    import tensorflow as tf

    samples = as_int16(samples).reshape(-1)
    if config.frames_for(len(samples)) == 0:
        return np.zeros((0, config.channels), np.uint16)
    return tf_frontend_uint16(tf.constant(samples), config).numpy()


def features_int8(samples: np.ndarray, config: FrontendConfig = FRONTEND) -> np.ndarray:
    return config.uint16_to_int8(frontend_uint16(samples, config))


def features_float(samples: np.ndarray, config: FrontendConfig = FRONTEND) -> np.ndarray:
    return config.int8_to_float(features_int8(samples, config))


def clip_features_int8(samples: np.ndarray, config: FrontendConfig = FRONTEND, *,
                       context: np.ndarray | None = None) -> np.ndarray:
    """[frames, channels] int8 of one clip (padded or cut to clip length), optionally after `context`
    audio that warms the front end's noise estimate (the context's own frames are dropped)."""
    clip = as_int16(samples).reshape(-1)[: config.clip_samples]
    clip = np.pad(clip, (0, config.clip_samples - len(clip)))
    if context is None or len(context) == 0:
        return features_int8(clip, config)
    context = as_int16(context).reshape(-1)
    context = context[len(context) % config.stride_samples:]  # whole strides, so clip frames stay aligned
    return features_int8(np.concatenate([context, clip]), config)[-config.frames:]


class FeatureStream:
    """Streaming form of the front end: push audio blocks of any size, get the new int8 frames.

    The op itself has no state API, so each push reruns it over `history_s` of audio before the new
    samples (kept frame-aligned) and returns only frames not returned before. With enough history the
    frames equal `features_int8` of the whole signal (see the module docstring); memory is bounded by
    history + block whatever the stream's length.
    """

    def __init__(self, config: FrontendConfig = FRONTEND, *, history_s: float = 10.0) -> None:
        self.config = config
        stride = config.stride_samples
        self.history_samples = int(round(history_s * config.sample_rate_hz)) // stride * stride
        self._buffer = np.zeros(0, np.int16)
        self._buffer_start = 0  # absolute sample index of _buffer[0]; always a multiple of the stride
        self.frames_emitted = 0

    @property
    def samples_seen(self) -> int:
        return self._buffer_start + len(self._buffer)

    def push(self, samples: np.ndarray) -> np.ndarray:
        config = self.config
        self._buffer = np.concatenate([self._buffer, as_int16(samples).reshape(-1)])
        available = config.frames_for(self.samples_seen)
        if available <= self.frames_emitted:
            return np.zeros((0, config.channels), np.int8)
        first_buffer_frame = self._buffer_start // config.stride_samples
        frames = features_int8(self._buffer, config)
        new = frames[self.frames_emitted - first_buffer_frame: available - first_buffer_frame]
        self.frames_emitted = available
        # Keep `history_samples` before the next frame's first sample, aligned to the stride.
        next_frame_start = self.frames_emitted * config.stride_samples
        keep_from = max(self._buffer_start, next_frame_start - self.history_samples)
        self._buffer = self._buffer[keep_from - self._buffer_start:]
        self._buffer_start = keep_from
        return new
