"""A keyword model folder as the firmware generators see it: file names, labels and the streaming
parameters (RecognizeCommands + the front end), read without importing `kws`.

`kws.bundle` builds on this (it adds scorers and the Keras model); `python -m export` commands and the C
generators read model folders through it, so `export` never imports `kws` (layers: corpus < export <
kws/asr).

    model.keras           float Keras model (features -> probabilities)
    model_int8.tflite     full-integer export (int8 in/out, builtin ops only)
    labels.txt            class names, index order (_silence_, _unknown_, keywords...)
    streaming.json        StreamingConfig: RecognizeCommands parameters and the FrontendConfig
    config.json           the training configuration
    report.json           metrics
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus.configs import from_jsonable, read_json, read_lines, write_json
from export.frontend import FrontendConfig

__all__ = ["SILENCE", "UNKNOWN", "StreamingConfig", "load_streaming", "save_streaming", "ModelFolder",
           "ModelFolderError", "read_model_folder", "MODEL_KERAS", "MODEL_TFLITE", "LABELS", "STREAMING",
           "REPORT", "CONFIG"]

SILENCE = "_silence_"  # Speech Commands / TFLM micro_speech names: index 0 and 1 of every model's labels
UNKNOWN = "_unknown_"

MODEL_KERAS = "model.keras"
MODEL_TFLITE = "model_int8.tflite"
LABELS = "labels.txt"
STREAMING = "streaming.json"
REPORT = "report.json"
CONFIG = "config.json"


@dataclass(frozen=True, kw_only=True)
class StreamingConfig:
    labels: tuple[str, ...]
    average_window_ms: int = 1000
    detection_threshold: int = 200  # on the averaged score, 0..255, strict >
    suppression_ms: int = 1500
    minimum_count: int = 3
    stride_frames: int = 1  # classify every n-th frame (1 = every 20 ms)
    window_frames: int = 0  # frames per classifier window; 0 = the front end's (frontend.frames)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    report_labels: tuple[str, ...] = ()  # empty: every label but silence and unknown

    def __post_init__(self) -> None:
        if not self.labels or self.labels[0] != SILENCE:
            raise ValueError(f"labels[0] must be {SILENCE!r} (RecognizeCommands treats index 0 as silence)")
        if not 0 <= self.detection_threshold <= 255:
            raise ValueError("detection_threshold is on the 0..255 score scale")
        if self.minimum_count < 1 or self.average_window_ms <= 0 or self.stride_frames < 1:
            raise ValueError("minimum_count, average_window_ms and stride_frames must be positive")
        if self.window_frames == 0:
            object.__setattr__(self, "window_frames", self.frontend.frames)
        elif self.window_frames != self.frontend.frames:
            raise ValueError(f"window_frames {self.window_frames} disagrees with the front end's "
                             f"{self.frontend.frames} frames per window")

    @property
    def reported(self) -> tuple[str, ...]:
        return self.report_labels or tuple(l for l in self.labels if l not in (SILENCE, UNKNOWN))

    def window_time_ms(self, end_frame: int | np.ndarray) -> int | np.ndarray:
        """Time of a window's result: when its last frame is complete."""
        return end_frame * self.frontend.stride_ms + self.frontend.window_ms

    def queue_capacity(self) -> int:
        return self.average_window_ms // (self.stride_frames * self.frontend.stride_ms) + 1


def save_streaming(path: str | Path, config: StreamingConfig) -> None:
    write_json(path, config)


def load_streaming(path: str | Path) -> StreamingConfig:
    return from_jsonable(StreamingConfig, read_json(path))


class ModelFolderError(FileNotFoundError):
    """A model folder is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    labels: tuple[str, ...]
    streaming: StreamingConfig

    @property
    def frontend(self) -> FrontendConfig:
        return self.streaming.frontend

    def tflite(self) -> bytes:
        return (self.path / MODEL_TFLITE).read_bytes()

    def report(self) -> dict:
        path = self.path / REPORT
        return read_json(path) if path.exists() else {}


def read_model_folder(path: str | Path, *, need: tuple[str, ...] = (MODEL_TFLITE,)) -> ModelFolder:
    """Check and read a model folder; `need` names the files the caller uses beyond labels and streaming."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFolderError(f"{path}: no model folder here (train one with `python -m kws train`)")
    missing = [name for name in (LABELS, STREAMING, *need) if not (path / name).exists()]
    if missing:
        raise ModelFolderError(f"{path}: not a complete model folder, missing {', '.join(missing)}")
    try:
        streaming = load_streaming(path / STREAMING)
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFolderError(f"{path / STREAMING}: not a valid streaming configuration ({error})") from None
    labels = tuple(read_lines(path / LABELS))
    if labels != streaming.labels:
        raise ModelFolderError(f"{path}: labels.txt and streaming.json disagree")
    return ModelFolder(path=path, labels=labels, streaming=streaming)
