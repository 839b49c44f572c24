"""Benchmark of the Nano 33 BLE wake-word application (firmware/app: ring buffer, frames, serial lines, HAL)
on the C engine, on this machine: host simulator over a real pseudo-terminal, Cortex-M4 under QEMU.

    python bench/firmware_app.py [--quick] [--model models/kws-lg]

Models: TFLM's micro_speech model (real: it recognises the real Speech Commands "yes"/"no" of
../shared/real_speech) for the stream figures, and the deployable architecture of `make train-kws`
(preset `ds_cnn_s` + head, ~58 KB int8, untrained unless --model; size and speed do not depend on training)
for memory and duty cycle. Both run at the stride `kws train` stores (`--stride-frames N` to compare). Stream: real Speech Commands clips ("yes", "no" and 33 other words) between noise and
silence, 15 minutes (3 with --quick), the keywords' true spans known. `--model M --stream S.wav` uses a
trained model and its own stream (`python -m kws synth-stream`, with its truth) for the stream figures.

Figures (last line, JSON):
- sim_equals_python: the simulator's serial lines, read by `kws monitor` over a pty, give the same detections
  (time, keyword, score) as the Python StreamingDetector on LiteRT's reference kernels, and the same
  (time, keyword) as `python -m kws detect`;
- qemu_equals_sim: the same sources for Cortex-M4 (mps2-an386) under QEMU print the simulator's lines on
  the stream's first 60 s (20 s with --quick);
- device_frr / device_fa_per_h next to python_frr / python_fa_per_h: the stream as the device heard it and as
  the Python evaluation scores it (kws.evaluate.match_detections, same truth);
- app_flash_bytes / app_ram_bytes: arm-none-eabi-size of the QEMU image of application + engine + deployable
  model (flash = text + data, RAM = data + bss with the 8 KB stack reserved), against the Nano's 256 KB / 96 KB;
  app_stack_bytes used;
- app_duty_cycle_at_64mhz: every instruction the QEMU image runs per second of audio (engine, ring, frames,
  serial; from the first full model window on) / 64e6, at the model's stored stride, for the deployable model (instructions, not cycles: see
  bench/firmware.py); stream_model_duty_cycle_at_64mhz: the stream's model (micro_speech); engine_share_of_app_instructions: the part spent inside
  kws_push_audio (the rest is the application: ring, frames, lines).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, parser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MICRO = SHARED / "reference" / "tflm_micro_speech" / "micro_speech_quantized.tflite"
SR = 16000
KEYWORDS = ("yes", "no")


def _speech_span(clip: np.ndarray, floor_db: float = 30.0) -> tuple[int, int]:
    """Sample span of the spoken word in a 1-s clip: 10-ms frames within floor_db of the loudest."""
    frames = clip[: len(clip) // 160 * 160].astype(np.float64).reshape(-1, 160)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-9)
    loud = np.flatnonzero(level >= level.max() - floor_db)
    return int(loud[0]) * 160, int(loud[-1] + 1) * 160


def keyword_stream(minutes: float, seed: int):
    """int16 audio and the keyword occurrences (kws.evaluate.Occurrence) of a stream of real clips."""
    import soundfile as sf

    from kws.evaluate import Occurrence

    rng = np.random.default_rng(seed)
    clips = sorted((SHARED / "real_speech" / "keywords").glob("*/*.wav"))
    keywords = [p for p in clips if p.parent.name in KEYWORDS]
    others = [p for p in clips if p.parent.name not in KEYWORDS]
    parts, occurrences, total = [], [], 0
    while total < minutes * 60 * SR:
        gap = rng.normal(0, rng.uniform(5, 300), int(SR * rng.uniform(0.8, 2.5)))
        parts.append(gap)
        total += len(gap)
        pool = keywords if rng.random() < 0.5 else others
        path = pool[rng.integers(len(pool))]
        clip = sf.read(path, dtype="int16")[0].astype(np.float64)
        if path.parent.name in KEYWORDS:
            start, end = _speech_span(clip)
            occurrences.append(Occurrence(label=path.parent.name, start_ms=(total + start) * 1000 // SR,
                                          end_ms=(total + end) * 1000 // SR))
        parts.append(clip)
        total += len(clip)
    audio = np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)[: int(minutes * 60 * SR)]
    duration_ms = len(audio) * 1000 // SR
    return audio, [o for o in occurrences if o.end_ms <= duration_ms]


def _model_folder(out: Path, tflite: bytes, labels: tuple[str, ...], stride_frames: int) -> Path:
    from corpus.configs import write_lines
    from kws.streaming import StreamingConfig, save_streaming

    out.mkdir(parents=True, exist_ok=True)
    (out / "model_int8.tflite").write_bytes(tflite)
    write_lines(out / "labels.txt", labels)
    save_streaming(out / "streaming.json", StreamingConfig(labels=labels, stride_frames=stride_frames))
    return out


def _monitor_sim(sim: Path, wav: Path):
    from kws.monitor import monitor

    proc = subprocess.Popen([str(sim), "--serial", "pty", "--wait", "--hold-s", "0.5", str(wav)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().split()[1]
        heard = monitor(port, send=("version",), seconds=1800, out=io.StringIO(), quiet=True)
    finally:
        proc.wait(timeout=60)
    return heard


def deploy_sketch_stride(model: Path) -> int:
    from corpus.configs import read_json

    return int(read_json(model / "streaming.json").get("stride_frames", 1))


def app_figures(work: Path, *, quick: bool, seed: int, model_dir: str | None = None,
                stream: str | None = None, stride_frames: int | None = None) -> dict:
    """`stride_frames`: of the models made here (micro_speech, the untrained deployable one); None: the stride
    `kws train` stores (kws.streaming.DEPLOY_STRIDE_FRAMES)."""
    import soundfile as sf

    from export.firmware import render_firmware
    from export.firmware_build import arm_size, build_host_sim, build_qemu, run_qemu, write_raw_audio
    from kws.detect import detect_file
    from kws.evaluate import match_detections
    from kws.monitor import python_detections, score_detections

    from kws.streaming import DEPLOY_STRIDE_FRAMES

    stride_frames = stride_frames or DEPLOY_STRIDE_FRAMES
    figures: dict = {}
    if stream and model_dir:  # a trained model and its own stream (python -m kws synth-stream, with truth)
        from kws.monitor import read_truth

        audio = sf.read(stream, dtype="int16")[0]
        occurrences, _ = read_truth(stream)
        minutes, stream_model = len(audio) / SR / 60, Path(model_dir)
    else:
        minutes = 3.0 if quick else 15.0
        audio, occurrences = keyword_stream(minutes, seed)
        stream_model = _model_folder(work / "micro_speech", MICRO.read_bytes(), ("_silence_", "_unknown_", *KEYWORDS),
                                     stride_frames)
    wav = work / "stream.wav"
    sf.write(wav, audio, SR, subtype="PCM_16")
    duration_s = len(audio) / SR
    sketch = render_firmware(stream_model, work / "kws-stream")
    sim = build_host_sim(sketch.path, work / "kws_sim")

    # ---- host simulator + pty + kws monitor vs Python
    t0 = time.perf_counter()
    heard = _monitor_sim(sim, wav)
    sim_s = time.perf_counter() - t0
    reference = python_detections(stream_model, wav)
    detect = detect_file(stream_model, wav, out=io.StringIO())
    device = [(d.time_ms, d.label, d.score) for d in heard.detections]
    figures.update(
        sim_equals_python=bool(heard.ended and device == [(d.time_ms, d.label, d.score) for d in reference]
                               and [x[:2] for x in device] == [(d.time_ms, d.label) for d in detect]),
        stream_minutes=minutes, stream_keywords=len(occurrences), device_detections=len(device),
        sim_seconds=round(sim_s, 1), sim_realtime_factor=round(duration_s / sim_s, 1))
    labels = sorted({o.label for o in occurrences} | {d.label for d in detect})
    device_match = score_detections(heard.detections, occurrences, duration_s)
    python_match = match_detections(detect, occurrences, duration_s, labels=labels)
    figures.update(device_frr=round(device_match.frr, 4), device_fa_per_h=round(device_match.fa_per_hour, 2),
                   python_frr=round(python_match.frr, 4), python_fa_per_h=round(python_match.fa_per_hour, 2))

    # ---- the same sources on a Cortex-M4 under QEMU
    part_s = 20 if quick else 60
    elf = build_qemu(sketch.path, work / "kws_stream.elf")
    run = run_qemu(elf, write_raw_audio(audio[: SR * part_s], work / "part.raw"), timeout_s=1200)
    sf.write(work / "part.wav", audio[: SR * part_s], SR, subtype="PCM_16")
    sim_part = subprocess.run([str(sim), "--serial", "stdio", "--hold-s", "0", str(work / "part.wav")],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600).stdout.splitlines()
    qemu_lines = [line for line in run.lines if not line.startswith("stats ")]
    figures.update(qemu_equals_sim=qemu_lines == sim_part, qemu_seconds_compared=part_s,
                   qemu_detections=sum(1 for line in qemu_lines if line[:1].isdigit()),
                   stream_model_duty_cycle_at_64mhz=round(run.duty_cycle_at(64e6), 3))

    # ---- the deployable model: memory and duty cycle of the whole application
    from bench.firmware import _deployable_model

    tflite, deploy_labels = _deployable_model(model_dir, seed)
    deploy = _model_folder(work / "deployable", tflite, deploy_labels, stride_frames) if not model_dir else Path(model_dir)
    deploy_sketch = render_firmware(deploy, work / "kws-deploy")
    deploy_elf = build_qemu(deploy_sketch.path, work / "kws_deploy.elf")
    memory = arm_size(deploy_elf)
    duty_s = 3 if quick else 6  # the first second (no inference yet) is not counted
    first = max(0, min(SR * 30, len(audio) - SR * duty_s))  # some seconds of speech and noise
    deploy_run = run_qemu(deploy_elf, write_raw_audio(audio[first: first + SR * duty_s], work / "duty.raw"),
                          timeout_s=1800)
    stats = next(line for line in deploy_run.lines if line.startswith("stats "))
    engine_pct = float(dict(item.split("=") for item in stats.split()[1:])["duty_pct"])
    figures.update(app_flash_bytes=memory.flash_bytes, app_ram_bytes=memory.ram_bytes,
                   app_within_nano_budget=memory.flash_bytes <= 256 * 1024 and memory.ram_bytes <= 96 * 1024,
                   app_stack_bytes=deploy_run.stack_bytes, deployable_model_bytes=len(tflite),
                   app_duty_cycle_at_64mhz=round(deploy_run.duty_cycle_at(64e6), 3), duty_seconds_measured=deploy_run.audio_ms / 1000,
                   engine_share_of_app_instructions=round(
                       engine_pct / 100 * 64e6 * deploy_run.total_audio_ms / 1000 / deploy_run.total_instructions, 4),
                   deployable_stride_frames=deploy_sketch_stride(deploy))
    return figures


def main() -> None:
    p = parser("Nano 33 BLE application: simulator over a pty, QEMU Cortex-M4, memory, duty cycle")
    p.add_argument("--model", default=None, help="a trained model folder for memory and duty cycle (default: the "
                                                 "deployable architecture, untrained)")
    p.add_argument("--stream", default=None, help="with --model: its stream WAV (+ .truth.json, from `python -m kws "
                                                  "synth-stream`) for the stream figures instead of micro_speech")
    p.add_argument("--stride-frames", type=int, default=None, help="stride of the models made here (default: "
                                                                       "the one `kws train` stores)")
    args = p.parse_args()
    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_firmware_app_"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    figures = {"quick": args.quick, **app_figures(work, quick=args.quick, seed=args.seed, model_dir=args.model,
                                                      stream=args.stream, stride_frames=args.stride_frames)}
    figures["seconds"] = round(time.perf_counter() - start, 1)
    f = figures
    summary = (f"firmware_app{' (quick)' if args.quick else ''}: sim==python {f['sim_equals_python']}, qemu==sim "
               f"{f['qemu_equals_sim']}; FRR {f['device_frr']:.3f}/{f['python_frr']:.3f}, FA/h "
               f"{f['device_fa_per_h']:.0f}/{f['python_fa_per_h']:.0f} (device/python); "
               f"{f['app_flash_bytes'] / 1024:.0f}/{f['app_ram_bytes'] / 1024:.0f} KB; duty {f['app_duty_cycle_at_64mhz']:.0%}")
    emit("firmware_app", figures, summary)


if __name__ == "__main__":
    main()
