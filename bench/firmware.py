"""Benchmark of the C engine (firmware/engine): bit-exactness against its oracles, memory, Cortex-M4
instruction counts under QEMU, host speed against LiteRT.

    python bench/firmware.py [--quick] [--model models/kws-lg] [--block-stride 1,2]

Models: the deployable architecture of `make train-kws` (kws.models preset `ds_cnn_s` + 128-d embedding +
few-shot head, ~58 KB int8, 1.9 M MACs, at the stored stride kws.streaming.DEPLOY_STRIDE_FRAMES; untrained
unless --model gives a trained folder: the figures here do not depend on training) and TFLM's micro_speech
model for the end-to-end stream (real Speech Commands "yes"/"no" it can recognise).

Figures (last line, JSON):
- frontend_bit_exact: C front end == TensorFlow's audio_microfrontend op on every frame of minutes of audio
  (real speech of ../shared/real_speech, noise, clipping, chirps, DC, silence);
- model_bit_exact: every intermediate tensor of the deployable model == LiteRT BUILTIN_REF on windows of
  real features and random ones; recognize_identical: RecognizeCommands decisions == kws.streaming on the
  stream's scores; end_to_end_identical: kws_wav lines == the Python StreamingDetector's (LiteRT reference
  kernels) on the stream; m4_equals_host: the Cortex-M4 build under QEMU writes the host's bytes
  (front end + every tensor), SIMD and portable;
- arena_bytes (our static plan's buffer + kernel scratch) vs tflm_arena_bytes (TFLM's interpreter in the tflite-micro wheel, same model);
  flash_bytes / ram_bytes of engine + model for Cortex-M4 (arm-none-eabi-size, static; stack on top);
- macs_per_inference; m4_instructions_per_inference / per MAC (SIMD and portable) and per front-end frame
  (QEMU -icount shift=0: one virtual ns per instruction, read from SysTick, calibrated by a known loop).
  Instructions are not cycles: a Cortex-M4 at zero wait states runs ~1.0-1.3 cycles per instruction for
  this code (loads and multiply-accumulates are single-cycle, taken branches 2-4), so m4_cycles_per_mac is
  given as instructions x 1.0, the documented factor, until someone measures on a board with DWT_CYCCNT;
- duty_cycle_at_64mhz: (front end for stride_frames frames + one inference) / (64e6 x stride duration);
- host_inferences_per_s of the C model (gcc -O2) vs LiteRT (reference and optimized kernels) on the same model.
"""

from __future__ import annotations

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


def _real_clips(limit: int, seed: int) -> list[np.ndarray]:
    import soundfile as sf

    paths = sorted((SHARED / "real_speech").rglob("*.wav")) + sorted((SHARED / "real_speech").rglob("*.flac"))
    rng = np.random.default_rng(seed)
    rng.shuffle(paths)
    clips = []
    for path in paths[:limit]:
        try:
            audio, rate = sf.read(path, dtype="int16", always_2d=True)
        except Exception:  # noqa: BLE001 - other formats are not needed here
            continue
        if rate == SR:
            clips.append(audio[:, 0])
    return clips


def _varied_audio(seconds: float, seed: int) -> np.ndarray:
    """Real speech (when ../shared is present) interleaved with noise, silence, clipping, chirps and DC."""
    rng = np.random.default_rng(seed)
    clips = _real_clips(400, seed)
    parts, total, k = [], 0, 0
    while total < seconds * SR:
        kind = k % 6
        n = SR * 2
        t = np.arange(n) / SR
        if kind == 0 and clips:
            piece = clips[(k // 6) % len(clips)].astype(np.float64) * rng.uniform(0.2, 3.0)
        elif kind == 1:
            piece = rng.normal(0, rng.uniform(10, 8000), n)
        elif kind == 2:
            piece = np.zeros(n) if k % 12 == 2 else np.clip(rng.normal(0, 40000, n), -32768, 32767)
        elif kind == 3:
            piece = rng.uniform(2000, 30000) * np.sin(2 * np.pi * (50 + rng.uniform(1000, 7000) * t / 4) * t)
        elif kind == 4:
            piece = np.full(n // 2, rng.uniform(-32768, 32767))
        else:
            piece = rng.normal(0, 1, n) * np.linspace(0, rng.uniform(1000, 30000), n)
        parts.append(piece)
        total += len(piece)
        k += 1
    return np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)[: int(seconds * SR)]


def _keyword_stream(minutes: float, seed: int) -> np.ndarray:
    """Speech Commands clips of ../shared/real_speech ("yes", "no" and other words) between noise and silence."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    words = sorted((SHARED / "real_speech" / "keywords").glob("*/*.wav"))
    keywords = [p for p in words if p.parent.name in ("yes", "no")]
    others = [p for p in words if p.parent.name not in ("yes", "no")]
    parts, total = [], 0
    while total < minutes * 60 * SR:
        gap = int(SR * rng.uniform(0.5, 2.0))
        parts.append(rng.normal(0, rng.uniform(5, 300), gap))
        pool = keywords if rng.random() < 0.5 and keywords else (others or keywords)
        if pool:
            parts.append(sf.read(pool[rng.integers(len(pool))], dtype="int16")[0].astype(np.float64))
        total += sum(len(p) for p in parts[-2:])
    return np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)[: int(minutes * 60 * SR)]


def _deployable_model(model_dir: str | None, seed: int,
                      block_stride: tuple[int, int] | None = None) -> tuple[bytes, tuple[str, ...]]:
    if model_dir:
        from export.c_model import read_streaming_params

        folder = Path(model_dir)
        return (folder / "model_int8.tflite").read_bytes(), read_streaming_params(folder / "streaming.json").labels
    import keras

    from export.quantize import to_int8_tflite
    from kws.features import INT8_SCALE
    from kws.models import build_classifier, preset

    from dataclasses import replace

    keras.utils.set_random_seed(seed)
    # the few-shot model's shape on the backbone `make train-kws` trains (kws.models.PRESETS["ds_cnn_s"]), or a
    # variant of it with another stride in the first DS block (--block-stride)
    backbone = preset("ds_cnn_s") if block_stride is None else replace(preset("ds_cnn_s"), block_stride=block_stride)
    model = build_classifier(backbone, 5, embedding_dim=128)
    rng = np.random.default_rng(seed)
    x = ((np.clip(rng.normal(-40, 50, (96, 49, 40)), -128, 127) + 128) * INT8_SCALE).astype(np.float32)
    for _ in range(3):
        model(x, training=True)
    return to_int8_tflite(model, x), ("_silence_", "_unknown_", "kw1", "kw2", "kw3")


def _run(command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, check=True, **kwargs)


def _trace_records(data: bytes, windows: int) -> list[list[tuple[int, int, np.ndarray]]]:
    records, pos = [], 0
    while pos < len(data):
        op, tensor, size = np.frombuffer(data[pos:pos + 12], np.int32)
        records.append((int(op), int(tensor), np.frombuffer(data[pos + 12:pos + 12 + size], np.int8)))
        pos += 12 + int(size)
    per = len(records) // windows
    return [records[i * per:(i + 1) * per] for i in range(windows)]


def main() -> None:
    p = parser("C engine: bit-exactness, memory, Cortex-M4 instructions, host speed")
    p.add_argument("--model", default=None, help="a trained model folder (default: the deployable architecture, "
                                                 "untrained)")
    p.add_argument("--block-stride", default=None, help="H,W: measure a variant of the deployable backbone with this "
                                                        "stride in its first DS block (e.g. 1,2: 25 x 5 maps)")
    args = p.parse_args()
    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from export.arena import measure_tflm_arena
    from export.c_build import arm_size, build_host, build_m4, run_qemu
    from export.c_model import StreamingParams, compile_model, read_streaming_params
    from export.quantize import LiteRtModel
    from kws.features import features_int8, frontend_uint16
    from kws.streaming import DEPLOY_STRIDE_FRAMES, RecognizeCommands, StreamingConfig, StreamingDetector

    quick = args.quick
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_firmware_"))
    figures: dict = {"quick": quick}
    start = time.perf_counter()

    # ---- the deployable model, compiled
    block_stride = tuple(int(v) for v in args.block_stride.split(",")) if args.block_stride else None
    tflite, labels = _deployable_model(args.model, args.seed, block_stride)
    if block_stride:
        figures["block_stride"] = list(block_stride)
    streaming = (read_streaming_params(Path(args.model) / "streaming.json") if args.model
                 else StreamingParams(labels=labels, stride_frames=DEPLOY_STRIDE_FRAMES))  # the stored stride
    compiled = compile_model(tflite, streaming, work / "gen")
    figures.update(model_bytes_int8=len(tflite), macs_per_inference=compiled.macs, arena_bytes=compiled.ram_bytes,
                   activation_buffer_bytes=compiled.arena_bytes, kernel_scratch_bytes=compiled.scratch_bytes,
                   engine_weight_bytes=compiled.weight_bytes)

    # ---- front end == TF op
    fe_seconds = 60.0 if quick else 600.0
    audio = _varied_audio(fe_seconds, args.seed)
    fe = build_host(work / "gen", "fe_dump", work / "fe_dump")
    c_frames = np.frombuffer(_run([fe], input=audio.tobytes()).stdout, np.uint16).reshape(-1, streaming.frontend.channels)
    tf_frames = frontend_uint16(audio, streaming.frontend)
    figures.update(frontend_bit_exact=bool(c_frames.shape == tf_frames.shape and np.array_equal(c_frames, tf_frames)),
                   frontend_seconds=fe_seconds, frontend_frames=int(len(tf_frames)),
                   frontend_values_differing=int((c_frames != tf_frames).sum()) if c_frames.shape == tf_frames.shape
                   else -1)

    # ---- every intermediate tensor == LiteRT reference
    n_windows = 60 if quick else 300
    features = features_int8(audio)
    rng = np.random.default_rng(args.seed)
    starts = rng.integers(0, len(features) - 49, n_windows // 2)
    windows = np.concatenate([np.stack([features[s:s + 49] for s in starts]),
                              np.clip(rng.normal(-40, 50, (n_windows - len(starts), 49, 40)), -128, 127)]).astype(np.int8)
    trace = build_host(work / "gen", "kws_trace", work / "kws_trace")
    traces = _trace_records(_run([trace], input=windows.tobytes()).stdout, n_windows)
    interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    differing = 0
    for window, records in zip(windows, traces):
        interpreter.set_tensor(detail["index"], window.reshape(detail["shape"]))
        interpreter.invoke()
        differing += sum(int((values != interpreter.get_tensor(t).reshape(-1)).sum()) for _, t, values in records)
    figures.update(model_bit_exact=differing == 0 and len(traces[0]) == len(compiled.ops), model_windows=n_windows,
                   model_tensor_values_differing=differing)

    # ---- the stream: micro_speech, kws_wav vs the Python detector; RecognizeCommands on its scores
    minutes = 2.0 if quick else 15.0
    stream = _keyword_stream(minutes, args.seed + 1)
    micro_labels = ("_silence_", "_unknown_", "yes", "no")
    micro_config = StreamingConfig(labels=micro_labels)
    compile_model(MICRO.read_bytes(), StreamingParams(labels=micro_labels), work / "micro")
    kws_wav = build_host(work / "micro", "kws_wav", work / "micro" / "kws_wav")
    import soundfile as sf

    sf.write(work / "stream.wav", stream, SR, subtype="PCM_16")
    c_lines = _run([kws_wav, work / "stream.wav"], text=True).stdout.rstrip("\n").split("\n")[:-1]
    lite = LiteRtModel(MICRO.read_bytes())
    detector = StreamingDetector(lambda w: lite.scores(np.asarray(w, np.int8)), micro_config)
    detector.keep_results = True
    found = []
    for first in range(0, len(stream), SR * 30):
        found += detector.push_audio(stream[first:first + SR * 30])
    py_lines = [f"{d.time_ms / 1000:9.2f} s  {d.label}  score {d.score}" for d in found]
    figures.update(end_to_end_identical=c_lines == py_lines, stream_minutes=minutes, stream_detections=len(py_lines))
    recognize = build_host(work / "micro", "recognize_dump", work / "recognize_dump")
    results = detector.results
    text = "\n".join(f"{t} " + " ".join(str(int(v)) for v in row) for t, row in results)
    c_decisions = _run([recognize], input=text, text=True).stdout.rstrip("\n").split("\n")
    python = RecognizeCommands(micro_config)
    py_decisions = []
    for t, row in results:
        r = python.process(row, int(t))
        py_decisions.append(f"{t} {r.label_index} {r.score} {int(r.is_new)}")
    figures.update(recognize_identical=c_decisions == py_decisions, recognize_results=len(results),
                   recognize_new_commands=sum(d.endswith(" 1") for d in py_decisions))

    # ---- Cortex-M4 under QEMU
    m4_windows = 4 if quick else 20
    run = work / "m4run"
    run.mkdir(exist_ok=True)
    m4_audio = audio[: SR * (4 if quick else 20)]
    m4_audio.tofile(run / "fe_in.bin")
    windows[:m4_windows].tofile(run / "windows.bin")
    host_fe = _run([fe], input=m4_audio.tobytes()).stdout
    host_trace = _run([trace], input=windows[:m4_windows].tobytes()).stdout
    equal, counts = True, {}
    for simd in (True, False):
        elf = build_m4(work / "gen", "m4_check", work / f"m4_check_{'simd' if simd else 'portable'}.elf", simd=simd)
        report = dict(line.split() for line in run_qemu(elf, run, timeout_s=900).strip().splitlines())
        equal &= (run / "fe_out.bin").read_bytes() == host_fe and (run / "trace.bin").read_bytes() == host_trace
        per_tick = 2_000_000 / int(report["calibration_ticks"])  # instructions per SysTick tick
        counts[simd] = (int(report["model_ticks"]) * per_tick / int(report["inferences"]),
                        int(report["frontend_ticks"]) * per_tick / int(report["frames"]))
        if simd:  # instructions per inference by operator kind (SIMD build)
            by_op: dict[str, int] = {}
            for key, value in report.items():
                if key.startswith("op_ticks_"):
                    name = compiled.ops[int(key[len("op_ticks_"):])]
                    by_op[name] = by_op.get(name, 0) + round(int(value) * per_tick / int(report["inferences"]))
            figures["m4_instructions_by_op_simd"] = by_op
    inference_simd, frame = counts[True]
    inference_portable = counts[False][0]
    stride_s = streaming.stride_frames * streaming.frontend.stride_ms / 1000
    duty = (frame * streaming.stride_frames + inference_simd) / (64e6 * stride_s)
    figures.update(
        m4_equals_host=bool(equal), m4_windows=m4_windows,
        m4_instructions_per_inference_simd=round(inference_simd), m4_instructions_per_inference_portable=round(inference_portable),
        m4_instructions_per_mac_simd=round(inference_simd / compiled.macs, 3),
        m4_instructions_per_mac_portable=round(inference_portable / compiled.macs, 3),
        m4_cycles_per_mac_simd=round(inference_simd / compiled.macs, 3),
        m4_cycles_per_mac_portable=round(inference_portable / compiled.macs, 3),
        m4_cycles_per_instruction_assumed=1.0,
        m4_instructions_per_frame=round(frame), stride_frames=streaming.stride_frames,
        duty_cycle_at_64mhz=round(duty, 3),
        # the smallest stride (frames between inferences) that keeps the duty cycle <= 50 % at 64 MHz
        stride_frames_for_half_duty=int(np.ceil(inference_simd / (0.5 * 64e6 * streaming.frontend.stride_ms / 1000 - frame))),
        inference_ms_at_64mhz=round(inference_simd / 64e3, 1))
    sizes = arm_size(build_m4(work / "gen", "size_main", work / "size_main.elf"))
    figures.update(flash_bytes=sizes["flash_bytes"], ram_bytes=sizes["ram_bytes"])
    tflm = measure_tflm_arena(tflite)
    figures.update(tflm_arena_bytes=tflm["total"] if tflm else None,
                   arena_vs_tflm=round(compiled.ram_bytes / tflm["total"], 3) if tflm else None)

    # ---- host speed: the C model vs LiteRT on the same model and windows
    speed = build_host(work / "gen", "kws_speed", work / "kws_speed")
    count = 200 if quick else 1000
    out = _run([speed, count], input=windows[:64].tobytes()).stdout.decode().split()
    c_rate = count / float(out[3])
    rates = {}
    for name, reference in (("ref", True), ("opt", False)):
        model = LiteRtModel(tflite, reference=reference)
        batch = windows[: min(count, 100)]
        t0 = time.perf_counter()
        model.run(batch)
        rates[name] = len(batch) / (time.perf_counter() - t0)
    figures.update(host_inferences_per_s=round(c_rate, 1), litert_ref_inferences_per_s=round(rates["ref"], 1),
                   litert_opt_inferences_per_s=round(rates["opt"], 1),
                   host_vs_litert_ref=round(c_rate / rates["ref"], 2), host_vs_litert_opt=round(c_rate / rates["opt"], 2),
                   seconds=round(time.perf_counter() - start, 1))
    ok = all(figures[k] for k in ("frontend_bit_exact", "model_bit_exact", "recognize_identical", "end_to_end_identical",
                                  "m4_equals_host"))
    summary = (f"firmware{' (quick)' if quick else ''}: bit-exact {'all' if ok else 'NOT all'}; arena {compiled.ram_bytes:,} B "
               f"vs TFLM {figures['tflm_arena_bytes']:,} B; M4 flash {figures['flash_bytes']:,} B RAM {figures['ram_bytes']:,} B; "
               f"{figures['m4_instructions_per_mac_simd']} instr/MAC SIMD ({figures['m4_instructions_per_mac_portable']} "
               f"portable); duty {figures['duty_cycle_at_64mhz']:.0%} at 64 MHz; host {c_rate:.0f} inf/s = "
               f"{figures['host_vs_litert_ref']}x LiteRT ref")
    emit("firmware", figures, summary)


if __name__ == "__main__":
    main()
