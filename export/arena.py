"""An estimate of the TFLite Micro tensor arena a model needs, from its flatbuffer.

What is computed, and how exact it is:
- activations (exact in method, the main term): every non-constant tensor is a buffer alive from the
  operator that writes it (0 for graph inputs) to the last operator that reads it (the last operator
  for graph outputs); sizes are rounded up to 16 bytes (TFLM's buffer alignment). Buffers are placed by
  TFLM's GreedyMemoryPlanner algorithm: largest first, each at the lowest offset where it overlaps no
  placed buffer alive at the same time. The plan's high-water mark is `activations_bytes`.
- scratch (estimated): the reference MEAN kernel asks for an int32 buffer of its output size; other
  reference int8 kernels used here ask for none. Optimized kernels (CMSIS-NN) ask for more: measure on
  the device.
- persistent (estimated): TfLiteEvalTensor per tensor (12 bytes on 32-bit MCUs), node + registration
  + parsed builtin data + kernel op data per operator (~124 bytes), per-channel output multipliers and
  shifts of convolutions (8 bytes per output channel), and the interpreter's own structures (~256 B).

`arena_bytes` is the sum, rounded up to 16. Where the `tflite-micro` wheel is installed (the dev extra),
`estimate_arena` replaces that sum by TFLM's own figure: `measure_tflm_arena` builds the model in TFLM's
Python interpreter (its reference kernels, allocation recording) and reads the arena it allocated
(head: the planned activations, tail: persistent data). The wheel runs on the 64-bit host, where TFLM's
persistent structs are larger than on a 32-bit MCU, so the measured figure is an upper bound there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.flatbuffer import ModelInfo, read_tflite

__all__ = ["ArenaEstimate", "estimate_arena", "greedy_plan", "Buffer", "measure_tflm_arena"]

ALIGNMENT = 16
_TENSOR_BYTES = 12
_OP_BYTES = 124
_INTERPRETER_BYTES = 256
_PER_CHANNEL_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"}


def _align(n: int) -> int:
    return (int(n) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


@dataclass(frozen=True, kw_only=True)
class Buffer:
    name: str
    size: int
    first: int  # first operator index during which the buffer must exist
    last: int


def greedy_plan(buffers: list[Buffer]) -> tuple[list[int], int]:
    """TFLM GreedyMemoryPlanner: offsets (in input order) and the high-water mark."""
    order = sorted(range(len(buffers)), key=lambda i: -buffers[i].size)  # stable: ties keep input order
    offsets = [0] * len(buffers)
    placed: list[int] = []  # indices, kept sorted by offset
    for i in order:
        wanted = buffers[i]
        candidate = 0
        for j in placed:  # in offset order
            other = buffers[j]
            if other.last < wanted.first or other.first > wanted.last:
                continue  # never alive together
            if offsets[j] >= candidate + wanted.size:
                break  # the gap before this buffer fits
            candidate = max(candidate, offsets[j] + other.size)
        offsets[i] = candidate
        placed.append(i)
        placed.sort(key=lambda j: offsets[j])
    high = max((offsets[i] + buffers[i].size for i in range(len(buffers))), default=0)
    return offsets, high


@dataclass(frozen=True, kw_only=True)
class ArenaEstimate:
    activations_bytes: int
    scratch_bytes: int
    persistent_bytes: int
    arena_bytes: int
    largest: tuple[tuple[str, int], ...]  # the biggest activation buffers
    method: str = ("TFLM GreedyMemoryPlanner on the flatbuffer's tensor lifetimes (16-byte aligned) + estimated "
                   "scratch and persistent allocations; confirm with arena_used_bytes() on the device")
    estimated_bytes: int = 0  # the estimate, also when arena_bytes is TFLM's measurement

    def as_dict(self) -> dict:
        return {"activations_bytes": self.activations_bytes, "scratch_bytes": self.scratch_bytes,
                "persistent_bytes": self.persistent_bytes, "arena_bytes": self.arena_bytes,
                "largest_buffers": [list(x) for x in self.largest], "method": self.method,
                "estimated_bytes": self.estimated_bytes}


_MEASURE = r"""
import re, sys
from tflite_micro.python.tflite_micro import runtime
interpreter = runtime.Interpreter.from_bytes(sys.stdin.buffer.read())
sys.stdout.flush()
interpreter.print_allocations()
"""


def measure_tflm_arena(model: bytes) -> dict | None:
    """TFLM's arena for this model, measured by the `tflite-micro` wheel's interpreter (None without the wheel
    or when TFLM cannot build the model): {"total": bytes, "head": bytes, "tail": bytes}."""
    import importlib.util
    import re
    import subprocess
    import sys

    if importlib.util.find_spec("tflite_micro") is None:
        return None
    result = subprocess.run([sys.executable, "-c", _MEASURE], input=bytes(model), capture_output=True, timeout=120)
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    found = {k: re.search(rf"Arena allocation {k} (\d+) bytes", text) for k in ("total", "head", "tail")}
    if result.returncode != 0 or not all(found.values()):
        return None
    return {k: int(m.group(1)) for k, m in found.items()}


def estimate_arena(model: bytes | ModelInfo, *, measure: bool = True) -> ArenaEstimate:
    """The estimate below; with `measure` and the tflite-micro wheel installed, arena_bytes is TFLM's own."""
    info = model if isinstance(model, ModelInfo) else read_tflite(model)
    last_op = len(info.ops) - 1
    first: dict[int, int] = {t: 0 for t in info.inputs}
    last: dict[int, int] = {}
    for op in info.ops:
        for t in op.outputs:
            first.setdefault(t, op.index)
            last.setdefault(t, op.index)
        for t in op.inputs:
            if not info.tensors[t].constant:
                first.setdefault(t, op.index)
                last[t] = max(last.get(t, op.index), op.index)
    for t in info.outputs:
        last[t] = last_op
    buffers = []
    for t, start in sorted(first.items()):
        tensor = info.tensors[t]
        if tensor.constant:
            continue
        buffers.append(Buffer(name=tensor.name, size=_align(tensor.nbytes), first=start, last=last.get(t, start)))
    scratch = 0
    for op in info.ops:
        if op.name == "MEAN" and op.outputs:
            size = _align(int(np.prod(info.tensors[op.outputs[0]].shape or (1,))) * 4)
            buffers.append(Buffer(name=f"scratch:MEAN#{op.index}", size=size, first=op.index, last=op.index))
            scratch += size
    _, high = greedy_plan(buffers)
    persistent = _INTERPRETER_BYTES + _TENSOR_BYTES * len(info.tensors) + _OP_BYTES * len(info.ops)
    for op in info.ops:
        if op.name in _PER_CHANNEL_OPS and op.outputs:
            shape = info.tensors[op.outputs[0]].shape
            persistent += 8 * (shape[-1] if shape else 1)
    largest = tuple(sorted(((b.name, b.size) for b in buffers), key=lambda x: -x[1])[:5])
    # scratch buffers are part of the plan (they share space with activations); report them apart too
    estimated = _align(high + persistent)
    measured = measure_tflm_arena(model) if measure and isinstance(model, (bytes, bytearray)) else None
    if measured is not None:
        return ArenaEstimate(activations_bytes=int(high), scratch_bytes=int(scratch), persistent_bytes=int(persistent),
                             arena_bytes=measured["total"], largest=largest, estimated_bytes=estimated,
                             method=("measured by TFLM (tflite-micro wheel, reference kernels, 64-bit host; head "
                                     f"{measured['head']} + tail {measured['tail']} bytes)"))
    return ArenaEstimate(activations_bytes=int(high), scratch_bytes=int(scratch), persistent_bytes=int(persistent),
                         arena_bytes=estimated, largest=largest, estimated_bytes=estimated)
