"""The dependency-free C engine (firmware/engine) against its oracles, with real gcc: the front end against
TensorFlow's audio_microfrontend op frame by frame, generated models against LiteRT's reference kernels on
every intermediate tensor, RecognizeCommands against kws.streaming, kws_wav against the Python detector,
and the generated header against FrontendConfig."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from export.c_build import build_host
from export.c_model import StreamingParams, UnsupportedOpError, compile_model
from export.frontend import FrontendConfig
from kws.common import SILENCE, UNKNOWN

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "tflm_micro_speech"
MICRO = SHARED / "micro_speech_quantized.tflite"
LABELS5 = (SILENCE, UNKNOWN, "a", "b", "c")

pytestmark = pytest.mark.skipif(subprocess.run(["which", "gcc"], capture_output=True).returncode != 0,
                                reason="gcc is not installed")


def _features(n, seed=0):
    from kws.features import INT8_SCALE

    rng = np.random.default_rng(seed)
    q = np.clip(rng.normal(-40, 50, size=(n, 49, 40)), -128, 127).astype(np.int8)
    return q, ((q.astype(np.float32) + 128) * INT8_SCALE).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny real int8 models: DS-CNN with an embedding head (the few-shot form), closed-set DS-CNN, tiny_conv,
    and TFLM's micro_speech model."""
    import keras

    from export.quantize import to_int8_tflite
    from kws.models import build_classifier, ds_cnn, tiny_conv

    _, x = _features(64)
    out = {}
    for name, config, embedding in (("fewshot_ds_cnn", ds_cnn.Config(size="s", channels=16, blocks=2), 16),
                                    ("closed_set_ds_cnn", ds_cnn.Config(size="s", channels=8, blocks=1), 0),
                                    ("tiny_conv", tiny_conv.Config(), 0)):
        keras.utils.set_random_seed(1)
        model = build_classifier(config, len(LABELS5), embedding_dim=embedding)
        for _ in range(3):  # settle batch-norm statistics
            model(x, training=True)
        out[name] = (to_int8_tflite(model, x), LABELS5)
    if MICRO.exists():
        out["micro_speech"] = (MICRO.read_bytes(), (SILENCE, UNKNOWN, "yes", "no"))
    return out


def _trace(tflite: bytes, labels, tmp: Path, windows: np.ndarray, rounding: int = 0):
    compile_model(tflite, StreamingParams(labels=labels), tmp)
    exe = build_host(tmp, "kws_trace", tmp / "kws_trace", defines=(f"KWS_ROUNDING_DOUBLE={rounding}",))
    out = subprocess.run([exe], input=windows.tobytes(), capture_output=True, check=True).stdout
    records, pos = [], 0
    while pos < len(out):
        op, tensor, size = np.frombuffer(out[pos:pos + 12], np.int32)
        records.append((int(op), int(tensor), np.frombuffer(out[pos + 12:pos + 12 + size], np.int8)))
        pos += 12 + int(size)
    per = len(records) // len(windows)
    return [records[i * per:(i + 1) * per] for i in range(len(windows))]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fewshot_ds_cnn", "closed_set_ds_cnn", "tiny_conv", "micro_speech"])
def test_every_intermediate_tensor_equals_litert_reference(models, name, tmp_path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if name not in models:
        pytest.skip(f"{MICRO} is absent")
    tflite, labels = models[name]
    interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    windows, _ = _features(200, seed=7)
    windows[:5] = -128  # silence
    windows[5:10] = 127  # saturated
    traces = _trace(tflite, labels, tmp_path, windows)
    assert traces[0] and traces[0][-1][1] == interpreter.get_output_details()[0]["index"]
    for window, trace in zip(windows, traces):
        interpreter.set_tensor(detail["index"], window.reshape(detail["shape"]))
        interpreter.invoke()
        for op, tensor, values in trace:
            expected = interpreter.get_tensor(tensor).reshape(-1)
            assert np.array_equal(values, expected), f"op #{op} tensor {tensor}: {int((values != expected).sum())} differ"


def _signal(seconds_each: float, seed: int = 0) -> np.ndarray:
    """Speech-free but varied: white noise at several levels, silence, full-scale clipping, chirps, DC,
    and TFLM's real 1-s clips when present."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(16000 * seconds_each)
    t = np.arange(n) / 16000
    parts = [rng.normal(0, 300, n), np.zeros(n), rng.normal(0, 3000, n), np.clip(rng.normal(0, 40000, n), -32768, 32767),
             20000 * np.sin(2 * np.pi * (50 + 7000 * t / seconds_each / 2) * t), np.full(n, 12000.0), np.full(n // 4, -32768.0),
             rng.normal(0, 1, n) * np.linspace(0, 30000, n)]
    for path in sorted(SHARED.glob("*_1000ms.wav")):
        parts.append(sf.read(path, dtype="int16")[0].astype(float))
    return np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("config", [FrontendConfig(), FrontendConfig(channels=32, window_ms=25, stride_ms=10,
                                                                      pcan_strength=0.9, smoothing_bits=8)],
                         ids=["default", "other"])
def test_front_end_equals_the_tf_op_frame_by_frame(config, tmp_path):
    from kws.features import frontend_uint16

    samples = _signal(75.0 if config == FrontendConfig() else 10.0)  # default: 10.3 minutes
    compile_model(MICRO.read_bytes() if config == FrontendConfig() else _fc_model(config),
                  StreamingParams(labels=(SILENCE, UNKNOWN, "yes", "no"), frontend=config), tmp_path)
    exe = build_host(tmp_path, "fe_dump", tmp_path / "fe_dump")
    out = subprocess.run([exe], input=samples.tobytes(), capture_output=True, check=True).stdout
    frames = np.frombuffer(out, np.uint16).reshape(-1, config.channels)
    expected = frontend_uint16(samples, config)
    assert frames.shape == expected.shape
    assert np.array_equal(frames, expected), f"{int((frames != expected).sum())} values differ"


def _fc_model(config: FrontendConfig) -> bytes:
    """A one-layer int8 model for a non-default front end (only its input size matters here)."""
    import keras

    from export.quantize import to_int8_tflite

    keras.utils.set_random_seed(0)
    inputs = keras.Input(config.shape)
    x = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(4)(x)))
    return to_int8_tflite(model, np.random.default_rng(0).uniform(0, 20, (8, *config.shape)).astype(np.float32))


def test_header_carries_every_front_end_parameter(tmp_path):
    from dataclasses import fields

    from export.c_array import write_settings_header

    def header(frontend):
        streaming = StreamingParams(labels=(SILENCE, UNKNOWN, "x"), frontend=frontend)
        path = write_settings_header(tmp_path, streaming=streaming, input_scale=0.1, input_zero_point=-128,
                                     output_scale=1 / 256, output_zero_point=-128, arena_bytes=0, arena_note="-")
        return path.read_text()

    base = header(FrontendConfig())
    for f in fields(FrontendConfig):
        assert f"_{f.name.upper()} " in base or f.name in ("window_ms", "stride_ms", "clip_ms", "channels",
                                                          "sample_rate_hz"), f.name
    assert "#define KWS_FE_PCAN_STRENGTH 0.95" in base and "#define KWS_FEATURE_FRAMES 49" in base
    changed = header(FrontendConfig(pcan_strength=0.9, channels=32, clip_ms=800))
    assert "#define KWS_FE_PCAN_STRENGTH 0.9\n" in changed
    assert "#define KWS_FEATURE_CHANNELS 32" in changed and "#define KWS_FEATURE_FRAMES 39" in changed


def test_an_op_the_engine_lacks_is_a_clear_error(tmp_path):
    import keras
    import tensorflow as tf

    from export.quantize import to_int8_tflite

    inputs = keras.Input((49, 40))
    x = keras.layers.Lambda(lambda t: tf.nn.relu6(t) * tf.nn.relu(t - 1.0))(inputs)  # MUL
    model = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(3)(keras.layers.Flatten()(x))))
    tflite = to_int8_tflite(model, _features(8)[1])
    with pytest.raises(UnsupportedOpError, match="MUL"):
        compile_model(tflite, StreamingParams(labels=(SILENCE, UNKNOWN, "x")), tmp_path)


# 0: a normal stream; then streams that cross 2^31 ms (24.8 days, where an int32 ms clock overflows) and
# 2^32 ms (49.7 days, a uint32 one) halfway: the engine's times are 64-bit
@pytest.mark.parametrize("start_ms", [0, 2**31 - 600_000, 2**32 - 600_000])
def test_recognize_commands_equals_the_python_class(start_ms, tmp_path):
    from kws.streaming import RecognizeCommands, StreamingConfig

    labels = (SILENCE, UNKNOWN, "yes", "no")
    config = StreamingConfig(labels=labels, detection_threshold=150, stride_frames=2, minimum_count=3)
    compile_model(MICRO.read_bytes(), StreamingParams(labels=labels, detection_threshold=150, stride_frames=2),
                  tmp_path)
    exe = build_host(tmp_path, "recognize_dump", tmp_path / "recognize_dump")
    rng = np.random.default_rng(3)
    n = 30000  # 20 minutes of results every 40 ms, with runs of keyword-like scores
    scores = rng.integers(0, 80, size=(n, 4))
    top = np.repeat(rng.integers(0, 4, size=n // 25), 25)[:n]
    scores[np.arange(n), top] = rng.integers(120, 256, size=n)
    times = np.arange(n, dtype=np.int64) * 40 + 1010 + start_ms
    lines = "\n".join(f"{t} " + " ".join(map(str, row)) for t, row in zip(times, scores))
    out = subprocess.run([exe], input=lines, capture_output=True, text=True, check=True).stdout.split("\n")
    python = RecognizeCommands(config)
    new = 0
    for t, row, line in zip(times, scores, out):
        result = python.process(row, int(t))
        assert line == f"{t} {result.label_index} {result.score} {int(result.is_new)}"
        new += result.is_new
    assert new > 50


@pytest.mark.slow
def test_kws_wav_prints_what_the_python_detector_finds(tmp_path):
    import soundfile as sf

    from kws.streaming import StreamingConfig, StreamingDetector
    from export.quantize import LiteRtModel

    labels = (SILENCE, UNKNOWN, "yes", "no")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model_int8.tflite").write_bytes(MICRO.read_bytes())
    config = StreamingConfig(labels=labels, detection_threshold=160)
    from kws.streaming import save_streaming
    save_streaming(tmp_path / "model" / "streaming.json", config)
    out = subprocess.run([sys.executable, "-m", "export", "c-model", "--model", str(tmp_path / "model"), "--out",
                          str(tmp_path / "c"), "--build"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rng = np.random.default_rng(5)
    clips = {p.stem: sf.read(p, dtype="int16")[0] for p in SHARED.glob("*_1000ms.wav")}
    pieces = []
    for i in range(24):  # 48 s: words between noise
        pieces.append((rng.normal(0, 200, 16000)).astype(np.int16))
        pieces.append(clips[["yes_1000ms", "no_1000ms", "noise_1000ms", "silence_1000ms"][i % 4]])
    stream = np.concatenate(pieces)
    sf.write(tmp_path / "s.wav", stream, 16000, subtype="PCM_16")
    c_lines = subprocess.run([str(tmp_path / "c" / "kws_wav"), str(tmp_path / "s.wav")], capture_output=True,
                             text=True, check=True).stdout.rstrip("\n").split("\n")
    lite = LiteRtModel(MICRO.read_bytes())
    detector = StreamingDetector(lambda w: lite.scores(np.asarray(w, np.int8)), config)
    found = []
    for start in range(0, len(stream), 16000 * 20):
        found += detector.push_audio(stream[start:start + 16000 * 20])
    py_lines = [f"{d.time_ms / 1000:9.2f} s  {d.label}  score {d.score}" for d in found]
    assert c_lines[:-1] == py_lines and len(py_lines) >= 4
    # the engine's threshold set at run time (kws_set_threshold): Python's detections at that threshold
    higher = sorted(d.score for d in found)[len(found) // 2]
    c_higher = subprocess.run([str(tmp_path / "c" / "kws_wav"), "--threshold", str(higher), str(tmp_path / "s.wav")],
                              capture_output=True, text=True, check=True).stdout.rstrip("\n").split("\n")
    detector = StreamingDetector(lambda w: lite.scores(np.asarray(w, np.int8)),
                                 replace(config, detection_threshold=higher))
    found_higher = detector.push_audio(stream)
    assert c_higher[:-1] == [f"{d.time_ms / 1000:9.2f} s  {d.label}  score {d.score}" for d in found_higher]
    assert 1 <= len(found_higher) < len(found) and f"(threshold {higher}, C engine)" in c_higher[-1]
    for bad in ("256", "-1", "99999999999", "12a"):  # refused by the engine (or the parser), nothing run
        refused = subprocess.run([str(tmp_path / "c" / "kws_wav"), "--threshold", bad, str(tmp_path / "s.wav")],
                                 capture_output=True, text=True)
        assert refused.returncode == 2 and bad in refused.stderr and refused.stdout == "", bad


@pytest.mark.slow
@pytest.mark.skipif(subprocess.run(["bash", "tools/ensure_arm.sh"], capture_output=True,
                                   cwd=Path(__file__).resolve().parents[1]).returncode != 0,
                    reason="arm-none-eabi-gcc / qemu-system-arm missing and not installable here")
@pytest.mark.parametrize("simd", [True, False], ids=["simd", "portable"])
def test_cortex_m4_under_qemu_gives_the_host_bytes(models, simd, tmp_path):
    from export.c_build import build_m4, run_qemu

    tflite, labels = models["fewshot_ds_cnn"]
    compile_model(tflite, StreamingParams(labels=labels), tmp_path / "gen")
    rng = np.random.default_rng(11)
    samples = _signal(1.0, seed=2)[: 16000 * 6]  # noise, silence, clipping, chirp, DC
    windows, _ = _features(20, seed=3)
    run = tmp_path / "run"
    run.mkdir()
    samples.tofile(run / "fe_in.bin")
    windows.tofile(run / "windows.bin")
    elf = build_m4(tmp_path / "gen", "m4_check", tmp_path / "m4_check.elf", simd=simd)
    report = dict(line.split() for line in run_qemu(elf, run, timeout_s=300).strip().splitlines())
    fe_host = subprocess.run([build_host(tmp_path / "gen", "fe_dump", tmp_path / "fe_dump")], input=samples.tobytes(),
                             capture_output=True, check=True).stdout
    trace_host = subprocess.run([build_host(tmp_path / "gen", "kws_trace", tmp_path / "kws_trace")],
                                input=windows.tobytes(), capture_output=True, check=True).stdout
    assert (run / "fe_out.bin").read_bytes() == fe_host and len(fe_host) > 0
    assert (run / "trace.bin").read_bytes() == trace_host
    assert int(report["inferences"]) == 20 and int(report["calibration_ticks"]) > 0
    del rng


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fewshot_ds_cnn", "tiny_conv", "micro_speech"])
def test_double_rounding_build_equals_tflite_micro(models, name, tmp_path):
    """KWS_ROUNDING_DOUBLE=1 is TFLM's arithmetic: outputs equal the tflite-micro wheel's interpreter."""
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    if name not in models:
        pytest.skip(f"{MICRO} is absent")
    tflite, labels = models[name]
    windows, _ = _features(150, seed=21)
    traces = _trace(tflite, labels, tmp_path, windows, rounding=1)
    interpreter = runtime.Interpreter.from_bytes(tflite)
    shape = interpreter.get_input_details(0)["shape"]
    for window, trace in zip(windows, traces):
        interpreter.set_input(window.reshape(shape), 0)
        interpreter.invoke()
        assert np.array_equal(trace[-1][2], interpreter.get_output(0).reshape(-1))


def test_memory_plan_runs_depthwise_and_pointwise_in_place(models, tmp_path):
    tflite, labels = models["closed_set_ds_cnn"]
    compiled = compile_model(tflite, StreamingParams(labels=labels), tmp_path)
    # input 49x40 + one 25x20x8 buffer: every block works in place (rows kept aside: (1 + 1) x 20 x 8;
    # CONV_2D gathers two 10x4 patches)
    assert compiled.arena_bytes == 1960 + 25 * 20 * 8
    assert compiled.scratch_bytes == 2 * 2 * 40 + 2 * 20 * 8  # two positions' 16-bit patches + the rows
    text = (tmp_path / "kws_model.c").read_text()
    assert "kws_model_rows.values" in text and "static const int16_t kws_model_layer1_filter" in text


@pytest.mark.slow
@pytest.mark.parametrize("block_stride, held_back", [((2, 2), 0), ((1, 2), 1)])
def test_a_strided_depthwise_block_runs_in_place_too(block_stride, held_back, tmp_path):
    """The deployable backbone's form (first DS block stride (2, 2): 13x5 output over its 25x10 input), and the
    25x5 variant (stride (1, 2)), whose output rows would cover input rows still to be read unless one row is
    held back; every tensor equals LiteRT's."""
    import keras
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from export.quantize import to_int8_tflite
    from kws.models import build_classifier, ds_cnn

    windows, x = _features(16)
    keras.utils.set_random_seed(2)
    model = build_classifier(ds_cnn.Config(size="s", channels=8, blocks=1, first_stride=(2, 4),
                                           block_stride=block_stride), 3)
    tflite = to_int8_tflite(model, x)
    compiled = compile_model(tflite, StreamingParams(labels=LABELS5[:3]), tmp_path)
    out_w = 10 // block_stride[1]
    assert compiled.arena_bytes == 1960 + 25 * 10 * 8  # input 49x40 + one buffer for every block
    # two 10x4 patches + a ring of 1 + held_back output rows
    assert compiled.scratch_bytes == 2 * 2 * 40 + (1 + held_back) * out_w * 8
    interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    for window, trace in zip(windows, _trace(tflite, LABELS5[:3], tmp_path, windows)):
        interpreter.set_tensor(detail["index"], window.reshape(detail["shape"]))
        interpreter.invoke()
        for op, tensor, values in trace:
            assert np.array_equal(values, interpreter.get_tensor(tensor).reshape(-1)), f"op #{op}"


@pytest.mark.slow
@pytest.mark.parametrize("rounding", [0, 1], ids=["litert_single", "tflm_double"])
def test_each_kernel_on_random_shapes_equals_a_one_op_model(rounding, tmp_path):
    """Hundreds of one-op models (random shapes, strides, padding, dilation, depth multipliers, activations and
    quantization) through the generator and kernels, against LiteRT's reference kernels (default build) or
    TFLite Micro's interpreter (KWS_ROUNDING_DOUBLE=1)."""
    from string import Template

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from export.c_array import write_settings_header
    from export.c_build import ENGINE_DIR, WARNINGS
    from one_op_models import OPS, random_model

    if rounding:
        runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    rng = np.random.default_rng(100 + rounding)
    per_op = 40
    cases = []  # (model name, tflite, input shape)
    for op in OPS:
        for _ in range(per_op):
            tflite, shape = random_model(op, rng)
            name = f"m{len(cases)}"
            compile_model(tflite, None, tmp_path, model=name)
            cases.append((op, name, tflite, shape))
    write_settings_header(tmp_path, streaming=StreamingParams(labels=(SILENCE, UNKNOWN, "x")), input_scale=1.0,
                          input_zero_point=0, output_scale=1.0, output_zero_point=0, arena_bytes=0, arena_note="-")
    template = Template((Path(__file__).parent / "one_op_harness.c.in").read_text())
    (tmp_path / "harness.c").write_text(template.substitute(
        includes="\n".join(f'#include "{name}.c"' for _, name, _, _ in cases),
        entries="\n".join(f"    {{{name}_input, {name}_invoke}}," for _, name, _, _ in cases)))
    exe = tmp_path / "harness"
    subprocess.run(["gcc", *WARNINGS, "-O1", f"-DKWS_ROUNDING_DOUBLE={rounding}", f"-I{ENGINE_DIR}", f"-I{tmp_path}",
                    str(tmp_path / "harness.c"), str(ENGINE_DIR / "kernels_int8.c"), str(ENGINE_DIR / "kernels_conv.c"),
                    "-o", str(exe)], check=True)
    records, expected, checked = [], [], {op: 0 for op in OPS}
    for index, (op, name, tflite, shape) in enumerate(cases):
        if rounding:
            try:
                interpreter = runtime.Interpreter.from_bytes(tflite)
            except Exception:  # noqa: BLE001 - a form TFLM does not support: LiteRT covers it
                continue
        else:
            interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
            interpreter.allocate_tensors()
        for _ in range(3):
            x = rng.integers(-128, 128, shape).astype(np.int8)
            if rounding:
                interpreter.set_input(x, 0)
                interpreter.invoke()
                y = interpreter.get_output(0)
            else:
                interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
                interpreter.invoke()
                y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
            y = np.asarray(y, np.int8).reshape(-1)
            records.append(np.array([index, x.size, y.size], np.int32).tobytes() + x.tobytes())
            expected.append((op, name, y))
        checked[op] += 1
    out = subprocess.run([exe], input=b"".join(records), capture_output=True, check=True).stdout
    pos = 0
    for op, name, y in expected:
        got = np.frombuffer(out[pos:pos + y.size], np.int8)
        pos += y.size
        assert np.array_equal(got, y), f"{op} ({name}): {int((got != y).sum())} of {y.size} values differ"
    assert sum(checked.values()) >= (250 if rounding else len(cases)), checked
