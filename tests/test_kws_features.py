"""Micro-frontend features: TFLM golden vectors, the TFLM reference model through our features, the int8
form, and the streaming form."""

import json

import numpy as np
import soundfile as sf

from kws.features import (FRONTEND, INT8_SCALE, FeatureStream, clip_features_int8, features_int8, float_to_int8,
                          frontend_uint16, int8_to_float, uint16_to_int8)


def _read_int16(path):
    samples, rate = sf.read(path, dtype="int16")
    assert rate == 16000
    return samples


def test_golden_features_current_pipeline_exact(tflm_reference):
    golden = json.loads((tflm_reference / "golden_features.json").read_text())["current_pipeline"]
    assert set(golden) == {"yes_30ms.wav", "no_30ms.wav"}
    for name, entry in golden.items():
        features = features_int8(_read_int16(tflm_reference / name))
        assert features.shape == (1, 40) and features.dtype == np.int8
        assert features[0].tolist() == entry["values"], name


def test_reference_model_classifies_the_four_clips_through_our_features(tflm_reference):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(tflm_reference / "micro_speech_quantized.tflite"),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert tuple(inp["shape"]) == (1, 1960) and inp["dtype"] == np.int8
    # the model's input quantization is (up to its calibration, 0.1%) the front end's int8 form
    assert inp["quantization"][1] == -128 and abs(inp["quantization"][0] / INT8_SCALE - 1) < 1e-3
    labels = ["silence", "unknown", "yes", "no"]
    expected = {"yes_1000ms.wav": "yes", "no_1000ms.wav": "no", "silence_1000ms.wav": "silence",
                "noise_1000ms.wav": "silence"}
    for name, label in expected.items():
        features = features_int8(_read_int16(tflm_reference / name))
        assert features.shape == (49, 40)
        interpreter.set_tensor(inp["index"], features.reshape(1, 1960))
        interpreter.invoke()
        scores = interpreter.get_tensor(out["index"])[0]
        assert labels[int(np.argmax(scores))] == label, (name, scores)


def test_int8_form_is_the_tflm_formula():
    v = np.arange(0, 2000, dtype=np.uint16)
    expected = np.clip((v.astype(np.int64) * 256 + 333) // 666 - 128, -128, 127)
    assert np.array_equal(uint16_to_int8(v), expected)
    q = np.arange(-128, 128, dtype=np.int8)
    assert np.array_equal(float_to_int8(int8_to_float(q)), q)
    # float form = v * 10 / 256 rounded onto the int8 grid
    assert np.allclose(int8_to_float(uint16_to_int8(v[:600])), v[:600] * 10 / 256, atol=INT8_SCALE / 2 + 1e-6)


def test_tf_and_numpy_int8_forms_agree():
    import tensorflow as tf

    from kws.features import tf_uint16_to_int8

    v = np.random.default_rng(0).integers(0, 700, size=(49, 40)).astype(np.uint16)
    assert np.array_equal(tf_uint16_to_int8(tf.constant(v)).numpy(), uint16_to_int8(v))


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    bursts = (np.sin(2 * np.pi * 0.7 * t) > 0.3).astype(np.float32)
    tone = np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * 0.3 * t)) * t)
    return (0.3 * bursts * tone + 0.02 * rng.standard_normal(n)).astype(np.float32)


def test_feature_stream_equals_whole_signal_for_any_block_sizes():
    audio = _speechlike(30.0, 1)
    whole = features_int8(audio)
    rng = np.random.default_rng(2)
    stream, parts, position = FeatureStream(), [], 0
    while position < len(audio):
        size = int(rng.integers(1, 48000))
        parts.append(stream.push(audio[position:position + size]))
        position += size
    streamed = np.concatenate(parts)
    assert streamed.shape == whole.shape == (FRONTEND.frames_for(len(audio)), 40)
    assert np.array_equal(streamed, whole)


def test_feature_stream_with_short_history_differs_so_the_test_above_can_fail():
    audio = _speechlike(12.0, 3)
    stream = FeatureStream(history_s=0.1)
    streamed = np.concatenate([stream.push(audio[i:i + 16000]) for i in range(0, len(audio), 16000)])
    assert not np.array_equal(streamed, features_int8(audio))


def test_context_warms_the_front_end_and_even_digital_silence_changes_its_state():
    clip = _speechlike(1.0, 4)
    cold = clip_features_int8(clip)
    assert np.array_equal(clip_features_int8(clip, context=np.zeros(0, np.float32)), cold)
    after_silence = clip_features_int8(clip, context=np.zeros(16000, np.float32))
    warm = clip_features_int8(clip, context=_speechlike(1.0, 5))
    assert warm.shape == cold.shape and not np.array_equal(warm, cold)
    assert not np.array_equal(after_silence, cold)  # why kws.data starts the front end at the clip for cold rows
    assert frontend_uint16(np.zeros(100, np.float32)).shape == (0, 40)
