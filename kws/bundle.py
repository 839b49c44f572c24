"""A model folder: everything one keyword model needs, side by side.

    model.keras           float Keras model (features -> probabilities)
    model_int8.tflite     full-integer export (int8 in/out, builtin ops only)
    labels.txt            class names, index order (_silence_, _unknown_, keywords...)
    streaming.json        RecognizeCommands parameters and front-end config (kws.streaming)
    config.json           the training configuration, embedding used, data roots
    files_*.tsv           the exact clips used (shots, unknown bank, evaluation)
    report.json, *.png    metrics and plots
    c/                    model_data.{h,cc} and model_settings.h for the firmware

`Bundle.scorer()` turns int8 feature windows into RecognizeCommands scores with the int8 model (LiteRT)
or the float model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from export.model_folder import (CONFIG, LABELS, MODEL_KERAS, MODEL_TFLITE, REPORT, STREAMING, ModelFolder,
                                 ModelFolderError, read_model_folder)
from kws.features import int8_to_float
from kws.streaming import StreamingConfig, scores_from_probabilities

__all__ = ["Bundle", "load_bundle", "MODEL_KERAS", "MODEL_TFLITE", "LABELS", "STREAMING", "REPORT", "CONFIG",
           "BundleError"]

BundleError = ModelFolderError  # one error type for a bad model folder, whoever reads it


@dataclass(frozen=True)
class Bundle(ModelFolder):
    """A model folder (`export.model_folder`) with what keyword code needs on top: the Keras model and scorers."""

    def keras_model(self):
        import keras
        return keras.models.load_model(self.path / MODEL_KERAS, compile=False)

    def scorer(self, kind: str = "int8", *, reference: bool = False) -> Callable[[np.ndarray], np.ndarray]:
        """int8 windows [n, frames, channels] -> scores [n, classes] (0..255)."""
        if kind == "int8":
            from export.quantize import LiteRtModel
            lite = LiteRtModel(self.tflite(), reference=reference)
            return lambda windows: lite.scores(np.asarray(windows, np.int8))
        if kind == "float":
            model = self.keras_model()
            frontend = self.streaming.frontend
            return lambda windows: scores_from_probabilities(
                model.predict(int8_to_float(windows, frontend), batch_size=256, verbose=0))
        raise ValueError(f"scorer kind must be int8 or float, got {kind!r}")


def load_bundle(path: str | Path, *, need: tuple[str, ...] = (MODEL_TFLITE,)) -> Bundle:
    folder = read_model_folder(path, need=need)
    return Bundle(path=folder.path, labels=folder.labels, streaming=folder.streaming)


def save_bundle(out: str | Path, *, model, tflite: bytes, streaming: StreamingConfig, report: dict, config: dict,
                files: dict[str, list[str]] | None = None) -> Path:
    """Write a model folder (see the module docstring); report.json is written last."""
    from corpus.fsutil import atomic_write_bytes
    from export.arena import estimate_arena
    from export.c_array import write_model_sources, write_settings_header
    from export.quantize import LiteRtModel
    from corpus.configs import write_json, write_lines
    from export.model_folder import save_streaming

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_KERAS)
    atomic_write_bytes(out / MODEL_TFLITE, tflite)
    write_lines(out / LABELS, streaming.labels)
    save_streaming(out / STREAMING, streaming)
    for name, lines in (files or {}).items():
        write_lines(out / name, lines)
    lite = LiteRtModel(tflite)
    arena = estimate_arena(tflite)
    write_model_sources(tflite, out / "c")
    write_settings_header(out / "c", streaming=streaming, input_scale=lite.input_scale,
                          input_zero_point=lite.input_zero_point, output_scale=lite.output_scale,
                          output_zero_point=lite.output_zero_point, arena_bytes=arena.arena_bytes,
                          arena_note=arena.method + "; see export/arena.py")
    write_json(out / CONFIG, config)
    write_json(out / REPORT, report)
    return out
