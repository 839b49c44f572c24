"""Full-integer int8 post-training quantization to TFLite, the builtin-int8 check, and LiteRT runs.

`to_int8_tflite(model, representative)`:
- converts a batch-1 concrete function (no dynamic-shape ops) with TFLITE_BUILTINS_INT8, int8 input and
  output, calibrated on `representative` (real training features);
- pins the input tensor's quantization to the micro-frontend int8 form (scale 666/6553.6, zero point
  -128, export.frontend) with a FakeQuant on the input, so the firmware feeds front-end int8 values
  unchanged; the features already lie on that grid, so the FakeQuant changes nothing numerically;
- then checks the result: every operator must be a builtin and compute in int8. The converter does not
  fail when an op has no int8 kernel; it leaves it in float between DEQUANTIZE/QUANTIZE. That is reported
  here as `FloatOpsError`, naming each float op and its tensors.

`LiteRtModel` runs a .tflite in ai-edge-litert, by default with the reference op resolver
(`OpResolverType.BUILTIN_REF`: the portable reference kernels, the closest host relative of TFLite
Micro's kernels).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
import numpy as np

from export.flatbuffer import ModelInfo, read_tflite
from export.frontend import FRONTEND

__all__ = ["ExportError", "FloatOpsError", "NonBuiltinOpsError", "to_int8_tflite", "to_float_tflite", "check_int8",
           "LiteRtModel", "QuantizeReport", "accuracy_int8_vs_float"]


_QUANT_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}
_INTEGER_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "BOOL"}


class ExportError(RuntimeError):
    pass


class FloatOpsError(ExportError):
    def __init__(self, float_ops: list[str], boundary: list[str]) -> None:
        self.float_ops = float_ops
        message = (f"int8 export left {len(float_ops)} operator(s) in float (no int8 kernel, or the converter "
                   f"could not quantize them): {'; '.join(float_ops)}")
        if boundary:
            message += f". Float model boundary: {'; '.join(boundary)}"
        message += (". Replace these layers with ones that have int8 builtin kernels (e.g. ReLU instead of GELU,"
                    " no custom Lambda math), or keep them out of the deployed model.")
        super().__init__(message)


class NonBuiltinOpsError(ExportError):
    pass


def check_int8(data: bytes) -> ModelInfo:
    """Raise unless every op is a builtin computing in int8 and the model's input/output are int8."""
    info = read_tflite(data)
    custom = [op.name for op in info.ops if op.custom]
    if custom:
        raise NonBuiltinOpsError(f"model uses non-builtin ops TFLite Micro cannot run: {', '.join(sorted(set(custom)))}")
    if info.subgraphs != 1:
        raise NonBuiltinOpsError(f"model has {info.subgraphs} subgraphs (control flow); expected 1")
    float_ops = []
    for op in info.ops:
        if op.name in _QUANT_BOUNDARY_OPS:
            continue
        floats = [info.tensors[t] for t in (*op.inputs, *op.outputs) if info.tensors[t].dtype not in _INTEGER_TYPES]
        if floats:
            float_ops.append(f"{op.name} #{op.index} on " + ", ".join(f"{t.name} ({t.dtype})" for t in floats[:3]))
    boundary = [f"{'input' if t in info.inputs else 'output'} {info.tensors[t].name} is {info.tensors[t].dtype}"
                for t in (*info.inputs, *info.outputs) if info.tensors[t].dtype != "INT8"]
    if float_ops or boundary:
        raise FloatOpsError(float_ops, boundary)
    return info


@contextlib.contextmanager
def _quiet():
    """Silence the converter's chatter (SavedModel signatures on stdout, MLIR notes on stderr, both written
    below Python); on an error the captured text is attached to it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except Exception as error:
            sys.stdout.flush()
            sys.stderr.flush()
            sink.seek(0)
            error.add_note("converter output:\n" + sink.read().decode("utf-8", "replace")[-4000:])
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _export_model(model, pin: tuple[float, int] | None):
    """A batch-1 Keras wrapper (static shapes: no SHAPE/PACK ops in the graph), with the input pin."""
    import keras
    import tensorflow as tf

    class PinInputQuantization(keras.layers.Layer):
        def __init__(self, scale: float, zero_point: int, **kwargs) -> None:
            super().__init__(**kwargs)
            self.low, self.high = (-128 - zero_point) * scale, (127 - zero_point) * scale

        def call(self, x):
            return tf.quantization.fake_quant_with_min_max_args(x, min=self.low, max=self.high, num_bits=8)

    inputs = keras.Input(tuple(model.input_shape[1:]), batch_size=1, name="features")
    x = PinInputQuantization(*pin, name="input_quantization")(inputs) if pin is not None else inputs
    return keras.Model(inputs, model(x, training=False), name="export")


def to_int8_tflite(model, representative: np.ndarray, *,
                   input_pin: tuple[float, int] | None = (FRONTEND.int8_scale, FRONTEND.int8_zero_point),
                   check: bool = True) -> bytes:
    """Full-integer int8 TFLite of a Keras model taking [frames, channels] float features."""
    import tensorflow as tf

    representative = np.asarray(representative, np.float32)
    if len(representative) == 0:
        raise ExportError("representative dataset is empty")
    converter = tf.lite.TFLiteConverter.from_keras_model(_export_model(model, input_pin))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([row[None]] for row in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings(), _quiet():  # the converter asks for input statistics; the FakeQuant pin gives them
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        data = bytes(converter.convert())
    if check:
        check_int8(data)
    return data


def to_float_tflite(model) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(_export_model(model, None))
    with _quiet():
        return bytes(converter.convert())


class LiteRtModel:
    """A .tflite in the LiteRT interpreter (reference kernels unless `reference=False`), one example at a time."""

    def __init__(self, data: bytes, *, reference: bool = True) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.data = bytes(data)
        kwargs = {"experimental_op_resolver_type": OpResolverType.BUILTIN_REF} if reference else {}
        self.interpreter = Interpreter(model_content=self.data, **kwargs)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.input_scale, self.input_zero_point = self._input["quantization"]
        self.output_scale, self.output_zero_point = self._output["quantization"]
        self.input_dtype, self.output_dtype = self._input["dtype"], self._output["dtype"]
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.num_classes = int(self._output["shape"][-1])

    @property
    def quantized(self) -> bool:
        return self.input_dtype == np.int8

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x, np.float64) / self.input_scale) + self.input_zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Raw outputs for a batch of raw inputs (int8 for an int8 model), one invoke per example."""
        inputs = np.asarray(inputs, self.input_dtype)
        out = np.empty((len(inputs), self.num_classes), self.output_dtype)
        for i, row in enumerate(inputs):
            self.interpreter.set_tensor(self._input["index"], row.reshape(self.input_shape))
            self.interpreter.invoke()
            out[i] = self.interpreter.get_tensor(self._output["index"]).reshape(-1)
        return out

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Float features in, dequantized probabilities out."""
        if not self.quantized:
            return self.run(np.asarray(features, np.float32)).astype(np.float32)
        out = self.run(self.quantize_input(features)).astype(np.float32)
        return (out - self.output_zero_point) * self.output_scale

    def scores(self, q_features: np.ndarray) -> np.ndarray:
        """int8 features in, RecognizeCommands scores out: output - zero point (0..255 for softmax int8)."""
        return self.run(q_features).astype(np.int32) - int(self.output_zero_point)


@dataclass(frozen=True, kw_only=True)
class QuantizeReport:
    float_accuracy: float
    int8_accuracy: float
    agreement: float  # share of examples where float and int8 predict the same class
    examples: int
    model_bytes: int
    ops: tuple[str, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int

    @property
    def accuracy_drop_points(self) -> float:
        return 100.0 * (self.float_accuracy - self.int8_accuracy)


def accuracy_int8_vs_float(model, data: bytes, features: np.ndarray, labels: np.ndarray) -> QuantizeReport:
    """Float (Keras) vs int8 (LiteRT reference kernels) accuracy on the same examples."""
    labels = np.asarray(labels)
    float_pred = np.argmax(model.predict(np.asarray(features, np.float32), batch_size=256, verbose=0), axis=1)
    lite = LiteRtModel(data)
    int8_pred = np.argmax(lite.probabilities(features), axis=1)
    info = read_tflite(data)
    return QuantizeReport(
        float_accuracy=float(np.mean(float_pred == labels)), int8_accuracy=float(np.mean(int8_pred == labels)),
        agreement=float(np.mean(float_pred == int8_pred)), examples=int(len(labels)), model_bytes=len(data),
        ops=tuple(sorted(set(info.op_names()))), input_scale=float(lite.input_scale),
        input_zero_point=int(lite.input_zero_point), output_scale=float(lite.output_scale),
        output_zero_point=int(lite.output_zero_point))
