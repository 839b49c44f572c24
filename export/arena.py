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

`arena_bytes` is the sum, rounded up to 16. The firmware should allocate it plus a margin and read the
real figure from `MicroInterpreter::arena_used_bytes()` (next issue); this module gives the number to
start from and shows which tensors dominate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from export.flatbuffer import ModelInfo, read_tflite

__all__ = ["ArenaEstimate", "estimate_arena", "greedy_plan", "Buffer"]

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

    def as_dict(self) -> dict:
        return {"activations_bytes": self.activations_bytes, "scratch_bytes": self.scratch_bytes,
                "persistent_bytes": self.persistent_bytes, "arena_bytes": self.arena_bytes,
                "largest_buffers": [list(x) for x in self.largest], "method": self.method}


def estimate_arena(model: bytes | ModelInfo) -> ArenaEstimate:
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
    return ArenaEstimate(activations_bytes=int(high), scratch_bytes=int(scratch), persistent_bytes=int(persistent),
                         arena_bytes=_align(high + persistent), largest=largest)
