"""Conformer-CTC in Keras 3 (Gulati et al. 2020; NeMo's Conformer-CTC layout), in one file.

features [B, T, mel] and their lengths -> 4x convolutional subsampling (two 3x3 stride-2 convolutions)
-> N Conformer blocks (half feed-forward, relative-position multi-head self-attention, depthwise
convolution module, half feed-forward, layer norm: the macaron layout) -> a dense CTC head kept in
float32 even under mixed precision (CTC on float16 logits is where NaN losses start).

Padding never leaks into real frames: attention masks padded keys and the convolution module zeroes
padded frames before its depthwise convolution. The convolution module normalizes with LayerNorm rather
than BatchNorm so that batch composition (padding, bucket sizes, replicas) cannot change a frame's output
and an exported model needs no batch statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import keras
from keras import layers, ops

__all__ = ["ConformerConfig", "SIZES", "config_for_size", "build_conformer", "output_lengths"]


@dataclass(frozen=True, kw_only=True)
class ConformerConfig:
    vocab_size: int
    mel_bands: int = 80
    d_model: int = 144
    layers: int = 4
    heads: int = 4
    kernel_size: int = 15
    ff_multiplier: int = 4
    subsampling_channels: int = 64
    dropout: float = 0.1
    size: str = "tiny"

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.vocab_size < 2:
            raise ValueError("vocab_size must count the blank and at least one unit")


# small: NeMo Conformer-CTC small (13 M). medium: the People's Speech tutorial's 27 M char model.
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(d_model=144, layers=4, heads=4, kernel_size=15, subsampling_channels=32),
    "small": dict(d_model=176, layers=16, heads=4, kernel_size=31, subsampling_channels=176),
    "medium": dict(d_model=256, layers=16, heads=8, kernel_size=31, subsampling_channels=256),
}


def config_for_size(size: str, vocab_size: int, **overrides: object) -> ConformerConfig:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    return replace(ConformerConfig(vocab_size=vocab_size, size=size, **SIZES[size]), **overrides)


def output_lengths(feature_lengths):
    """Frames after the two padded stride-2 convolutions: ceil(ceil(T / 2) / 2)."""
    return (feature_lengths + 3) // 4


def _sinusoid(positions, d_model: int):
    """Transformer sinusoids of (possibly negative) relative positions: [P] -> [P, d_model]."""
    half = d_model // 2
    inv = ops.exp(ops.arange(half, dtype="float32") * (-math.log(10000.0) / half))
    angles = ops.expand_dims(ops.cast(positions, "float32"), 1) * ops.expand_dims(inv, 0)
    return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)


class RelPositionAttention(layers.Layer):
    """Transformer-XL relative attention: score(i, j) = (q_i + u) k_j + (q_i + v) W p(i - j)."""

    def __init__(self, d_model: int, heads: int, dropout: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.d_model, self.heads, self.depth = d_model, heads, d_model // heads
        self.query, self.key, self.value = (layers.Dense(d_model, name=n) for n in ("query", "key", "value"))
        self.position = layers.Dense(d_model, use_bias=False, name="position")
        self.out = layers.Dense(d_model, name="out")
        self.drop = layers.Dropout(dropout)

    def build(self, input_shape) -> None:
        self.bias_u = self.add_weight(name="bias_u", shape=(self.heads, self.depth), initializer="zeros")
        self.bias_v = self.add_weight(name="bias_v", shape=(self.heads, self.depth), initializer="zeros")
        for dense in (self.query, self.key, self.value, self.out):
            dense.build(input_shape)
        self.position.build((None, self.d_model))

    def _split(self, x):
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (batch, steps, self.heads, self.depth)), (0, 2, 1, 3))

    def call(self, x, mask, training=None):
        steps = ops.shape(x)[1]
        q = self._split(self.query(x))
        k, v = self._split(self.key(x)), self._split(self.value(x))
        relative = ops.arange(steps - 1, -steps, -1)  # i - j from T-1 down to -(T-1)
        p = self.position(ops.cast(_sinusoid(relative, self.d_model), x.dtype))
        p = ops.transpose(ops.reshape(p, (2 * steps - 1, self.heads, self.depth)), (1, 0, 2))  # [H, 2T-1, dk]
        u = ops.cast(ops.reshape(self.bias_u, (1, self.heads, 1, self.depth)), x.dtype)
        w = ops.cast(ops.reshape(self.bias_v, (1, self.heads, 1, self.depth)), x.dtype)
        content = ops.matmul(q + u, ops.transpose(k, (0, 1, 3, 2)))
        by_position = ops.einsum("bhtd,hpd->bhtp", q + w, p)  # [B, H, T, 2T-1]
        # Column of relative position i - j for query i, key j: (T - 1) - i + j.
        index = (steps - 1) - ops.expand_dims(ops.arange(steps), 1) + ops.expand_dims(ops.arange(steps), 0)
        index = ops.broadcast_to(ops.reshape(index, (1, 1, steps, steps)), ops.shape(content))
        by_position = ops.take_along_axis(by_position, index, axis=3)
        scores = ops.cast(content + by_position, "float32") / math.sqrt(self.depth)
        key_mask = ops.reshape(mask, (ops.shape(mask)[0], 1, 1, steps))
        scores = ops.where(key_mask, scores, ops.full_like(scores, -1e9))
        weights = self.drop(ops.cast(ops.softmax(scores, axis=-1), x.dtype), training=training)
        context = ops.reshape(ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3)),
                              (ops.shape(x)[0], steps, self.d_model))
        return self.out(context)


class ConformerBlock(layers.Layer):
    def __init__(self, config: ConformerConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        d, hidden = config.d_model, config.d_model * config.ff_multiplier
        self.ff1 = [layers.LayerNormalization(name="ff1_norm"), layers.Dense(hidden, activation="silu", name="ff1_in"),
                    layers.Dropout(config.dropout), layers.Dense(d, name="ff1_out"), layers.Dropout(config.dropout)]
        self.ff2 = [layers.LayerNormalization(name="ff2_norm"), layers.Dense(hidden, activation="silu", name="ff2_in"),
                    layers.Dropout(config.dropout), layers.Dense(d, name="ff2_out"), layers.Dropout(config.dropout)]
        self.attention_norm = layers.LayerNormalization(name="attention_norm")
        self.attention = RelPositionAttention(d, config.heads, config.dropout, name="attention")
        self.attention_drop = layers.Dropout(config.dropout)
        self.conv_norm = layers.LayerNormalization(name="conv_norm")
        self.pointwise_in = layers.Dense(2 * d, name="pointwise_in")
        self.depthwise = layers.DepthwiseConv1D(config.kernel_size, padding="same", name="depthwise")
        self.depthwise_norm = layers.LayerNormalization(name="depthwise_norm")
        self.pointwise_out = layers.Dense(d, name="pointwise_out")
        self.conv_drop = layers.Dropout(config.dropout)
        self.final_norm = layers.LayerNormalization(name="final_norm")

    @staticmethod
    def _feed_forward(stack, x, training):
        for layer in stack:
            x = layer(x, training=training) if isinstance(layer, layers.Dropout) else layer(x)
        return x

    def call(self, x, mask, training=None):
        frame_mask = ops.cast(ops.expand_dims(mask, -1), x.dtype)
        x = x + 0.5 * self._feed_forward(self.ff1, x, training)
        x = x + self.attention_drop(self.attention(self.attention_norm(x), mask, training=training), training=training)
        y = self.pointwise_in(self.conv_norm(x))
        y = y[..., : y.shape[-1] // 2] * ops.sigmoid(y[..., y.shape[-1] // 2:])  # GLU
        y = self.depthwise(y * frame_mask)
        y = self.pointwise_out(ops.silu(self.depthwise_norm(y)))
        x = x + self.conv_drop(y, training=training)
        x = x + 0.5 * self._feed_forward(self.ff2, x, training)
        return self.final_norm(x) * frame_mask


class Subsampling(layers.Layer):
    """Two 3x3 stride-2 convolutions over (time, mel), then a projection to d_model: 4x fewer frames."""

    def __init__(self, config: ConformerConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        channels = config.subsampling_channels
        self.conv1 = layers.Conv2D(channels, 3, strides=2, padding="valid", activation="relu", name="conv1")
        self.conv2 = layers.Conv2D(channels, 3, strides=2, padding="valid", activation="relu", name="conv2")
        self.project = layers.Dense(config.d_model, name="project")
        self.flat = channels * ((config.mel_bands + 3) // 4)

    def call(self, features, lengths):
        # Explicit one-frame padding and 'valid' convolutions: TF's 'same' padding puts its extra frame
        # before or after depending on the length's parity, which would make outputs depend on padding.
        pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
        x = self.conv1(ops.pad(ops.expand_dims(features, -1), pad))
        # Padded frames leave conv1 as relu(bias), not zero: mask them before conv2 reads the last real frame.
        half_mask = ops.expand_dims(ops.arange(ops.shape(x)[1]), 0) < ops.expand_dims((lengths + 1) // 2, 1)
        x = x * ops.cast(ops.reshape(half_mask, (ops.shape(x)[0], ops.shape(x)[1], 1, 1)), x.dtype)
        x = self.conv2(ops.pad(x, pad))
        x = ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], self.flat))
        return self.project(x)


class ConformerEncoder(layers.Layer):
    """Subsampling, padding mask and the Conformer blocks; the mask needs the runtime frame count, so it
    is built inside a layer rather than on symbolic tensors."""

    def __init__(self, config: ConformerConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.subsampling = Subsampling(config, name="subsampling")
        self.drop = layers.Dropout(config.dropout)
        self.blocks = [ConformerBlock(config, name=f"conformer_{i}") for i in range(config.layers)]

    def call(self, features, lengths, training=None):
        lengths = ops.cast(lengths, "int32")
        # Zero the padding first, so a padded batch and an utterance alone give the same frames.
        input_mask = ops.expand_dims(ops.arange(ops.shape(features)[1]), 0) < ops.expand_dims(lengths, 1)
        features = features * ops.cast(ops.expand_dims(input_mask, -1), features.dtype)
        x = self.drop(self.subsampling(features, lengths), training=training)
        frames = ops.shape(x)[1]
        mask = ops.expand_dims(ops.arange(frames), 0) < ops.expand_dims(output_lengths(lengths), 1)
        for block in self.blocks:
            x = block(x, mask, training=training)
        return x


def build_conformer(config: ConformerConfig) -> keras.Model:
    """Inputs: features [B, T, mel] float32, lengths [B] int32. Output: CTC logits [B, ceil(T/4), vocab] float32."""
    features = keras.Input((None, config.mel_bands), name="features")
    lengths = keras.Input((), dtype="int32", name="lengths")
    x = ConformerEncoder(config, name="encoder")(features, lengths)
    logits = layers.Dense(config.vocab_size, dtype="float32", name="ctc_head")(x)
    return keras.Model({"features": features, "lengths": lengths}, logits, name=f"conformer_ctc_{config.size}")
