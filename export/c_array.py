"""C sources for the firmware, from template files (`export/templates/*.in`, `string.Template`):

- `model_data.h` / `model_data.cc`: the int8 .tflite as an aligned byte array;
- `model_settings.h`: front-end parameters, the model's input/output quantization, the arena estimate,
  the RecognizeCommands parameters of `streaming.json`, and the labels.

Python only formats values (the byte list, escaped label strings); all C structure lives in the templates.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from string import Template

from corpus.fsutil import atomic_write_text

__all__ = ["TEMPLATES", "render", "c_bytes", "c_string", "write_model_sources", "write_settings_header",
           "c_identifier"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render(name: str, **values) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def c_identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"{name!r} is not a C identifier")
    return name


def c_bytes(data: bytes, per_line: int = 12) -> str:
    lines = []
    for first in range(0, len(data), per_line):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[first:first + per_line]) + ",")
    return "\n".join(lines)


def c_string(text: str) -> str:
    """A C string literal (UTF-8 kept as is; quotes and backslashes escaped; control characters refused)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError(f"label {text!r} has control characters")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_model_sources(tflite: bytes, out_dir: str | Path, *, symbol: str = "g_kws_model_data",
                        basename: str = "model_data", source: str = "model_int8.tflite") -> list[Path]:
    out_dir = Path(out_dir)
    symbol = c_identifier(symbol)
    header = f"{basename}.h"
    values = dict(source=source, model_bytes=len(tflite), sha256=hashlib.sha256(tflite).hexdigest(), symbol=symbol,
                  guard=f"{c_identifier(basename).upper()}_H_", header=header, bytes=c_bytes(tflite))
    paths = [out_dir / header, out_dir / f"{basename}.cc"]
    atomic_write_text(paths[0], render("model_data.h.in", **values))
    atomic_write_text(paths[1], render("model_data.cc.in", **values))
    return paths


def write_settings_header(out_dir: str | Path, *, streaming, input_scale: float, input_zero_point: int,
                          output_scale: float, output_zero_point: int, arena_bytes: int, arena_note: str,
                          source: str = "model_int8.tflite") -> Path:
    """`model_settings.h` from a kws.streaming.StreamingConfig and the int8 model's quantization."""
    frontend = streaming.frontend
    path = Path(out_dir) / "model_settings.h"
    atomic_write_text(path, render(
        "model_settings.h.in", source=source, guard="MODEL_SETTINGS_H_", sample_rate_hz=frontend.sample_rate_hz,
        window_ms=frontend.window_ms, stride_ms=frontend.stride_ms, channels=frontend.channels,
        frames=frontend.frames, pcan=int(frontend.pcan), input_scale=f"{input_scale:.10g}",
        input_zero_point=int(input_zero_point), output_scale=f"{output_scale:.10g}",
        output_zero_point=int(output_zero_point), arena_bytes=int(arena_bytes), arena_note=arena_note,
        stride_frames=streaming.stride_frames, average_window_ms=streaming.average_window_ms,
        detection_threshold=streaming.detection_threshold, suppression_ms=streaming.suppression_ms,
        minimum_count=streaming.minimum_count, queue_capacity=streaming.queue_capacity(),
        label_count=len(streaming.labels), labels=",\n".join(f"    {c_string(l)}" for l in streaming.labels)))
    return path
