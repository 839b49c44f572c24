"""int8 export: every architecture (tiny configs) converts to builtin int8 ops and runs in LiteRT's reference
kernels with the front end's input quantization; a float op left behind is a clear error; arena plan;
C sources from templates."""

import subprocess
import shutil

import numpy as np
import pytest

from export.arena import Buffer, estimate_arena, greedy_plan
from export.c_array import c_string, write_model_sources, write_settings_header
from export.flatbuffer import read_tflite
from export.quantize import FloatOpsError, LiteRtModel, check_int8, to_int8_tflite
from kws.common import SILENCE, UNKNOWN
from kws.features import INT8_SCALE, float_to_int8
from kws.models import build_classifier, ds_cnn, efficientnet, tiny_conv
from kws.streaming import StreamingConfig

TINY = {
    "tiny_conv": tiny_conv.Config(),
    "ds_cnn": ds_cnn.Config(size="s", channels=16, blocks=2),
    "efficientnet": efficientnet.Config(width=0.25, depth=0.34),
}


def _features(n, seed=0):
    rng = np.random.default_rng(seed)
    q = np.clip(rng.normal(-40, 50, size=(n, 49, 40)), -128, 127).astype(np.int8)
    return ((q.astype(np.float32) + 128) * INT8_SCALE).astype(np.float32)


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_architecture_exports_to_int8_builtin_ops(name):
    import keras

    keras.utils.set_random_seed(1)
    model = build_classifier(TINY[name], 5, embedding_dim=16 if name != "tiny_conv" else 0)
    x = _features(64)
    for _ in range(3):  # settle batch-norm statistics, as training would (untrained stats give degenerate ranges)
        model(x, training=True)
    data = to_int8_tflite(model, x)
    info = check_int8(data)
    assert set(info.op_names()) <= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "RESHAPE", "MEAN",
                                    "AVERAGE_POOL_2D",
                                    "ADD", "MUL", "LOGISTIC"}
    lite = LiteRtModel(data)  # reference kernels
    assert lite.input_shape == (1, 49, 40)
    assert (lite.input_scale, lite.input_zero_point) == (pytest.approx(INT8_SCALE, rel=1e-7), -128)
    assert (lite.output_scale, lite.output_zero_point) == (pytest.approx(1 / 256), -128)
    # the firmware feeds front-end int8 values unchanged
    assert np.array_equal(lite.quantize_input(x[:4]), float_to_int8(x[:4]))
    probabilities = lite.probabilities(x[:8])
    assert probabilities.shape == (8, 5) and np.allclose(probabilities.sum(axis=1), 1.0, atol=0.05)


def test_b0_has_the_weights_of_keras_efficientnet_b0():
    import keras

    ours = efficientnet.build(efficientnet.Config())
    reference = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(49, 40, 1))
    count = lambda m: sum(int(np.prod(w.shape)) for w in m.trainable_weights)  # noqa: E731
    assert count(ours) == count(reference) == 4_006_972


def test_a_float_op_left_behind_is_a_clear_error():
    import keras
    import tensorflow as tf
    from keras import layers

    inputs = keras.Input((49, 40))
    x = layers.Reshape((49, 40, 1))(inputs)
    x = layers.Conv2D(4, 3, strides=2)(x)
    x = layers.Lambda(lambda t: tf.math.sin(t), name="sine")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Softmax()(layers.Dense(3)(x)))
    with pytest.raises(FloatOpsError) as error:
        to_int8_tflite(model, _features(16))
    assert "SIN" in str(error.value) and error.value.float_ops and "float" in str(error.value)


def test_greedy_plan_matches_a_hand_worked_example():
    buffers = [Buffer(name="a", size=100, first=0, last=1), Buffer(name="b", size=50, first=1, last=2),
               Buffer(name="c", size=80, first=2, last=3), Buffer(name="d", size=30, first=3, last=3)]
    offsets, high = greedy_plan(buffers)
    # a (largest) at 0; c does not overlap a in time -> 0; b overlaps a and c -> after a (100); d overlaps c -> 80
    assert offsets == [0, 100, 0, 80] and high == 150


def test_arena_estimate_of_a_real_model(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = build_classifier(TINY["ds_cnn"], 4, embedding_dim=16)
    data = to_int8_tflite(model, _features(16))
    arena = estimate_arena(data)
    info = read_tflite(data)
    activations = [t for t in info.tensors if not t.constant]
    largest = max(t.nbytes for t in activations)
    assert largest <= arena.activations_bytes <= sum(t.nbytes + 16 for t in activations) + arena.scratch_bytes
    # DS-CNN keeps two feature maps alive: 25 x 20 x 16 int8 each
    assert arena.activations_bytes >= 2 * 25 * 20 * 16
    assert arena.estimated_bytes == pytest.approx(arena.activations_bytes + arena.persistent_bytes, abs=16)
    assert arena.arena_bytes >= arena.activations_bytes  # TFLM's measurement where the wheel is installed


def test_c_sources_from_templates_compile(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = build_classifier(tiny_conv.Config(), 4)
    data = to_int8_tflite(model, _features(16))
    paths = write_model_sources(data, tmp_path)
    lite = LiteRtModel(data)
    labels = (SILENCE, UNKNOWN, "akawuka", 'say "hi"\\')
    settings = write_settings_header(tmp_path, streaming=StreamingConfig(labels=labels, detection_threshold=150),
                                     input_scale=lite.input_scale, input_zero_point=lite.input_zero_point,
                                     output_scale=lite.output_scale, output_zero_point=lite.output_zero_point,
                                     arena_bytes=12345, arena_note="test")
    source = paths[1].read_text()
    assert f"{len(data)}" in source and "alignas(16)" in source
    assert source.count("0x") == len(data)
    header = settings.read_text()
    assert "#define KWS_DETECTION_THRESHOLD 150" in header and '"say \\"hi\\"\\\\"' in header
    assert "#define KWS_FEATURE_FRAMES 49" in header and "#define KWS_INPUT_ZERO_POINT -128" in header
    with pytest.raises(ValueError):
        c_string("bad\nlabel")
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler to compile the generated sources")
    main = tmp_path / "main.cc"
    main.write_text('#include "model_data.h"\n#include "model_settings.h"\n#include <cstdio>\n'
                    'int main() { std::printf("%u %d %s\\n", g_kws_model_data_len, KWS_CATEGORY_COUNT, '
                    'kKwsCategoryLabels[2]); return g_kws_model_data[4] == \'T\' ? 0 : 1; }\n')
    binary = tmp_path / "main"
    subprocess.run([compiler, "-std=c++17", "-Wall", "-Werror", "-o", str(binary), str(main), str(paths[1])],
                   check=True, cwd=tmp_path)
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(data)), "4", "akawuka"]
