"""TFLite export of a model folder: float16 weights and int8 weights (dynamic-range quantization: int8
weights, activations quantized on the fly per tensor), both with a dynamic time axis (batch 1), run by the
LiteRT interpreter; report.json holds the WER of the Keras model and of each TFLite model on one set.

Full-integer int8 (int8 activations too) is not used: attention softmax and layer norms over dynamic
lengths lose too much with one static activation range, which is the "WER jumps after conversion" that
users of other Keras Conformers report.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from corpus.configs import write_json
from corpus.fsutil import atomic_write_bytes

from asr.data import DataConfig, prepare, read_source
from asr.decode import greedy, log_softmax
from asr.model import output_lengths
from asr.recognizer import Recognizer
from asr.wer import score

__all__ = ["convert", "TfliteRecognizer", "export_tflite"]


def convert(recognizer: Recognizer, kind: str) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(recognizer.model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif kind != "int8":
        raise ValueError(f"unknown export kind {kind!r}; choose float16 or int8")
    return converter.convert()


class TfliteRecognizer:
    """LiteRT interpreter over a converted model; resized per utterance (dynamic time axis)."""

    def __init__(self, model_bytes: bytes, tokenizer) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=model_bytes, num_threads=2)
        self.tokenizer = tokenizer
        inputs = self.interpreter.get_input_details()
        self.features_index = next(d["index"] for d in inputs if len(d["shape"]) == 3)
        self.lengths_index = next(d["index"] for d in inputs if len(d["shape"]) == 1)
        self.shape = None

    def log_probs(self, features: np.ndarray) -> np.ndarray:
        frames = len(features)
        if self.shape != frames:
            self.interpreter.resize_tensor_input(self.features_index, [1, frames, features.shape[1]])
            self.interpreter.allocate_tensors()
            self.shape = frames
        self.interpreter.set_tensor(self.features_index, features[None].astype(np.float32))
        self.interpreter.set_tensor(self.lengths_index, np.array([frames], np.int32))
        self.interpreter.invoke()
        output = self.interpreter.get_output_details()[0]["index"]
        return log_softmax(self.interpreter.get_tensor(output)[0][:int(output_lengths(frames))])

    def transcribe_features(self, features: np.ndarray) -> str:
        return self.tokenizer.decode(greedy(self.log_probs(features)))


def export_tflite(model_dir: str | Path, *, data: str, jobs: int | None = None, progress: bool = True) -> dict:
    """Write model_float16.tflite, model_int8.tflite and report.json (WER of all three on `data`)."""
    model_dir = Path(model_dir)
    recognizer = Recognizer.load(model_dir)
    utterances, _ = read_source(data)
    examples, _ = prepare(utterances, lambda text: [1], features=recognizer.features,
                          config=DataConfig(max_duration_s=10_000.0, min_duration_s=0.0), train=False, jobs=jobs,
                          progress=progress)
    refs = {e.id: e.text for e in examples}
    feature_list = [e.features.astype(np.float32) for e in examples]
    started = time.perf_counter()
    keras_hyps = recognizer.transcribe_features(feature_list)
    report: dict = {"data": str(data), "utterances": len(examples),
                    "keras": {"wer": score(refs, dict(zip(refs, keras_hyps))).counts.wer,
                              "seconds": round(time.perf_counter() - started, 3)}}
    for kind in ("float16", "int8"):
        model_bytes = convert(recognizer, kind)
        atomic_write_bytes(model_dir / f"model_{kind}.tflite", model_bytes)
        lite = TfliteRecognizer(model_bytes, recognizer.tokenizer)
        started = time.perf_counter()
        hyps = [lite.transcribe_features(f) for f in feature_list]
        wer = score(refs, dict(zip(refs, hyps))).counts.wer
        report[kind] = {"wer": wer, "wer_delta": round(wer - report["keras"]["wer"], 6), "bytes": len(model_bytes),
                        "seconds": round(time.perf_counter() - started, 3)}
    write_json(model_dir / "report.json", report)
    return report
