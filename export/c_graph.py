"""The model compiler's view of an int8 .tflite (export.c_model): operators with their options and constant
data, LiteRT's requantization maths (QuantizeMultiplier, activation ranges, SAME padding), the convolutions'
weights and per-channel requantization in the engine's layout, and the static memory plan of the activations
(lifetimes, in-place layers, export.arena.greedy_plan)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from export.arena import Buffer, greedy_plan

__all__ = ["UnsupportedOpError", "quantize_multiplier", "activation_range", "same_padding", "conv_weights",
           "depthwise_weights", "conv_requant", "Tensor", "Op", "read_graph", "plan_memory", "strided_depthwise_delay",
           "ALIGN"]

ALIGN = 4
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


class UnsupportedOpError(ValueError):
    """The model uses an operator (or a form of one) the C engine does not implement."""


# ------------------------------------------------------------------------------------- quantization maths

def _round_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float, *, single_rounding: bool = True) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = m * 2^shift / 2^31 with m in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q = _round_away(fraction * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if single_rounding and shift > 30:
        return (1 << 31) - 1, 30
    return q, shift


def activation_range(code: int, scale: float, zero_point: int) -> tuple[int, int]:
    name = _ACTIVATIONS.get(int(code))
    if name is None:
        raise UnsupportedOpError(f"fused activation {code} is not supported")
    quantize = lambda f: zero_point + _round_away(f / scale)  # noqa: E731
    if name == "NONE":
        return -128, 127
    if name == "RELU":
        return max(-128, quantize(0.0)), 127
    if name == "RELU6":
        return max(-128, quantize(0.0)), min(127, quantize(6.0))
    return max(-128, quantize(-1.0)), min(127, quantize(1.0))


def same_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    effective = (filter_size - 1) * dilation + 1
    return max(0, (out_size - 1) * stride + effective - in_size) // 2


# ------------------------------------------------- convolution weights and requantization, as the kernels want

def conv_weights(filter_ohwi: np.ndarray, factor: int) -> np.ndarray:
    """CONV_2D weights in the engine's layout (kernels_conv.c): int16 (x `factor`), values k = (fy, fx, c)
    padded to a multiple of 8 (an even number of groups of 4), output channels padded to a multiple of 2 (zeros); for each pair of channels and
    each group of 4 values, the 2 channels' 4 values one after the other, each group in the patch's lane order
    (values 0, 2, 1, 3: KWS_PATCH_LANE)."""
    out_c = filter_ohwi.shape[0]
    flat = filter_ohwi.reshape(out_c, -1)
    k_padded, c_padded = (flat.shape[1] + 7) // 8 * 8, (out_c + 1) // 2 * 2
    padded = np.zeros((c_padded, k_padded), np.int16)
    padded[:out_c, :flat.shape[1]] = flat.astype(np.int16) * factor
    # [pair, channel in pair, group, value in group] -> [pair, group, channel in pair, value in lane order]
    blocked = padded.reshape(c_padded // 2, 2, k_padded // 4, 4).transpose(0, 2, 1, 3)
    return blocked[..., [0, 2, 1, 3]].reshape(-1)


def depthwise_weights(filter_1hwc: np.ndarray, factor: int) -> np.ndarray:
    """DEPTHWISE_CONV_2D weights in the engine's layout (kernels_int8.h): int16 (x `factor`), for each group of
    4 output channels (padded) and each tap, the 4 channels ordered c, c+2, c+1, c+3 (the SIMD lanes)."""
    _, f_h, f_w, channels = filter_1hwc.shape
    padded = np.zeros((f_h * f_w, (channels + 3) // 4 * 4), np.int16)
    padded[:, :channels] = filter_1hwc.reshape(f_h * f_w, channels).astype(np.int16) * factor
    # [tap, group, lane] -> [group, tap, lane in SIMD order]
    return padded.reshape(f_h * f_w, -1, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2).reshape(-1)


_FAST_MAX_SHIFT = 22  # the fast form's rounding constant 2^(e-1) + z 2^e stays far from overflow


def conv_requant(weights_per_channel: np.ndarray, bias: np.ndarray | None, input_offset: int,
                  pairs: list[tuple[int, int]], output_zero_point: int) -> tuple[bool, np.ndarray]:
    """Per output channel (bias, multiplier, rounding, shift) in the form kernels_conv.c wants
    (kws_channel_requant_t), and whether the layer takes the fast form. The kernels gather raw input values
    (the zero point where the filter hangs over the border), so the bias carries input_offset * sum_k w[c][k]
    (exact in int32's wrapping arithmetic). The fast form (weights and bias doubled, one SMMLAR) needs every
    channel's multiplier > 0, 1 <= -shift <= 22 and |accumulator| < 2^30 for any int8 input."""
    channels = weights_per_channel.shape[0]
    w = weights_per_channel.astype(np.int64)
    folded = (np.zeros(channels, np.int64) if bias is None else bias.astype(np.int64)) + input_offset * w.sum(axis=1)
    bound = np.abs(folded) + 128 * np.abs(w).sum(axis=1)
    fast = all(m > 0 and 1 <= -s <= _FAST_MAX_SHIFT for m, s in pairs) and bool((bound < 2**30).all())
    rows = []
    for c, (m, s) in enumerate(pairs):
        if fast:
            e = -s
            rows.append((2 * int(folded[c]), m, (1 << (e - 1)) + output_zero_point * (1 << e), e))
        else:
            rows.append((int((folded[c] + 2**31) % 2**32 - 2**31), m, 0, s))
    return fast, np.array(rows, np.int64)


# ------------------------------------------------------------------------------------------ the graph

@dataclass
class Tensor:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    data: np.ndarray | None

    @property
    def scale(self) -> float:
        return float(self.scales[0]) if self.scales else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if self.zero_points else 0

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1


@dataclass
class Op:
    index: int
    name: str
    inputs: list[int]
    outputs: list[int]
    options: object


_NUMPY = {"INT8": np.int8, "INT32": np.int32, "UINT8": np.uint8, "INT16": np.int16, "INT64": np.int64,
          "FLOAT32": np.float32}


def read_graph(data: bytes) -> tuple[list[Tensor], list[Op], list[int], list[int]]:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    if len(model.subgraphs) != 1:
        raise UnsupportedOpError(f"model has {len(model.subgraphs)} subgraphs; the engine runs one")
    graph = model.subgraphs[0]
    tensors = []
    for i, t in enumerate(graph.tensors):
        dtype = flatbuffer_utils.type_to_name(t.type)
        buffer = model.buffers[t.buffer] if t.buffer is not None and t.buffer < len(model.buffers) else None
        raw = None
        if buffer is not None and buffer.data is not None and len(buffer.data) > 0:
            raw = np.frombuffer(bytes(np.asarray(buffer.data, np.uint8)), _NUMPY.get(dtype, np.uint8))
        q = t.quantization
        scales = tuple(float(s) for s in q.scale) if q is not None and q.scale is not None else ()
        zeros = tuple(int(z) for z in q.zeroPoint) if q is not None and q.zeroPoint is not None else ()
        name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)
        shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
        tensors.append(Tensor(i, name, dtype, shape, scales, zeros, raw))
    ops = []
    for i, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        if code.customCode:
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            raise UnsupportedOpError(f"operator #{i} is the custom op {custom!r}; the C engine runs builtin ops only")
        name = str(flatbuffer_utils.opcode_to_name(model, op.opcodeIndex))
        inputs = [int(x) for x in (op.inputs if op.inputs is not None else ())]
        outputs = [int(x) for x in (op.outputs if op.outputs is not None else ())]
        ops.append(Op(i, name, inputs, outputs, op.builtinOptions))
    return tensors, ops, [int(x) for x in graph.inputs], [int(x) for x in graph.outputs]


def _in_place_legal(op: Op, tensors: list[Tensor]) -> bool:
    """Whether the kernel may write its output over its input (kernels_conv.c says why each is safe):
    elementwise SOFTMAX / ADD of the same size; a 1x1 stride-1 unpadded CONV_2D with no more output than input
    channels (each pixel's input is gathered before its output is written); a stride-1 DEPTHWISE_CONV_2D of
    multiplier 1 keeping the size (the rows above are kept aside, `kws_rows`), or a strided one whose output
    rows never cover input rows still to be read (`strided_depthwise_delay`)."""
    t_in, t_out = tensors[op.inputs[0]], tensors[op.outputs[0]]
    if op.name in ("SOFTMAX", "ADD"):
        return t_in.elements == t_out.elements
    if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D") or len(t_in.shape) != 4 or len(t_out.shape) != 4:
        return False
    o, t_f = op.options, tensors[op.inputs[1]]
    dilation = (int(o.dilationHFactor or 1), int(o.dilationWFactor or 1))
    if op.name == "DEPTHWISE_CONV_2D" and dilation == (1, 1) and t_out.shape[3] == t_in.shape[3] \
            and t_f.shape[1] <= 16 and t_in.shape[1:3] != t_out.shape[1:3]:
        return strided_depthwise_delay(op, t_in.shape, t_out.shape, t_f.shape[1]) is not None
    if (int(o.strideH), int(o.strideW)) != (1, 1) or dilation != (1, 1) or t_in.shape[1:3] != t_out.shape[1:3]:
        return False
    if op.name == "CONV_2D":
        return tuple(t_f.shape[1:3]) == (1, 1) and t_out.shape[3] <= t_in.shape[3]
    return t_out.shape[3] == t_in.shape[3] and t_f.shape[1] <= 16


STRIDED_DELAY_MAX = 4  # output rows a strided in-place DEPTHWISE_CONV_2D may hold back (scratch: one row each)


def strided_depthwise_delay(op: Op, in_shape, out_shape, filter_h: int) -> int | None:
    """The fewest output rows d (0 ... STRIDED_DELAY_MAX) a strided DEPTHWISE_CONV_2D (smaller output) must hold
    back in scratch to write over its own input, or None. The kernel computes each row into a ring of d + 1
    rows and writes row r over the input once row r + d is computed; that is legal when output row r, ending
    at byte (r + 1) * out_row, covers no input row that a later row still reads: row r + d + 1 reads from
    input row (r + d + 1) * stride_h - pad_top on. (A 25 x 10 -> 25 x 5 layer, stride (1, 2), needs d = 1.)"""
    o = op.options
    (_, in_h, in_w, channels), (_, out_h, out_w, _) = in_shape, out_shape
    pad_top = same_padding(int(o.strideH), 1, in_h, filter_h, out_h) if int(o.padding) == 0 else 0
    in_row, out_row = in_w * channels, out_w * channels
    for delay in range(STRIDED_DELAY_MAX + 1):
        if all((r + 1) * out_row <= max(0, (r + delay + 1) * int(o.strideH) - pad_top) * in_row
               for r in range(out_h - delay - 1)):
            return delay
    return None


def plan_memory(tensors: list[Tensor], ops: list[Op], inputs: list[int],
                outputs: list[int]) -> tuple[dict[int, int], int]:
    """Offsets of every activation tensor in the one buffer, and the buffer's size."""
    activation = lambda t: tensors[t].data is None  # noqa: E731
    parent: dict[int, int] = {}

    def find(t: int) -> int:
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    last_use: dict[int, int] = {}
    for op in ops:
        for t in op.inputs:
            if t >= 0 and activation(t):
                last_use[t] = op.index
    first: dict[int, int] = {t: 0 for t in inputs}
    last: dict[int, int] = {}
    for op in ops:
        for t in op.outputs:
            first.setdefault(t, op.index)
        source = op.inputs[0] if op.inputs else -1
        if source >= 0 and activation(source):
            dies_here = last_use.get(source) == op.index and source not in outputs
            if op.name == "RESHAPE" or (dies_here and _in_place_legal(op, tensors)):
                parent[op.outputs[0]] = find(source)
    for t, start in first.items():
        last[t] = max(last_use.get(t, start), len(ops) - 1 if t in outputs else start)
    groups: dict[int, list[int]] = {}
    for t in first:
        groups.setdefault(find(t), []).append(t)
    buffers, roots = [], []
    for root, members in sorted(groups.items()):
        size = max(tensors[t].elements for t in members)
        buffers.append(Buffer(name=tensors[root].name, size=(size + ALIGN - 1) // ALIGN * ALIGN,
                              first=min(first[t] for t in members), last=max(last[t] for t in members)))
        roots.append(root)
    placed, high = greedy_plan(buffers)
    root_offset = dict(zip(roots, placed))
    return {t: root_offset[find(t)] for t in first}, max(int(high), ALIGN)
