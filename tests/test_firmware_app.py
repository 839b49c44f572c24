"""The Nano 33 BLE wake-word application (issue 16) on this machine, with real gcc, a real pseudo-terminal,
real pyserial and, where installed, arm-none-eabi-gcc and QEMU:

- the C core's own unit tests (ring buffer with a two-thread stress run, also under ThreadSanitizer;
  serial parser; line formatting);
- the host simulator over a pty, read by `kws monitor`, prints exactly what `python -m kws detect` finds;
- overruns: a HAL delivering audio faster than it is processed drops whole blocks, counts them, and the
  detections equal Python's on the audio that was kept, on the capture clock;
- serial commands: garbage, over-long lines, unknown commands and bad values get error lines;
- the same sources on a Cortex-M4 under QEMU print the same lines, within the Nano's memory budget;
- the sketch folder and its errors.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from corpus.audio import save_audio

ROOT = Path(__file__).resolve().parents[1]
APP, HOST = ROOT / "firmware" / "app", ROOT / "firmware" / "host"
BLOCK = 256  # samples per delivered block (the PDM driver's half buffer)


def _c_unit_tests(tmp_path: Path, *flags: str) -> str:
    exe = tmp_path / "app_tests"
    subprocess.run(["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pthread", f"-I{APP}", *flags,
                    str(HOST / "app_tests.c"), *(str(APP / n) for n in ("ring_buffer.c", "serial_cmd.c",
                                                                          "line_buffer.c")),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_app_core_unit_tests_and_ring_under_thread_sanitizer(tmp_path):
    out = _c_unit_tests(tmp_path)
    assert "0 failures" in out and "ring stress" in out
    tsan = _c_unit_tests(tmp_path, "-fsanitize=thread", "-DSTRESS_BLOCKS=4000")
    assert "0 failures" in tsan


# ------------------------------------------------------------------------------------- model and builds

def _crafted_model(out: Path) -> Path:
    """A real int8 tiny_conv model whose sharpened head makes keyword decisions on noise and tones, so the
    stream below has detections to compare (training one would take minutes)."""
    import keras

    from export.quantize import to_int8_tflite
    from kws.bundle import save_bundle
    from kws.common import SILENCE, UNKNOWN
    from kws.features import int8_to_float
    from kws.models import build_classifier, preset
    from kws.streaming import StreamingConfig

    keras.utils.set_random_seed(0)
    model = build_classifier(preset("tiny_conv"), 4)
    dense = [layer for layer in model.layers if layer.get_weights()][-1]
    kernel, _ = dense.get_weights()
    dense.set_weights([kernel * 8.0, np.array([0.0, -2.0, 1.0, 1.0], np.float32)])
    representative = int8_to_float(np.random.default_rng(0).integers(-128, 128, (64, 49, 40)).astype(np.int8))
    save_bundle(out, model=model, tflite=to_int8_tflite(model, representative), report={}, config={},
                streaming=StreamingConfig(labels=(SILENCE, UNKNOWN, "akawuka", "masiki"), detection_threshold=60,
                                          stride_frames=2, suppression_ms=700))
    return out


def _stream(path: Path, seconds: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    audio = (0.03 * rng.standard_normal(16000 * seconds)).astype(np.float32)
    t = np.arange(16000) / 16000
    for k, start in enumerate(range(1, seconds - 1, 2)):
        chirp = np.sin(2 * np.pi * (200 + 150 * (k % 7)) * t * (1 + 0.5 * t)).astype(np.float32)
        audio[16000 * start:16000 * (start + 1)] += (0.1 + 0.05 * (k % 4)) * chirp
    save_audio(path, audio, 16000)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from export.firmware import render_firmware
    from export.firmware_build import build_host_sim

    root = tmp_path_factory.mktemp("firmware")
    model = _crafted_model(root / "model")
    sketch = render_firmware(model, root / "kws-test")
    sim = build_host_sim(sketch.path, root / "kws_sim")
    wav = _stream(root / "stream.wav", 40, seed=3)
    return {"root": root, "model": model, "sketch": sketch, "sim": sim, "wav": wav}


def _python_detections(model: Path, wav: Path):
    from kws.monitor import python_detections

    return python_detections(model, wav)  # LiteRT's reference kernels: the engine is bit-exact with them


def _start_sim(sim: Path, wav: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(sim), "--serial", "pty", "--wait", *extra, str(wav)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline().split()
    assert first and first[0] == "pty", proc.stderr.read()
    return proc, first[1]


@pytest.mark.slow
def test_sim_over_pty_heard_by_monitor_equals_python_detect(built, tmp_path):
    """`python -m kws monitor --truth` on the simulator's pty: the lines it logs are Python's detections, and
    its FRR / FA-per-hour line is the Python evaluation's on the same truth."""
    from corpus.configs import write_json
    from kws.detect import detect_file
    from kws.evaluate import Occurrence, match_detections
    from kws.monitor import parse_detection

    expected = _python_detections(built["model"], built["wav"])
    assert len(expected) >= 3, "the crafted model should fire on this stream"
    # `python -m kws detect` (LiteRT's default kernels) finds the same keywords at the same times
    assert [(d.time_ms, d.label) for d in detect_file(built["model"], built["wav"], out=io.StringIO())] == \
        [(d.time_ms, d.label) for d in expected]
    occurrences = [Occurrence(label=d.label, start_ms=d.time_ms - 600, end_ms=d.time_ms - 300) for d in expected[::2]]
    occurrences.append(Occurrence(label="akawuka", start_ms=39000, end_ms=39400))
    truth = write_json(tmp_path / "stream.wav.truth.json", {"duration_s": 40.0, "occurrences": [
        {"label": o.label, "start_ms": o.start_ms, "end_ms": o.end_ms} for o in occurrences]})
    proc, port = _start_sim(built["sim"], built["wav"], "--hold-s", "0.5")
    try:
        cli = subprocess.run([sys.executable, "-m", "kws", "monitor", "--port", port, "--truth", str(truth), "--log",
                              str(tmp_path / "serial.log"), "--seconds", "120"], capture_output=True, text=True,
                             cwd=ROOT, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        proc.wait(timeout=30)
    assert cli.returncode == 0, cli.stderr
    lines = [entry.split("\t", 1)[1] for entry in (tmp_path / "serial.log").read_text().splitlines()]
    assert lines[-1] == "end audio_ms=40000"
    version = [line for line in lines if line.startswith("version app=")]  # "ready" may come first
    assert len(version) == 1 and "keywords=akawuka,masiki" in version[0]
    heard = [d for d in map(parse_detection, lines) if d is not None]
    assert [(d.time_ms, d.label, d.score) for d in heard] == [(d.time_ms, d.label, d.score) for d in expected]
    python = match_detections(expected, occurrences, 40.0, labels=["akawuka", "masiki"])
    summary = cli.stdout.strip().splitlines()[-1]
    assert python.false_rejects >= 1 and f"FRR {python.frr:.3f}" in summary
    assert f"{python.fa_per_hour:.2f} false accepts per hour" in summary, summary


@pytest.mark.slow
def test_overruns_drop_whole_blocks_and_keep_the_capture_clock(built, tmp_path):
    """Forty PDM blocks (640 ms) arrive between main-loop passes while the ring holds 16 (256 ms): the drops
    are deterministic, whatever the machine's speed."""
    import soundfile as sf

    from kws.monitor import parse_detection

    dropped_log = tmp_path / "dropped.txt"
    result = subprocess.run([str(built["sim"]), "--serial", "stdio", "--burst", "40", "--hold-s", "0", "--verbose",
                             "--stats-at-end", "--dropped-log", str(dropped_log), str(built["wav"])],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stats = dict(item.split("=") for item in next(l for l in lines if l.startswith("stats ")).split()[1:])
    dropped = [int(x) for x in dropped_log.read_text().split()]
    assert int(stats["overruns"]) == len(dropped) > 0
    assert int(stats["uptime_ms"]) == 40000  # the device clock counts dropped audio too
    assert int(stats["frames"]) * 320 + len(dropped) * BLOCK <= 40 * 16000 < (int(stats["frames"]) + 1) * 320 + \
        len(dropped) * BLOCK
    # what the engine heard: the stream without the dropped blocks; its detections, moved onto the capture
    # clock by the audio dropped before each, are the application's lines
    audio, _ = sf.read(built["wav"], dtype="int16")
    keep = np.ones(len(audio), bool)
    for index in dropped:
        keep[index * BLOCK:(index + 1) * BLOCK] = False
    kept = tmp_path / "kept.wav"
    sf.write(kept, audio[keep], 16000, subtype="PCM_16")
    capture_of_kept = np.flatnonzero(keep)
    expected = []
    for d in _python_detections(built["model"], kept):
        last_kept = d.time_ms * 16 - 1
        capture = int(capture_of_kept[last_kept])
        expected.append(((capture + 1) // 16, d.label, d.score))
    got = [(d.time_ms, d.label, d.score) for d in map(parse_detection, lines) if d is not None]
    assert got == expected and len(got) >= 1
    # the LED shows each detection in its keyword's colour (akawuka green, masiki red), then goes off
    leds = [line.split()[-1] for line in result.stderr.splitlines() if line.startswith("kws_sim: led ")]
    colours = {"akawuka": "0,255,0", "masiki": "255,0,0"}
    assert [led for led in leds if led != "0,0,0"] == [colours[label] for _, label, _ in got]
    assert leds[0] == "0,0,0" and leds[2] == "0,0,0"  # off at start, and a second after the first detection


@pytest.mark.slow
def test_serial_commands_are_parsed_robustly_over_the_pty(built):
    import serial

    from kws.monitor import DETECTION_LINE

    proc, port = _start_sim(built["sim"], built["wav"], "--hold-s", "3", "--realtime")
    replies: list[str] = []
    try:
        with serial.Serial(port, timeout=0.1) as connection:
            for command in (b"version\n", b"\x00\xff\x13garbage\x80\r\n", b"x" * 500 + b"\n", b"reboot now\n",
                            b"threshold 999\n", b"threshold 12a\n", b"threshold 80\n", b"threshold\n",
                            b"stats\r\n", b"\n\r\n"):
                connection.write(command)
            deadline, buffer = time.monotonic() + 20, b""
            while time.monotonic() < deadline and buffer.count(b"stats ") < 1:
                buffer += connection.read(4096)
            replies = [line for line in buffer.decode("utf-8", "replace").splitlines()  # detections may come in
                       if not DETECTION_LINE.match(line) and not line.startswith("ready ")]  # between
    finally:
        proc.kill()
        proc.wait()
    assert replies[0].startswith("version app=1.0 model=") and "threshold=60" in replies[0]
    assert replies[1] == "error unreadable bytes in command (printable ASCII only)"
    assert replies[2] == "error line too long (max 48 characters)"
    assert replies[3] == "error unknown command (threshold N, stats, version): 'reboot now'"
    assert replies[4] == "error threshold takes one number 0..255, got '999'"
    assert replies[5] == "error threshold takes one number 0..255, got '12a'"
    assert replies[6] == "threshold 80"  # set at run time, confirmed
    assert replies[7] == "threshold 80"
    assert replies[8].startswith("stats uptime_ms=") and "overruns=0" in replies[8] and "duty_pct=" in replies[8]
    assert "threshold=80" in replies[8]


def _arm_tools() -> bool:
    return all(shutil.which(t) for t in ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"))


@pytest.mark.slow
@pytest.mark.skipif(not _arm_tools(), reason="arm-none-eabi-gcc / qemu-system-arm not installed "
                                             "(tools/ensure_arm.sh installs them)")
def test_qemu_cortex_m4_prints_the_same_lines_within_the_memory_budget(built, tmp_path):
    import soundfile as sf

    from export.firmware_build import arm_size, build_qemu, run_qemu, write_raw_audio

    elf = build_qemu(built["sketch"].path, tmp_path / "kws_app.elf")
    audio, _ = sf.read(built["wav"], dtype="int16")
    run = run_qemu(elf, write_raw_audio(audio[:16000 * 20], tmp_path / "part.raw"))
    part = tmp_path / "part.wav"
    sf.write(part, audio[:16000 * 20], 16000, subtype="PCM_16")
    sim = subprocess.run([str(built["sim"]), "--serial", "stdio", "--hold-s", "0", str(part)], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    same = [l for l in run.lines if not l.startswith("stats ")]
    assert same == sim.stdout.splitlines() and any(l[0].isdigit() for l in same)
    assert 18900 < run.audio_ms < 19000 and run.total_audio_ms == 20000 and run.instructions > 0 and 0 < run.stack_bytes < 8 * 1024
    memory = arm_size(elf)
    assert memory.flash_bytes <= 256 * 1024 and memory.ram_bytes <= 96 * 1024, memory


@pytest.mark.slow
def test_firmware_cli_renders_a_sketch_and_refuses_bad_input(built, tmp_path):
    sketch = built["sketch"]
    assert sketch.ino.name == "kws-test.ino" and (sketch.path / "sketch.yaml").read_text().strip().endswith(
        "arduino:mbed_nano:nano33ble")
    ino = sketch.ino.read_text()
    assert "kws_app_init" in ino and "${" not in ino
    hal = (sketch.path / "hal_nano33ble.cpp").read_text()
    assert "PDM.begin(1, KWS_APP_SAMPLE_RATE_HZ)" in hal and "PDM.available()" in hal and "/ 2u" in hal
    config = (sketch.sources / "app_config.h").read_text()
    assert '"akawuka"' in config and "{0, 255, 0}" in config and "KWS_APP_THRESHOLD 60" in config
    for name in ("kws_app.c", "ring_buffer.c", "kws_engine.c", "kws_model.c", "model_settings.h"):
        assert (sketch.sources / name).is_file(), name
    # The real arduino:mbed_nano core cannot be installed here: type-check the sketch's C++ against
    # declarations of the core API it uses (firmware/nano33ble/api_check), as arduino-builder would compile it.
    if shutil.which("arm-none-eabi-g++"):
        for source in (sketch.ino, sketch.path / "hal_nano33ble.cpp"):
            result = subprocess.run(["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-std=gnu++17", "-Wall",
                                     "-Wextra", "-Werror", "-fsyntax-only", f"-I{ROOT / 'firmware/nano33ble/api_check'}",
                                     "-include", "Arduino.h", "-x", "c++", str(source)], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr

    from export.firmware import FirmwareConfig, FirmwareError, render_firmware

    result = subprocess.run([sys.executable, "-m", "export", "firmware", "--model", str(tmp_path / "nothing"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "no model folder" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(FirmwareError, match="0..255"):
        render_firmware(built["model"], tmp_path / "out", FirmwareConfig(threshold=300))
    with pytest.raises(FirmwareError, match="sketch name"):
        render_firmware(built["model"], tmp_path / "bad name!")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_int8.tflite").write_bytes(b"x")
    (tmp_path / "broken" / "streaming.json").write_text("{")
    with pytest.raises(FirmwareError, match="streaming.json: not a streaming config"):
        render_firmware(tmp_path / "broken", tmp_path / "out")
    low = render_firmware(built["model"], tmp_path / "kws-low", FirmwareConfig(threshold=20))
    assert low.threshold == 20 and low.keywords == ("akawuka", "masiki")
    assert "KWS_DETECTION_THRESHOLD 20" in (low.sources / "model_settings.h").read_text()


def test_monitor_refuses_a_missing_port_and_a_missing_truth(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kws", "monitor", "--port", str(tmp_path / "ttyNONE")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "cannot open serial port" in result.stderr and "ttyNONE" in result.stderr
    assert "Traceback" not in result.stderr
    from corpus.cli import UserError
    from kws.monitor import parse_detection, read_truth

    with pytest.raises(UserError, match="no truth file"):
        read_truth(tmp_path / "stream.wav")
    (tmp_path / "bad.json").write_text('{"occurrences": 3}')
    with pytest.raises(UserError, match="not a stream truth file"):
        read_truth(tmp_path / "bad.json")
    assert parse_detection("1270 masiki 124").time_ms == 1270
    for line in ("stats uptime_ms=1", "1270 masiki", "error 1 2", "12 a b"):
        assert parse_detection(line) is None


@pytest.mark.slow
@pytest.mark.skipif(not _arm_tools(), reason="arm-none-eabi-gcc not installed (tools/ensure_arm.sh installs it)")
def test_app_with_the_deployable_model_fits_the_nano(tmp_path):
    """Application + engine + the deployable architecture of `make train-kws` (DS-CNN-S + 128-d embedding +
    head, ~58 KB int8; untrained: sizes do not depend on training) within 256 KB flash and 96 KB RAM."""
    import keras

    from export.firmware import render_firmware
    from export.firmware_build import arm_size, build_qemu
    from export.quantize import to_int8_tflite
    from kws.bundle import save_bundle
    from kws.features import int8_to_float
    from kws.models import build_classifier, ds_cnn
    from kws.streaming import StreamingConfig

    keras.utils.set_random_seed(0)
    model = build_classifier(ds_cnn.Config(size="s"), 5, embedding_dim=128)
    features = int8_to_float(np.random.default_rng(0).integers(-128, 128, (32, 49, 40)).astype(np.int8))
    tflite = to_int8_tflite(model, features)
    folder = save_bundle(tmp_path / "deployable", model=model, tflite=tflite, report={}, config={},
                         streaming=StreamingConfig(labels=("_silence_", "_unknown_", "kw1", "kw2", "kw3")))
    sketch = render_firmware(folder, tmp_path / "kws-deployable")
    memory = arm_size(build_qemu(sketch.path, tmp_path / "deployable.elf"))
    assert len(tflite) > 50_000 and memory.flash_bytes > len(tflite) // 2
    assert memory.flash_bytes <= 256 * 1024 and memory.ram_bytes <= 96 * 1024, memory


def _python_detections_at(model: Path, wav: Path, threshold: int):
    import dataclasses

    from corpus.audio import read_blocks
    from kws.bundle import load_bundle
    from kws.streaming import StreamingDetector

    bundle = load_bundle(model)
    config = dataclasses.replace(bundle.streaming, detection_threshold=threshold)
    detector = StreamingDetector(bundle.scorer("int8", reference=True), config)
    found = []
    for _, block in read_blocks(wav, block_s=30.0, sample_rate_hz=config.frontend.sample_rate_hz):
        found.extend(detector.push_audio(block))
    return found


@pytest.mark.slow
def test_threshold_command_changes_detections_at_run_time(built):
    """`threshold N` before the audio (--wait holds it back until the command is in): the simulator's lines
    are Python's detections at threshold N, and a higher threshold gives fewer of them than the built-in 60."""
    from kws.monitor import parse_detection

    baseline = _python_detections(built["model"], built["wav"])
    scores = sorted(d.score for d in baseline)
    threshold = scores[len(scores) // 2]  # a median detection's score: at least half the detections go
    assert threshold > 60
    result = subprocess.run([str(built["sim"]), "--serial", "stdio", "--wait", "--hold-s", "0", "--stats-at-end",
                             str(built["wav"])], input=f"threshold {threshold}\n", capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"threshold {threshold}" in lines and f"threshold={threshold}" in lines[-1]
    got = [(d.time_ms, d.label, d.score) for d in map(parse_detection, lines) if d is not None]
    expected = _python_detections_at(built["model"], built["wav"], threshold)
    assert got == [(d.time_ms, d.label, d.score) for d in expected]
    assert 1 <= len(got) < len(baseline) and all(score > threshold for _, _, score in got)
