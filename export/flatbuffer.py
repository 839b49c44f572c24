"""Read a .tflite flatbuffer into plain records: operators (name, input/output tensors), tensors (shape,
type, quantization, constant or not). Uses TensorFlow's own schema reader (`tensorflow.lite.tools.
flatbuffer_utils`), so it sees the file exactly as TFLite Micro will."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TensorInfo", "OpInfo", "ModelInfo", "read_tflite", "DTYPE_BYTES"]

DTYPE_BYTES = {"FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "STRING": 1, "BOOL": 1,
               "INT16": 2, "COMPLEX64": 8, "INT8": 1, "FLOAT64": 8, "UINT32": 4, "UINT16": 2, "INT4": 1}


@dataclass(frozen=True, kw_only=True)
class TensorInfo:
    index: int
    name: str
    dtype: str  # schema name: INT8, FLOAT32, ...
    shape: tuple[int, ...]
    constant: bool  # has data in the file (weights, biases, shapes)
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * DTYPE_BYTES.get(self.dtype, 4) if self.shape else \
            DTYPE_BYTES.get(self.dtype, 4)


@dataclass(frozen=True, kw_only=True)
class OpInfo:
    index: int
    name: str  # builtin name (CONV_2D) or "CUSTOM:<code>"
    custom: bool
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int
    size_bytes: int

    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]


def read_tflite(data: bytes) -> ModelInfo:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    graph = model.subgraphs[0]
    tensors = []
    for i, t in enumerate(graph.tensors):
        buffer = model.buffers[t.buffer] if t.buffer is not None and t.buffer < len(model.buffers) else None
        constant = buffer is not None and ((buffer.data is not None and len(buffer.data) > 0) or
                                           (getattr(buffer, "size", 0) or 0) > 0)
        q = t.quantization
        scales = tuple(float(s) for s in q.scale) if q is not None and q.scale is not None else ()
        zeros = tuple(int(z) for z in q.zeroPoint) if q is not None and q.zeroPoint is not None else ()
        name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)
        shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
        tensors.append(TensorInfo(index=i, name=name, dtype=flatbuffer_utils.type_to_name(t.type), shape=shape,
                                  constant=bool(constant), scales=scales, zero_points=zeros))
    ops = []
    for i, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        custom = code.customCode is not None and len(code.customCode) > 0
        if custom:
            custom_code = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            name = f"CUSTOM:{custom_code}"
        ops.append(OpInfo(index=i, name=str(name), custom=custom,
                          inputs=tuple(int(x) for x in (op.inputs if op.inputs is not None else ()) if x >= 0),
                          outputs=tuple(int(x) for x in (op.outputs if op.outputs is not None else ()))))
    return ModelInfo(tensors=tuple(tensors), ops=tuple(ops), inputs=tuple(int(x) for x in graph.inputs),
                     outputs=tuple(int(x) for x in graph.outputs), subgraphs=len(model.subgraphs),
                     size_bytes=len(data))
