"""`python -m export firmware --model DIR --out DIR`: the Arduino Nano 33 BLE wake-word sketch of one model.

The sketch folder is ready for `arduino-cli compile` (FQBN arduino:mbed_nano:nano33ble) and is also the one
source tree the host simulator and the QEMU Cortex-M4 build compile (export.firmware_build):

    <out>/<name>.ino          setup()/loop(): the application's entry points (firmware/nano33ble/sketch.ino.in)
    <out>/hal_nano33ble.cpp   the board's HAL: PDM microphone, RGB LED, USB serial, micros()
    <out>/sketch.yaml         arduino-cli project file (default FQBN)
    <out>/src/kws/            application (firmware/app), engine (firmware/engine), this model's generated
                              engine sources (`python -m export c-model`) and app_config.h
    <out>/firmware.json       what was rendered from what (model hash, threshold, gain, files)

All C comes from files: the application and engine sources are copied, the model sources are generated
by the engine's compiler, and app_config.h and the sketch are rendered from templates (string.Template);
Python only formats values.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template

from corpus.configs import read_json, write_json
from corpus.fsutil import atomic_write_text
from export.c_array import c_string
from export.frontend import FrontendConfig

__all__ = ["FirmwareError", "FirmwareConfig", "Sketch", "render_firmware", "register", "FIRMWARE", "SOURCE_DIR",
           "FQBN"]

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
EXPORT_TEMPLATES = Path(__file__).resolve().parent / "templates"
SOURCE_DIR = Path("src") / "kws"  # inside the sketch: Arduino compiles src/ recursively
FQBN = "arduino:mbed_nano:nano33ble"
APP_VERSION = "1.0"
SILENCE, UNKNOWN = "_silence_", "_unknown_"  # the label convention of kws.common (export may not import kws)
# One colour per keyword (micro_speech lit green for "yes", red for "no"); more keywords cycle.
PALETTE = ((0, 255, 0), (255, 0, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 255, 255))


class FirmwareError(ValueError):
    """A model folder that cannot become firmware (the message names the file and the reason)."""


@dataclass(frozen=True, kw_only=True)
class FirmwareConfig:
    threshold: int | None = None  # None: the model's streaming.json value
    pdm_gain: int = 20            # PDM.setGain, 0..80 (the mbed core's default is 20)
    ring_ms: int = 256            # audio ring between the PDM interrupt and loop() (rounded up to 2^k samples)
    led_ms: int = 1000            # how long the LED shows a detection

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0 <= self.threshold <= 255:
            raise FirmwareError(f"threshold {self.threshold}: must be 0..255 (the averaged score scale)")
        if not 0 <= self.pdm_gain <= 80:
            raise FirmwareError(f"PDM gain {self.pdm_gain}: the Nano 33 BLE's PDM driver takes 0..80")
        if self.ring_ms < 40 or self.led_ms < 0:
            raise FirmwareError("ring_ms must be >= 40 (two 20-ms frames) and led_ms >= 0")


@dataclass(frozen=True)
class Sketch:
    path: Path
    ino: Path
    sources: Path  # src/kws: everything the host simulator and QEMU builds compile too
    model_hash: str
    keywords: tuple[str, ...]
    threshold: int


def _render(template: Path, **values) -> str:
    return Template(template.read_text(encoding="utf-8")).substitute({k: str(v) for k, v in values.items()})


def _read_model(model_dir: Path) -> tuple[bytes, dict]:
    if not model_dir.is_dir():
        raise FirmwareError(f"{model_dir}: no model folder (expected one written by `python -m kws train`)")
    tflite_path, streaming_path = model_dir / "model_int8.tflite", model_dir / "streaming.json"
    for path in (tflite_path, streaming_path):
        if not path.is_file():
            raise FirmwareError(f"{path}: missing; the firmware needs the int8 model and its streaming.json")
    try:
        streaming = read_json(streaming_path)
        labels = list(streaming["labels"])
    except (ValueError, KeyError, TypeError) as error:
        raise FirmwareError(f"{streaming_path}: not a streaming config ({error})") from None
    if not labels or labels[0] != SILENCE:
        raise FirmwareError(f"{streaming_path}: labels must start with {SILENCE!r}, got {labels[:2]}")
    return tflite_path.read_bytes(), streaming


def _reported(streaming: dict) -> list[bool]:
    chosen = set(streaming.get("report_labels") or ())
    return [(label in chosen) if chosen else (label not in (SILENCE, UNKNOWN)) for label in streaming["labels"]]


def _sketch_name(out: Path) -> str:
    name = out.resolve().name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", name):
        raise FirmwareError(f"{out}: Arduino needs the sketch folder's name to be a sketch name (letters, digits, "
                            "'_', '-', '.'; 63 at most), e.g. build/nano33ble/kws-lg")
    return name


def _engine_model_sources(model_dir: Path, tflite: bytes, streaming: dict, threshold: int, out: Path) -> None:
    """The engine's model compiler writes model_settings.h, the model's layers and the front-end tables into
    `out`; a changed threshold goes through a copy of streaming.json (the model folder is never touched)."""
    from export.c_model import compile_model, read_streaming_params

    with tempfile.TemporaryDirectory(prefix="kws-firmware-") as tmp:
        path = Path(tmp) / "streaming.json"
        write_json(path, {**streaming, "detection_threshold": threshold})
        try:
            compile_model(tflite, read_streaming_params(path), out)
        except ValueError as error:  # the compiler's errors (an op the engine lacks, ...) are ValueErrors
            raise FirmwareError(f"{model_dir}: the engine cannot compile this model: {error}") from None


def _copy_sources(source: Path, out: Path) -> list[str]:
    names = sorted(p.name for p in source.iterdir() if p.suffix in (".c", ".h"))
    if not names:
        raise FirmwareError(f"{source}: no C sources (is the engine merged into this checkout?)")
    for name in names:
        if (out / name).exists():  # one flat folder (Arduino adds no include paths): names must not collide
            raise FirmwareError(f"{source / name}: another firmware part already has a file named {name}")
        shutil.copy2(source / name, out / name)
    return names


def _app_config(tflite: bytes, streaming: dict, config: FirmwareConfig, threshold: int, source: str) -> str:
    frontend = FrontendConfig(**streaming.get("frontend", {}))
    labels = streaming["labels"]
    reported = _reported(streaming)
    colors, k = [], 0
    for is_keyword in reported:
        colors.append(PALETTE[k % len(PALETTE)] if is_keyword else (0, 0, 0))
        k += is_keyword
    ring_samples = 1 << max(1, (frontend.sample_rate_hz * config.ring_ms // 1000 - 1).bit_length())
    pcan = "pcan" if frontend.pcan else "nopcan"
    return _render(
        EXPORT_TEMPLATES / "app_config.h.in", source=source, app_version=APP_VERSION,
        model_hash=hashlib.sha256(tflite).hexdigest()[:12],
        frontend=f"{frontend.sample_rate_hz}Hz/{frontend.window_ms}ms/{frontend.stride_ms}ms/{frontend.channels}ch/{pcan}",
        sample_rate_hz=frontend.sample_rate_hz, stride_ms=frontend.stride_ms, frame_samples=frontend.stride_samples,
        stride_frames=int(streaming.get("stride_frames", 1)), threshold=threshold, pdm_gain=config.pdm_gain,
        ring_samples=ring_samples, ring_ms=ring_samples * 1000 // frontend.sample_rate_hz, led_ms=config.led_ms,
        label_count=len(labels), labels=",\n".join(f"    {c_string(l)}" for l in labels),
        reported=", ".join(str(int(r)) for r in reported),
        colors=",\n".join(f"    {{{r}, {g}, {b}}}" for r, g, b in colors))


def render_firmware(model_dir: str | Path, out_dir: str | Path, config: FirmwareConfig = FirmwareConfig()) -> Sketch:
    model_dir, out = Path(model_dir), Path(out_dir)
    tflite, streaming = _read_model(model_dir)
    name = _sketch_name(out)
    threshold = int(streaming.get("detection_threshold", 200)) if config.threshold is None else config.threshold
    sources = out / SOURCE_DIR
    if sources.exists():
        shutil.rmtree(sources)  # a re-render must not keep files of another engine or model version
    sources.mkdir(parents=True)
    copied = _copy_sources(FIRMWARE / "engine", sources) + _copy_sources(FIRMWARE / "app", sources)
    _engine_model_sources(model_dir, tflite, streaming, threshold, sources)
    atomic_write_text(sources / "app_config.h", _app_config(tflite, streaming, config, threshold, model_dir.name))
    sketch_dir = FIRMWARE / "nano33ble"
    ino = out / f"{name}.ino"
    keywords = tuple(l for l, r in zip(streaming["labels"], _reported(streaming)) if r)
    atomic_write_text(ino, _render(sketch_dir / "sketch.ino.in", name=name, model=model_dir.name,
                                   keywords=", ".join(keywords), source_dir=SOURCE_DIR.as_posix()))
    atomic_write_text(out / "hal_nano33ble.cpp", _render(sketch_dir / "hal_nano33ble.cpp.in",
                                                         source_dir=SOURCE_DIR.as_posix()))
    atomic_write_text(out / "sketch.yaml", _render(sketch_dir / "sketch.yaml.in", fqbn=FQBN))
    model_hash = hashlib.sha256(tflite).hexdigest()
    write_json(out / "firmware.json", {
        "model": str(model_dir.resolve()), "model_sha256": model_hash, "keywords": list(keywords),
        "threshold": threshold, "config": {"threshold": config.threshold, "pdm_gain": config.pdm_gain,
                                           "ring_ms": config.ring_ms, "led_ms": config.led_ms},
        "fqbn": FQBN, "copied_sources": copied})
    return Sketch(path=out, ino=ino, sources=sources, model_hash=model_hash[:12], keywords=keywords,
                  threshold=threshold)


def _main(args: argparse.Namespace) -> int:
    from corpus.cli import UserError
    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()

    try:
        config = FirmwareConfig(threshold=args.threshold, pdm_gain=args.gain)
        sketch = render_firmware(args.model, args.out, config)
    except FirmwareError as error:
        raise UserError(str(error)) from None
    print(f"wrote {sketch.path}: sketch {sketch.ino.name} for {FQBN} (model {sketch.model_hash}, keywords "
          f"{', '.join(sketch.keywords)}, threshold {sketch.threshold}); flash with `make flash MODEL=... PORT=...` "
          f"or `arduino-cli compile --upload -p PORT {sketch.path}`")
    paths = {"sketch": str(sketch.path), "sources": str(sketch.sources)}
    if args.sim:
        from export.firmware_build import BuildError, build_host_sim

        try:
            paths["sim"] = str(build_host_sim(sketch.path, args.sim))
        except BuildError as error:
            raise UserError(str(error)) from None
        print(f"built the host simulator {args.sim}: `{args.sim} --wait <16-kHz mono WAV>` prints its pty, then "
              f"`python -m kws monitor --port <pty>`")
    if args.json:
        print(json.dumps(paths))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("firmware", help="render the Arduino Nano 33 BLE wake-word sketch of a model",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=__doc__ + "\nexample:\n  python -m export firmware --model models/kws-lg "
                                             "--out build/nano33ble/kws-lg")
    p.add_argument("--model", required=True, help="model folder (model_int8.tflite, streaming.json, labels.txt)")
    p.add_argument("--out", required=True, help="sketch folder to write (its name becomes the sketch's name)")
    p.add_argument("--threshold", type=int, default=None, help="detection threshold 0..255 (default: the model's)")
    p.add_argument("--gain", type=int, default=20, help="PDM microphone gain 0..80 (default 20)")
    p.add_argument("--sim", help="also build the host simulator (firmware/host/kws_sim.c) of these sources here")
    p.add_argument("--json", action="store_true", help="also print the paths as one JSON line")
    p.set_defaults(func=_main)
