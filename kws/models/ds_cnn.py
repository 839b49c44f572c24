"""DS-CNN (Hello Edge, Zhang et al. 2017): a standard convolution, then depthwise-separable blocks
(3x3 depthwise + 1x1 pointwise, each with batch norm and ReLU), global average pooling (exported as
AVERAGE_POOL_2D).

Sizes as in ARM's ML-KWS-for-MCU reference (first layer 10x4), on 49x40 micro-frontend features:

    S: conv 64  stride (2,2); 4 blocks of 64,  all stride 1             (~24k weights)
    M: conv 172 stride (2,1); 4 blocks of 172, the first stride (2,2)  (~140k)
    L: conv 276 stride (2,1); 5 blocks of 276, the first stride (2,2)  (~420k)

`channels`/`blocks` override the size's values (tests use tiny ones); `first_stride` / `block_stride` the
strides of the first convolution and of the first DS block (kws.models.PRESETS["ds_cnn_s"], the deployable
backbone, uses (2, 4) and (2, 2): 13 x 5 maps through the blocks, 1.9 M MACs instead of S's 10.6 M).
"""

from __future__ import annotations

from dataclasses import dataclass

from export.frontend import FRONTEND

__all__ = ["Config", "build", "vector", "SIZES"]

NAME = "ds_cnn"

# size -> (channels, first stride, number of DS blocks, stride of the first DS block)
SIZES = {"s": (64, (2, 2), 4, (1, 1)), "m": (172, (2, 1), 4, (2, 2)), "l": (276, (2, 1), 5, (2, 2))}


@dataclass(frozen=True, kw_only=True)
class Config:
    arch: str = NAME
    size: str = "s"
    channels: int = 0  # 0: the size's width
    blocks: int = 0  # 0: the size's number of depthwise-separable blocks
    first_kernel: tuple[int, int] = (10, 4)
    first_stride: tuple[int, int] | None = None  # None: the size's stride
    block_stride: tuple[int, int] | None = None  # stride of the first DS block; None: the size's

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"DS-CNN size must be one of {sorted(SIZES)}, got {self.size!r}")


def vector(x, config: Config):
    """Functional body: [B, frames, channels] features -> [B, width] pooled vector."""
    from keras import layers

    width, first_stride, blocks, block_stride = SIZES[config.size]
    width = config.channels or width
    blocks = config.blocks or blocks
    x = layers.Reshape((*x.shape[1:], 1), name="to_image")(x)
    x = layers.Conv2D(width, config.first_kernel, strides=config.first_stride or first_stride, padding="same",
                      use_bias=False,
                      name="conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name="conv_bn")(x)
    x = layers.ReLU(name="conv_relu")(x)
    for i in range(blocks):
        stride = (config.block_stride or block_stride) if i == 0 else (1, 1)
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"ds{i}_dw")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"ds{i}_dw_bn")(x)
        x = layers.ReLU(name=f"ds{i}_dw_relu")(x)
        x = layers.Conv2D(width, 1, use_bias=False, name=f"ds{i}_pw")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"ds{i}_pw_bn")(x)
        x = layers.ReLU(name=f"ds{i}_pw_relu")(x)
    # the global average as one AveragePooling2D over the whole map (+ Flatten): the int8 converter then emits
    # AVERAGE_POOL_2D, which keeps the input's quantization (TFLM's and the C engine's cheap kernel), where
    # GlobalAveragePooling2D gives MEAN (a requantizing reduction)
    x = layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    return layers.Flatten(name="pool_flat")(x)


def build(config: Config, input_shape: tuple[int, int] = FRONTEND.shape):
    import keras

    inputs = keras.Input(input_shape, name="features")
    return keras.Model(inputs, vector(inputs, config), name=f"ds_cnn_{config.size}")
