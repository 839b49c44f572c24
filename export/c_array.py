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

import numpy as np

from corpus.fsutil import atomic_write_text

__all__ = ["TEMPLATES", "render", "c_bytes", "c_string", "write_model_sources", "write_settings_header",
           "c_identifier", "c_values", "frontend_values"]

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


def c_values(values, per_line: int = 12) -> str:
    """Integers as the body of a C array initializer, `per_line` a line."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = []
    for first in range(0, len(flat), per_line):
        lines.append("    " + ", ".join(str(v) for v in flat[first:first + per_line]) + ",")
    return "\n".join(lines)


def frontend_values(frontend) -> dict[str, object]:
    """Template values of every FrontendConfig field and of the front end's derived sizes."""
    from dataclasses import fields

    from export.c_frontend import frontend_tables

    tables = frontend_tables(frontend)
    values: dict[str, object] = {}
    for f in fields(frontend):
        value = getattr(frontend, f.name)
        values[f.name] = int(value) if isinstance(value, bool) else (repr(float(value)) if isinstance(value, float)
                                                                     else value)
    values.update(
        frames=frontend.frames, window_samples=tables.window_samples, stride_samples=tables.stride_samples,
        fft_size=tables.fft_size, fft_factor_pairs=len(tables.fft_factors),
        filterbank_start_index=tables.filterbank_start_index, filterbank_end_index=tables.filterbank_end_index,
        filterbank_weights=len(tables.weights), even_smoothing_q14=tables.even_smoothing_q14,
        odd_smoothing_q14=tables.odd_smoothing_q14, min_signal_remaining_q14=tables.min_signal_remaining_q14,
        correction_bits=tables.correction_bits, pcan_snr_shift=tables.pcan_snr_shift,
        pcan_lut_size=len(tables.pcan_gain_lut), log_lut_size=len(tables.log_lut))
    return values


def write_settings_header(out_dir: str | Path, *, streaming, input_scale: float, input_zero_point: int,
                          output_scale: float, output_zero_point: int, arena_bytes: int, arena_note: str,
                          source: str = "model_int8.tflite", generator: str = "c-array") -> Path:
    """`model_settings.h` from a streaming configuration (kws.streaming.StreamingConfig or anything with its
    fields) and the int8 model's quantization: every FrontendConfig field, the derived front-end sizes, the
    RecognizeCommands parameters and the labels."""
    frontend = streaming.frontend
    labels = tuple(streaming.labels)
    reported = set(streaming.reported)
    window_frames = getattr(streaming, "window_frames", frontend.frames)
    path = Path(out_dir) / "model_settings.h"
    atomic_write_text(path, render(
        "model_settings.h.in", source=source, generator=generator, guard="MODEL_SETTINGS_H_",
        **frontend_values(frontend), input_scale=f"{input_scale:.10g}",
        input_zero_point=int(input_zero_point), output_scale=f"{output_scale:.10g}",
        output_zero_point=int(output_zero_point), arena_bytes=int(arena_bytes), arena_note=arena_note,
        stride_frames=streaming.stride_frames, window_frames=window_frames,
        average_window_ms=streaming.average_window_ms, detection_threshold=streaming.detection_threshold,
        suppression_ms=streaming.suppression_ms, minimum_count=streaming.minimum_count,
        queue_capacity=streaming.queue_capacity(), label_count=len(labels),
        labels=",\n".join(f"    {c_string(l)}" for l in labels),
        reported_mask=", ".join("1" if l in reported else "0" for l in labels)))
    return path
