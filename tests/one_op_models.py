"""One-operator int8 .tflite models with random shapes and quantization, written directly with TFLite's schema
(no converter: hundreds take a second), for the kernel tests of the C engine against LiteRT."""

from __future__ import annotations

import math

import numpy as np

OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MEAN", "SOFTMAX", "ADD", "RESHAPE")
_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "AVERAGE_POOL_2D": 2, "MEAN": 2,
             "SOFTMAX": 2, "ADD": 2, "RESHAPE": 1}


class _Builder:
    def __init__(self) -> None:
        from tensorflow.lite.tools import flatbuffer_utils

        self.S = flatbuffer_utils.schema_fb
        self.F = flatbuffer_utils
        self.tensors, self.buffers = [], [self.S.BufferT()]

    def tensor(self, shape, dtype="INT8", scales=(1.0,), zero_points=(0,), data=None, dim=0) -> int:
        S = self.S
        t = S.TensorT()
        t.shape = [int(d) for d in shape]
        t.type = getattr(S.TensorType, dtype)
        t.name = f"t{len(self.tensors)}".encode()
        buffer = S.BufferT()
        if data is not None:
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        self.buffers.append(buffer)
        t.buffer = len(self.buffers) - 1
        q = S.QuantizationParametersT()
        q.scale = [float(np.float32(s)) for s in scales]
        q.zeroPoint = [int(z) for z in zero_points]
        q.quantizedDimension = dim
        t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def model(self, op_name: str, options_type: str | None, options, inputs, outputs, graph_inputs) -> bytes:
        S = self.S
        code = S.OperatorCodeT()
        code.builtinCode = getattr(S.BuiltinOperator, op_name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = _VERSIONS[op_name]
        op = S.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, list(inputs), list(outputs)
        if options_type:
            op.builtinOptionsType = getattr(S.BuiltinOptions, options_type)
            op.builtinOptions = options
        graph = S.SubGraphT()
        graph.tensors, graph.inputs, graph.outputs, graph.operators = self.tensors, list(graph_inputs), list(outputs), [op]
        model = S.ModelT()
        model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], self.buffers
        model.description = b"one-op test model"
        return bytes(self.F.convert_object_to_bytearray(model))


def _out_size(size: int, filter_size: int, stride: int, dilation: int, same: bool) -> int:
    effective = (filter_size - 1) * dilation + 1
    return math.ceil(size / stride) if same else math.ceil((size - effective + 1) / stride)


def random_model(op_name: str, rng: np.random.Generator, **fixed) -> tuple[bytes, tuple[int, ...]]:
    """A valid one-op model of kind `op_name` and the shape of its int8 input. CONV_2D / DEPTHWISE_CONV_2D:
    `fixed` may pin h, w, fh, fw, stride (stride_w: another width stride), dilation, same, in_c, mult, out_c (the
    rest stays random), and
    `generic=True` gives scale ratios above 1/2 (the kernels' generic requantization form). AVERAGE_POOL_2D:
    h, w, c, fh, fw, stride, same."""
    pick = lambda name, value: fixed.get(name, value)  # noqa: E731
    b = _Builder()
    S = b.S
    in_scale, in_zp = float(rng.uniform(0.005, 0.2)), int(rng.integers(-128, 128))
    act = int(rng.choice([0, 1, 3]))  # NONE, RELU, RELU6
    if op_name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        while True:
            h, w = pick("h", int(rng.integers(1, 14))), pick("w", int(rng.integers(1, 14)))
            fh, fw = pick("fh", int(rng.integers(1, 6))), pick("fw", int(rng.integers(1, 6)))
            stride, dilation = pick("stride", int(rng.integers(1, 4))), pick("dilation", int(rng.choice([1, 1, 2])))
            stride_w = pick("stride_w", stride)
            same = pick("same", bool(rng.integers(0, 2)))
            oh, ow = _out_size(h, fh, stride, dilation, same), _out_size(w, fw, stride_w, dilation, same)
            if oh > 0 and ow > 0:
                break
        in_c = pick("in_c", int(rng.integers(1, 13)))
        mult = pick("mult", int(rng.choice([1, 1, 2]))) if op_name == "DEPTHWISE_CONV_2D" else 1
        out_c = in_c * mult if op_name == "DEPTHWISE_CONV_2D" else pick("out_c", int(rng.integers(1, 11)))
        taps = fh * fw * (in_c if op_name == "CONV_2D" else 1)
        f_scales = rng.uniform(0.002, 0.05, out_c)
        filt = rng.integers(-127, 128, (out_c, fh, fw, in_c) if op_name == "CONV_2D" else (1, fh, fw, out_c)).astype(np.int8)
        bias_scales = [float(np.float32(in_scale) * np.float32(s)) for s in f_scales]
        bias = rng.integers(-3000, 3000, out_c).astype(np.int32)
        out_scale = float(in_scale * f_scales.mean() * 127 * math.sqrt(taps) * rng.uniform(0.3, 3.0) / 16)
        if fixed.get("generic"):  # scale ratios above 1/2: the kernels' generic requantization form
            out_scale = float(in_scale * f_scales.min() * rng.uniform(0.5, 1.5))
        x = b.tensor((1, h, w, in_c), scales=(in_scale,), zero_points=(in_zp,))
        f = b.tensor(filt.shape, scales=f_scales, zero_points=[0] * out_c, data=filt,
                     dim=0 if op_name == "CONV_2D" else 3)
        bt = b.tensor((out_c,), "INT32", scales=bias_scales, zero_points=[0] * out_c, data=bias)
        y = b.tensor((1, oh, ow, out_c), scales=(out_scale,), zero_points=(int(rng.integers(-128, 128)),))
        if op_name == "CONV_2D":
            o = S.Conv2DOptionsT()
        else:
            o = S.DepthwiseConv2DOptionsT()
            o.depthMultiplier = mult
        o.padding = S.Padding.SAME if same else S.Padding.VALID
        o.strideH, o.strideW = stride, stride_w
        o.dilationHFactor = o.dilationWFactor = dilation
        o.fusedActivationFunction = act
        kind = "Conv2DOptions" if op_name == "CONV_2D" else "DepthwiseConv2DOptions"
        return b.model(op_name, kind, o, [x, f, bt], [y], [x]), (1, h, w, in_c)
    if op_name == "FULLY_CONNECTED":
        n_in, n_out = int(rng.integers(1, 80)), int(rng.integers(1, 24))
        w_scale = float(rng.uniform(0.002, 0.05))
        weights = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
        x = b.tensor((1, n_in), scales=(in_scale,), zero_points=(in_zp,))
        f = b.tensor((n_out, n_in), scales=(w_scale,), zero_points=(0,), data=weights)
        bt = b.tensor((n_out,), "INT32", scales=(float(np.float32(in_scale) * np.float32(w_scale)),), zero_points=(0,),
                      data=rng.integers(-5000, 5000, n_out).astype(np.int32))
        y = b.tensor((1, n_out), scales=(in_scale * w_scale * 127 * math.sqrt(n_in) * rng.uniform(0.3, 3) / 16,),
                     zero_points=(int(rng.integers(-128, 128)),))
        o = S.FullyConnectedOptionsT()
        o.fusedActivationFunction = act
        return b.model(op_name, "FullyConnectedOptions", o, [x, f, bt], [y], [x]), (1, n_in)
    if op_name == "AVERAGE_POOL_2D":
        while True:
            h, w, c = pick("h", int(rng.integers(1, 14))), pick("w", int(rng.integers(1, 14))), pick("c", int(rng.integers(1, 9)))
            fh, fw = pick("fh", int(rng.integers(1, 6))), pick("fw", int(rng.integers(1, 6)))
            stride, same = pick("stride", int(rng.integers(1, 4))), pick("same", bool(rng.integers(0, 2)))
            oh, ow = _out_size(h, fh, stride, 1, same), _out_size(w, fw, stride, 1, same)
            if oh > 0 and ow > 0:
                break
        x = b.tensor((1, h, w, c), scales=(in_scale,), zero_points=(in_zp,))
        y = b.tensor((1, oh, ow, c), scales=(in_scale,), zero_points=(in_zp,))
        o = S.Pool2DOptionsT()
        o.padding = S.Padding.SAME if same else S.Padding.VALID
        o.strideH = o.strideW = stride
        o.filterHeight, o.filterWidth, o.fusedActivationFunction = fh, fw, act
        return b.model(op_name, "Pool2DOptions", o, [x], [y], [x]), (1, h, w, c)
    if op_name == "MEAN":
        h, w, c = int(rng.integers(1, 26)), int(rng.integers(1, 21)), int(rng.integers(1, 33))
        keep = bool(rng.integers(0, 2))
        x = b.tensor((1, h, w, c), scales=(in_scale,), zero_points=(in_zp,))
        axes = b.tensor((2,), "INT32", scales=(), zero_points=(), data=np.array([1, 2], np.int32))
        y = b.tensor((1, 1, 1, c) if keep else (1, c), scales=(in_scale * rng.uniform(0.3, 1.5),),
                     zero_points=(int(rng.integers(-128, 128)),))
        o = S.ReducerOptionsT()
        o.keepDims = keep
        return b.model(op_name, "ReducerOptions", o, [x, axes], [y], [x]), (1, h, w, c)
    if op_name == "SOFTMAX":
        n = int(rng.integers(2, 24))
        x = b.tensor((1, n), scales=(float(rng.uniform(0.01, 0.5)),), zero_points=(in_zp,))
        y = b.tensor((1, n), scales=(1 / 256,), zero_points=(-128,))
        o = S.SoftmaxOptionsT()
        o.beta = 1.0
        return b.model(op_name, "SoftmaxOptions", o, [x], [y], [x]), (1, n)
    if op_name == "ADD":
        n = int(rng.integers(1, 200))
        x = b.tensor((1, n), scales=(in_scale,), zero_points=(in_zp,))
        y = b.tensor((1, n), scales=(in_scale * rng.uniform(1.0, 3.0),), zero_points=(int(rng.integers(-128, 128)),))
        o = S.AddOptionsT()
        o.fusedActivationFunction = act
        return b.model(op_name, "AddOptions", o, [x, x], [y], [x]), (1, n)
    if op_name == "RESHAPE":
        h, w, c = int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 10))
        x = b.tensor((1, h, w, c), scales=(in_scale,), zero_points=(in_zp,))
        shape = b.tensor((2,), "INT32", scales=(), zero_points=(), data=np.array([1, h * w * c], np.int32))
        y = b.tensor((1, h * w * c), scales=(in_scale,), zero_points=(in_zp,))
        o = S.ReshapeOptionsT()
        o.newShape = [1, h * w * c]
        return b.model(op_name, "ReshapeOptions", o, [x, shape], [y], [x]), (1, h, w, c)
    raise ValueError(op_name)
