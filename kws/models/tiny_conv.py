"""micro_speech's `tiny_conv` (TensorFlow speech_commands `models.py`): one 10x8 convolution with 8
filters, stride 2, ReLU, then a fully connected layer on the flattened map. ~16k weights for 4 classes
on 49x40 features: the size of TFLM's reference `micro_speech_quantized.tflite` (18.7 KB)."""

from __future__ import annotations

from dataclasses import dataclass

from export.frontend import FRONTEND

__all__ = ["Config", "build", "vector"]

NAME = "tiny_conv"


@dataclass(frozen=True, kw_only=True)
class Config:
    arch: str = NAME
    filters: int = 8
    kernel: tuple[int, int] = (10, 8)
    stride: tuple[int, int] = (2, 2)


def vector(x, config: Config):
    """Functional body: [B, frames, channels] -> flattened conv map (the FC layer is the classifier's)."""
    from keras import layers

    x = layers.Reshape((*x.shape[1:], 1), name="to_image")(x)
    x = layers.Conv2D(config.filters, config.kernel, strides=config.stride, padding="same", name="conv")(x)
    x = layers.ReLU(name="conv_relu")(x)
    return layers.Flatten(name="flatten")(x)


def build(config: Config, input_shape: tuple[int, int] = FRONTEND.shape):
    import keras

    inputs = keras.Input(input_shape, name="features")
    return keras.Model(inputs, vector(inputs, config), name="tiny_conv")
