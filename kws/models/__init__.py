"""Model architectures, one module each, with one contract:

    module.Config             frozen keyword-only dataclass; `arch` names the module
    module.vector(x, config)  functional body: features tensor [B, 49, 40] -> pooled vector [B, D]
    module.build(config)      keras.Model: features -> vector (the backbone alone)

`build_classifier` puts a classifier on any backbone (optionally through a named "embedding" layer,
the penultimate layer that few-shot models reuse); `PRESETS` names the usual sizes. Every model takes
float features (kws.features) and ends in a Softmax layer named "probs", so the int8 export's output is
the probability scaled by 256, as RecognizeCommands expects.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from corpus.configs import from_jsonable, to_jsonable
from kws.models import ds_cnn, efficientnet, tiny_conv
from export.frontend import FRONTEND

__all__ = ["ARCHITECTURES", "PRESETS", "preset", "config_from_json", "config_to_json", "build_backbone",
           "build_classifier", "describe"]

ARCHITECTURES: dict[str, ModuleType] = {m.NAME: m for m in (tiny_conv, ds_cnn, efficientnet)}

PRESETS: dict[str, Any] = {
    "tiny_conv": tiny_conv.Config(),
    # first-layer frequency stride 4 for 40 filterbank channels: the maps after it are 25 x 10, the size
    # Hello Edge's M and L have on 10 MFCCs; measured on the demo corpus, S learns faster and better this way
    # than with its reference stride (2, 2) (held-out word accuracy 0.44 vs 0.35 after 12 epochs, 1.5x faster)
    # First DS block stride (2, 2) (as M and L have): 13 x 5 maps through the four 64 x 64 pointwise layers,
    # 1.9 M MACs an inference instead of 5.3 M, so that the Cortex-M4 build runs at <= 50 % of a 64 MHz core at
    # the stored stride (kws.streaming.DEPLOY_STRIDE_FRAMES); quality before/after: README, firmware section.
    "ds_cnn_s": ds_cnn.Config(size="s", first_stride=(2, 4), block_stride=(2, 2)),
    "ds_cnn_m": ds_cnn.Config(size="m", first_stride=(2, 4)),
    "ds_cnn_l": ds_cnn.Config(size="l", first_stride=(2, 4)),
    "efficientnet_b0": efficientnet.Config(),
}


def preset(name: str):
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def config_to_json(config) -> dict:
    return to_jsonable(config)


def config_from_json(data: dict):
    arch = data.get("arch")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    return from_jsonable(ARCHITECTURES[arch].Config, data)


def build_backbone(config, input_shape: tuple[int, int] = FRONTEND.shape):
    return ARCHITECTURES[config.arch].build(config, input_shape)


def build_classifier(config, num_classes: int, *, input_shape: tuple[int, int] = FRONTEND.shape,
                     embedding_dim: int = 0,
                     dropout: float = 0.0, name: str = "classifier"):
    """features -> backbone -> [Dense(embedding_dim, relu) "embedding"] -> [Dropout] -> Dense "logits" -> "probs"."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="features")
    x = ARCHITECTURES[config.arch].vector(inputs, config)
    if embedding_dim:
        x = layers.Dense(embedding_dim, activation="relu", name="embedding")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, layers.Softmax(name="probs")(x), name=name)


def describe(config) -> str:
    if config.arch == "ds_cnn":
        return f"DS-CNN-{config.size.upper()}" + (f" (width {config.channels})" if config.channels else "")
    if config.arch == "efficientnet":
        return "EfficientNet-B0" if (config.width, config.depth) == (1.0, 1.0) else \
            f"EfficientNet (width {config.width}, depth {config.depth})"
    return "tiny_conv (micro_speech)"
