"""EfficientNet (Tan & Le 2019) on micro-frontend features, as the embedding of "Few-Shot Keyword Spotting
in Any Language" (Mazumder et al. 2021), which trained EfficientNet-B0 from scratch (weights=None) on
49x40 spectrograms.

Written out here rather than taken from `keras.applications` so that width and depth are parameters
(tests build tiny variants) and the input is one-channel features, not a normalized RGB image. With
width = depth = 1 it is B0: the same block table, filter rounding, swish, squeeze-and-excitation and
drop-connect; its trainable weights equal `keras.applications.EfficientNetB0(include_top=False,
weights=None, input_shape=(49, 40, 1))`'s (a test compares the counts). Convolutions use "same"
padding instead of Keras' explicit zero padding, which changes no weight shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from export.frontend import FRONTEND

__all__ = ["Config", "build", "vector", "B0_BLOCKS"]

NAME = "efficientnet"

# (kernel, repeats, filters in, filters out, expand ratio, stride, squeeze-excite ratio)
B0_BLOCKS = (
    (3, 1, 32, 16, 1, 1, 0.25),
    (3, 2, 16, 24, 6, 2, 0.25),
    (5, 2, 24, 40, 6, 2, 0.25),
    (3, 3, 40, 80, 6, 2, 0.25),
    (5, 3, 80, 112, 6, 1, 0.25),
    (5, 4, 112, 192, 6, 2, 0.25),
    (3, 1, 192, 320, 6, 1, 0.25),
)


@dataclass(frozen=True, kw_only=True)
class Config:
    arch: str = NAME
    width: float = 1.0  # B0: 1.0
    depth: float = 1.0  # B0: 1.0
    drop_connect_rate: float = 0.2
    top_filters: int = 1280  # before width scaling


def _round_filters(filters: float, width: float, divisor: int = 8) -> int:
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


def _round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


def vector(x, config: Config):
    from keras import layers

    def bn(name):
        return layers.BatchNormalization(momentum=0.9, name=name)

    x = layers.Reshape((*x.shape[1:], 1), name="to_image")(x)
    x = layers.Conv2D(_round_filters(32, config.width), 3, strides=2, padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = layers.Activation("swish", name="stem_activation")(bn("stem_bn")(x))
    total = sum(_round_repeats(r, config.depth) for _, r, *_ in B0_BLOCKS)
    block = 0
    for stage, (kernel, repeats, f_in, f_out, expand, stride, se_ratio) in enumerate(B0_BLOCKS):
        f_in, f_out = _round_filters(f_in, config.width), _round_filters(f_out, config.width)
        for r in range(_round_repeats(repeats, config.depth)):
            name = f"block{stage + 1}{chr(ord('a') + r)}_"
            inputs, filters_in = x, (f_in if r == 0 else f_out)
            s = stride if r == 0 else 1
            expanded = filters_in * expand
            if expand != 1:
                x = layers.Conv2D(expanded, 1, padding="same", use_bias=False, name=name + "expand_conv")(x)
                x = layers.Activation("swish", name=name + "expand_activation")(bn(name + "expand_bn")(x))
            x = layers.DepthwiseConv2D(kernel, strides=s, padding="same", use_bias=False, name=name + "dwconv")(x)
            x = layers.Activation("swish", name=name + "activation")(bn(name + "bn")(x))
            squeezed = max(1, int(filters_in * se_ratio))
            se = layers.GlobalAveragePooling2D(keepdims=True, name=name + "se_squeeze")(x)
            se = layers.Conv2D(squeezed, 1, activation="swish", name=name + "se_reduce")(se)
            se = layers.Conv2D(expanded, 1, activation="sigmoid", name=name + "se_expand")(se)
            x = layers.Multiply(name=name + "se_excite")([x, se])
            x = layers.Conv2D(f_out, 1, padding="same", use_bias=False, name=name + "project_conv")(x)
            x = bn(name + "project_bn")(x)
            if s == 1 and filters_in == f_out:
                rate = config.drop_connect_rate * block / total
                if rate > 0:
                    x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=name + "drop")(x)
                x = layers.Add(name=name + "add")([x, inputs])
            block += 1
    x = layers.Conv2D(_round_filters(config.top_filters, config.width), 1, padding="same", use_bias=False,
                      name="top_conv")(x)
    x = layers.Activation("swish", name="top_activation")(bn("top_bn")(x))
    return layers.GlobalAveragePooling2D(name="pool")(x)


def build(config: Config, input_shape: tuple[int, int] = FRONTEND.shape):
    import keras

    inputs = keras.Input(input_shape, name="features")
    return keras.Model(inputs, vector(inputs, config), name="efficientnet")
