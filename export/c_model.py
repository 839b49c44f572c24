"""The model compiler: an int8 .tflite -> C sources for `firmware/engine/` (no interpreter, no op registry).

`compile_model(tflite, streaming, out_dir)` writes, from the templates in `export/templates/`:
- `kws_model.c`: the layer sequence as plain calls into `kernels_int8.h`, weights, biases and per-channel
  requantization multipliers as `const` arrays (flash), one static activation buffer with a static plan;
- `model_settings.h`: every FrontendConfig field, derived front-end sizes, streaming parameters, labels;
- `kws_frontend_tables.c`: the front end's tables (export.c_frontend).

Requantization parameters are computed as LiteRT computes them (double arithmetic on float32 scales,
`QuantizeMultiplier`); the C kernels then reproduce LiteRT's reference kernels bit for bit.

The memory plan: each activation tensor is a buffer alive from the op that writes it (0 for the graph
input) to the last op that reads it (the end, for the output). RESHAPE outputs share their input's bytes,
and SOFTMAX / ADD write in place when their input dies there (the kernels are safe in place). Buffers
(4-byte aligned) are placed largest first at the lowest offset free during their lifetime
(export.arena.greedy_plan); the high-water mark is `arena_bytes`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import numpy as np

from corpus.fsutil import atomic_write_text
from export.c_graph import (Op, Tensor, UnsupportedOpError, activation_range, conv_requant, conv_weights,
                            depthwise_weights, plan_memory, quantize_multiplier, read_graph, same_padding,
                            strided_depthwise_delay)
from export.c_array import TEMPLATES, c_values, render, write_settings_header
from export.c_frontend import frontend_tables
from export.frontend import FrontendConfig

__all__ = ["UnsupportedOpError", "CModel", "compile_model", "StreamingParams", "read_streaming_params",
           "SUPPORTED_OPS", "quantize_multiplier"]

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MEAN", "SOFTMAX", "ADD",
                 "RESHAPE")
@dataclass(frozen=True, kw_only=True)
class StreamingParams:
    """The fields of kws.streaming.StreamingConfig the firmware needs (export may not import kws)."""
    labels: tuple[str, ...]
    average_window_ms: int = 1000
    detection_threshold: int = 200
    suppression_ms: int = 1500
    minimum_count: int = 3
    stride_frames: int = 1
    window_frames: int = 49
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    report_labels: tuple[str, ...] = ()

    @property
    def reported(self) -> tuple[str, ...]:
        return self.report_labels or tuple(self.labels[2:])

    def queue_capacity(self) -> int:
        return self.average_window_ms // (self.stride_frames * self.frontend.stride_ms) + 1


def read_streaming_params(path: str | Path) -> StreamingParams:
    from dataclasses import fields

    from corpus.configs import from_jsonable, read_json

    data = read_json(path)
    names = {f.name for f in fields(StreamingParams)}
    values = {k: v for k, v in data.items() if k in names and k != "frontend"}
    values["labels"] = tuple(values["labels"])
    values["report_labels"] = tuple(values.get("report_labels", ()))
    frontend = from_jsonable(FrontendConfig, data["frontend"]) if "frontend" in data else FrontendConfig()
    return StreamingParams(**values, frontend=frontend)


# ---------------------------------------------------------------------------------------- the compiler

def _sections() -> dict[str, Template]:
    text = (TEMPLATES / "kws_model_layers.c.in").read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@ "):
            current = line[3:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {k: Template("\n".join(v)) for k, v in sections.items()}


def _nhwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise UnsupportedOpError(f"expected a batch-1 NHWC tensor, got shape {list(shape)}")
    return shape[1], shape[2], shape[3]


@dataclass(frozen=True)
class CModel:
    paths: tuple[Path, ...]
    arena_bytes: int
    macs: int
    ops: tuple[str, ...]
    weight_bytes: int
    scratch_bytes: int = 0  # CONV_2D patch + in-place depthwise rows, outside the planned buffer

    @property
    def ram_bytes(self) -> int:
        """Activation buffer + scratch: what compares with a TFLM arena."""
        return self.arena_bytes + self.scratch_bytes


class _Compiler:
    def __init__(self, tensors: list[Tensor], ops: list[Op], model: str) -> None:
        self.tensors, self.ops, self.model = tensors, ops, model
        self.templates = _sections()
        self.constants: list[str] = []
        self.weight_bytes = 0
        self.macs = 0
        self.patch_values = 0  # CONV_2D scratch
        self.rows_bytes = 0  # in-place DEPTHWISE_CONV_2D scratch

    def const(self, name: str, ctype: str, values, *, aligned: bool = False) -> str:
        values = np.asarray(values).reshape(-1)
        self.weight_bytes += values.size * {"int8_t": 1, "int32_t": 4, "int16_t": 2}[ctype]
        self.constants.append(self.templates["const"].substitute(
            ctype=ctype, name=name, count=max(1, values.size), align=" KWS_ALIGN4" if aligned else "",
            values=c_values(values) if values.size else "    0,"))
        return name

    @staticmethod
    def multipliers(input_scale: float, filter_scales: tuple[float, ...], output_scale: float,
                    channels: int) -> list[tuple[int, int]]:
        scales = filter_scales if len(filter_scales) > 1 else filter_scales * channels
        return [quantize_multiplier(float(input_scale) * float(s) / float(output_scale)) for s in scales]

    def requant(self, prefix: str, input_scale: float, filter_scales: tuple[float, ...], output_scale: float,
                channels: int) -> None:
        pairs = self.multipliers(input_scale, filter_scales, output_scale, channels)
        self.const(f"{prefix}_multipliers", "int32_t", [m for m, _ in pairs])
        self.const(f"{prefix}_shifts", "int32_t", [s for _, s in pairs])

    def channel_requant(self, name: str, rows: np.ndarray) -> str:
        self.weight_bytes += 16 * len(rows)
        values = "\n".join(f"    {{{', '.join(str(int(v)) for v in row)}}}," for row in rows)
        self.constants.append(self.templates["requant"].substitute(name=name, count=len(rows), values=values))
        return name

    def bias_values(self, op: Op) -> np.ndarray | None:
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            return None
        tensor = self.tensors[op.inputs[2]]
        if tensor.data is None or tensor.dtype != "INT32":
            raise UnsupportedOpError(f"{op.name} #{op.index}: bias must be constant int32")
        return tensor.data

    def bias(self, prefix: str, op: Op) -> str:
        values = self.bias_values(op)
        return "0" if values is None else self.const(f"{prefix}_bias", "int32_t", values)

    def layer(self, op: Op, offsets: dict[int, int]) -> str:
        t_in, t_out = self.tensors[op.inputs[0]], self.tensors[op.outputs[0]]
        prefix = f"{self.model}_layer{op.index}"
        base = dict(model=self.model, index=op.index, in_shape=list(t_in.shape), out_shape=list(t_out.shape),
                    prefix=prefix,
                    in_offset=offsets[t_in.index], out_offset=offsets[t_out.index], out_tensor=t_out.index,
                    out_bytes=t_out.elements)
        if t_out.dtype != "INT8" and op.name != "RESHAPE":
            raise UnsupportedOpError(f"{op.name} #{op.index} writes {t_out.dtype}; the engine computes in int8")
        o = op.options
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            t_f = self.tensors[op.inputs[1]]
            if t_f.data is None:
                raise UnsupportedOpError(f"{op.name} #{op.index}: filter must be constant")
            in_h, in_w, in_c = _nhwc(t_in.shape)
            out_h, out_w, out_c = _nhwc(t_out.shape)
            _, f_h, f_w, _ = t_f.shape
            dil_h, dil_w = int(o.dilationHFactor or 1), int(o.dilationWFactor or 1)
            same = int(o.padding) == 0
            pad_top = same_padding(o.strideH, dil_h, in_h, f_h, out_h) if same else 0
            pad_left = same_padding(o.strideW, dil_w, in_w, f_w, out_w) if same else 0
            act_min, act_max = activation_range(o.fusedActivationFunction, t_out.scale, t_out.zero_point)
            if any(z != 0 for z in t_f.zero_points):
                raise UnsupportedOpError(f"{op.name} #{op.index}: filter zero points must be 0 (symmetric int8)")
            weights = t_f.data.reshape(t_f.shape)
            per_channel = (weights.reshape(out_c, -1) if op.name == "CONV_2D"
                           else weights.reshape(-1, out_c).T)
            fast, requant = conv_requant(per_channel, self.bias_values(op), -t_in.zero_point,
                                          self.multipliers(t_in.scale, t_f.scales, t_out.scale, out_c),
                                          t_out.zero_point)
            factor = 2 if fast else 1
            if op.name == "CONV_2D":
                self.const(f"{prefix}_filter", "int16_t", conv_weights(weights, factor), aligned=True)
                self.patch_values = max(self.patch_values, 2 * ((f_h * f_w * in_c + 7) // 8 * 8))
            else:
                if f_h * f_w > 128 or f_h > 16:
                    raise UnsupportedOpError(f"DEPTHWISE_CONV_2D #{op.index}: filter {f_h}x{f_w} is larger than the "
                                             f"engine's 16 rows / 128 taps")
                self.const(f"{prefix}_filter", "int16_t", depthwise_weights(weights, factor), aligned=True)
                self.const(f"{prefix}_border", "int8_t", np.full(in_c, t_in.zero_point, np.int8))
            self.channel_requant(f"{prefix}_requant", requant)
            depth_multiplier = int(getattr(o, "depthMultiplier", 1) or 1)
            if op.name == "DEPTHWISE_CONV_2D":
                depth_multiplier = out_c // in_c
                self.macs += out_h * out_w * out_c * f_h * f_w
            else:
                self.macs += out_h * out_w * out_c * f_h * f_w * in_c
            rows, delay = "0", 0
            if op.name == "DEPTHWISE_CONV_2D" and offsets[t_in.index] == offsets[t_out.index]:
                # same size: pad_top input rows kept + the row computed aside; strided: a ring of delay + 1 rows
                same_size = (in_h, in_w) == (out_h, out_w)
                if not same_size:
                    delay = strided_depthwise_delay(op, t_in.shape, t_out.shape, f_h)
                self.rows_bytes = max(self.rows_bytes,
                                      (pad_top + 1) * in_w * in_c if same_size else (delay + 1) * out_w * out_c)
                rows = f"{self.model}_rows.values"
            return self.templates[op.name].substitute(
                base, rows=rows, filter_shape=list(t_f.shape), stride_h=o.strideH, stride_w=o.strideW, dilation_h=dil_h,
                dilation_w=dil_w, pad_top=pad_top, pad_left=pad_left, depth_multiplier=depth_multiplier,
                input_offset=-t_in.zero_point, output_offset=t_out.zero_point, act_min=act_min, act_max=act_max,
                in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, filter_h=f_h, filter_w=f_w,
                fast=int(fast), delay=delay)
        if op.name == "FULLY_CONNECTED":
            t_f = self.tensors[op.inputs[1]]
            if t_f.data is None or len(t_f.shape) != 2:
                raise UnsupportedOpError(f"FULLY_CONNECTED #{op.index}: weights must be a constant 2-D tensor")
            out_depth, in_depth = t_f.shape
            if t_in.elements % in_depth:
                raise UnsupportedOpError(f"FULLY_CONNECTED #{op.index}: input of {t_in.elements} values does not "
                                         f"split into rows of {in_depth}")
            act_min, act_max = activation_range(o.fusedActivationFunction, t_out.scale, t_out.zero_point)
            self.const(f"{prefix}_filter", "int8_t", t_f.data)
            per_channel = len(t_f.scales) > 1
            self.requant(prefix, t_in.scale, t_f.scales, t_out.scale, out_depth if per_channel else 1)
            batches = t_in.elements // in_depth
            self.macs += batches * in_depth * out_depth
            return self.templates[op.name].substitute(
                base, filter_shape=list(t_f.shape), input_offset=-t_in.zero_point, filter_offset=-t_f.zero_point,
                output_offset=t_out.zero_point, act_min=act_min, act_max=act_max, per_channel=int(per_channel),
                batches=batches, in_depth=in_depth, out_depth=out_depth, bias=self.bias(prefix, op))
        if op.name == "MEAN":
            axes = self.tensors[op.inputs[1]].data
            in_h, in_w, in_c = _nhwc(t_in.shape)
            if axes is None or sorted(int(a) for a in axes) != [1, 2]:
                raise UnsupportedOpError(f"MEAN #{op.index}: only the mean over height and width (axes 1, 2) is "
                                         f"supported, got axes {None if axes is None else axes.tolist()}")
            multiplier, shift = quantize_multiplier(float(t_in.scale) / float(t_out.scale))
            count = in_h * in_w
            extra = min(count.bit_length() - 1, 32, 31 + shift)  # fold 1/count into the multiplier, as LiteRT
            multiplier, shift = (multiplier << extra) // count, shift - extra
            return self.templates[op.name].substitute(
                base, input_zero_point=t_in.zero_point, output_zero_point=t_out.zero_point, multiplier=multiplier,
                shift=shift, in_h=in_h, in_w=in_w, in_c=in_c)
        if op.name == "AVERAGE_POOL_2D":
            in_h, in_w, in_c = _nhwc(t_in.shape)
            out_h, out_w, out_c = _nhwc(t_out.shape)
            same = int(o.padding) == 0
            act_min, act_max = activation_range(o.fusedActivationFunction, t_out.scale, t_out.zero_point)
            if (t_in.scale, t_in.zero_point) != (t_out.scale, t_out.zero_point):
                raise UnsupportedOpError(f"AVERAGE_POOL_2D #{op.index}: input and output quantization must match")
            return self.templates[op.name].substitute(
                base, stride_h=o.strideH, stride_w=o.strideW, filter_h=o.filterHeight, filter_w=o.filterWidth,
                pad_top=same_padding(o.strideH, 1, in_h, o.filterHeight, out_h) if same else 0,
                pad_left=same_padding(o.strideW, 1, in_w, o.filterWidth, out_w) if same else 0,
                act_min=act_min, act_max=act_max, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w,
                out_c=out_c)
        if op.name == "SOFTMAX":
            if (t_out.scale, t_out.zero_point) != (1 / 256, -128):
                raise UnsupportedOpError(f"SOFTMAX #{op.index}: int8 output must have scale 1/256, zero point -128")
            depth = t_in.shape[-1]
            values = dict(base, beta=float(o.beta), rows=t_in.elements // depth, depth=depth)
            for mode, max_real in (("single", (1 << 30) - 1.0), ("double", (1 << 31) - 1.0)):
                real = min(float(o.beta) * float(t_in.scale) * (1 << (31 - 5)), max_real)
                multiplier, left_shift = quantize_multiplier(real, single_rounding=mode == "single")
                radius = math.floor(((1 << 5) - 1) * (1 << (31 - 5)) / (1 << left_shift))
                values.update({f"{mode}_multiplier": multiplier, f"{mode}_left_shift": left_shift,
                               f"{mode}_diff_min": -radius})
            return self.templates[op.name].substitute(values)
        if op.name == "ADD":
            t_in2 = self.tensors[op.inputs[1]]
            if t_in2.shape != t_in.shape or t_in2.data is not None:
                raise UnsupportedOpError(f"ADD #{op.index}: only two activation tensors of the same shape "
                                         f"(no broadcasting, no constants), got {list(t_in.shape)} + "
                                         f"{list(t_in2.shape)}")
            left_shift = 20
            twice_max = 2 * max(float(t_in.scale), float(t_in2.scale))
            m1, s1 = quantize_multiplier(float(t_in.scale) / twice_max)
            m2, s2 = quantize_multiplier(float(t_in2.scale) / twice_max)
            mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * float(t_out.scale)))
            act_min, act_max = activation_range(o.fusedActivationFunction, t_out.scale, t_out.zero_point)
            return self.templates[op.name].substitute(
                base, in2_shape=list(t_in2.shape), in2_offset=offsets[t_in2.index], input1_offset=-t_in.zero_point,
                input2_offset=-t_in2.zero_point, output_offset=t_out.zero_point, left_shift=left_shift,
                input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2, output_multiplier=mo,
                output_shift=so, act_min=act_min, act_max=act_max, size=t_out.elements)
        if op.name == "RESHAPE":
            return self.templates[op.name].substitute(base)
        raise UnsupportedOpError(f"operator #{op.index} {op.name} is not implemented by the C engine "
                                 f"(it has: {', '.join(SUPPORTED_OPS)})")


def compile_model(tflite: bytes, streaming: StreamingParams | None, out_dir: str | Path, *,
                  source: str = "model_int8.tflite", model: str = "kws_model") -> CModel:
    """C sources of a model for the engine. With `streaming` None, only the model (`<model>.c`, functions
    `<model>_input` / `<model>_invoke`) is written and its input/output are not checked against a front end:
    several such models can be linked into one program (the kernel tests do)."""
    from export.c_array import c_identifier

    model = c_identifier(model)
    tensors, ops, inputs, outputs = read_graph(tflite)
    unsupported = sorted({op.name for op in ops if op.name not in SUPPORTED_OPS})
    if unsupported:
        first = next(op for op in ops if op.name in unsupported)
        raise UnsupportedOpError(f"the C engine has no kernel for {', '.join(unsupported)} (first: operator "
                                 f"#{first.index}); it implements {', '.join(SUPPORTED_OPS)}")
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedOpError("the engine runs models with one input and one output")
    t_in, t_out = tensors[inputs[0]], tensors[outputs[0]]
    if streaming is None:
        return _write_model(tensors, ops, inputs, outputs, Path(out_dir), model, tflite, source, input_check="")
    frontend = streaming.frontend
    if t_in.dtype != "INT8" or t_in.elements != frontend.frames * frontend.channels:
        raise UnsupportedOpError(f"model input {t_in.name} is {t_in.dtype} {list(t_in.shape)}; the front end makes "
                                 f"int8 {frontend.frames} x {frontend.channels}")
    if t_out.dtype != "INT8" or t_out.elements != len(streaming.labels):
        raise UnsupportedOpError(f"model output {t_out.name} is {t_out.dtype} {list(t_out.shape)}; expected int8 with "
                                 f"one score per label ({len(streaming.labels)})")
    compiled = _write_model(tensors, ops, inputs, outputs, Path(out_dir), model, tflite, source,
                            input_check=render("kws_model_check.c.in", input_elements=t_in.elements))
    out_dir = Path(out_dir)
    arena_bytes = compiled.arena_bytes
    settings = write_settings_header(
        out_dir, streaming=streaming, input_scale=t_in.scale, input_zero_point=t_in.zero_point,
        output_scale=t_out.scale, output_zero_point=t_out.zero_point, arena_bytes=arena_bytes,
        arena_note="static plan of `python -m export c-model` (one buffer, no interpreter)", source=source,
        generator="c-model")
    tables = frontend_tables(frontend)
    tables_path = out_dir / "kws_frontend_tables.c"
    atomic_write_text(tables_path, render(
        "kws_frontend_tables.c.in", source=source, window=c_values(tables.window), twiddles=c_values(tables.twiddles),
        super_twiddles=c_values(tables.super_twiddles), fft_factors=c_values(tables.fft_factors),
        channel_starts=c_values(tables.channel_starts), channel_widths=c_values(tables.channel_widths),
        weights=c_values(tables.weights), unweights=c_values(tables.unweights),
        pcan_gain_lut=c_values(tables.pcan_gain_lut), log_lut=c_values(tables.log_lut)))
    return CModel(paths=(*compiled.paths, settings, tables_path), arena_bytes=arena_bytes, macs=compiled.macs,
                  ops=compiled.ops, weight_bytes=compiled.weight_bytes, scratch_bytes=compiled.scratch_bytes)


def _write_model(tensors, ops, inputs, outputs, out_dir: Path, model: str, tflite: bytes, source: str, *,
                 input_check: str) -> CModel:
    t_in, t_out = tensors[inputs[0]], tensors[outputs[0]]
    offsets, arena_bytes = plan_memory(tensors, ops, inputs, outputs)
    compiler = _Compiler(tensors, ops, model)
    layers = [compiler.layer(op, offsets) for op in ops]
    scratch_bytes = 2 * compiler.patch_values + compiler.rows_bytes
    if compiler.patch_values:
        compiler.constants.append(compiler.templates["patch"].substitute(model=model, values=compiler.patch_values))
    if compiler.rows_bytes:
        compiler.constants.append(compiler.templates["rows"].substitute(model=model, values=compiler.rows_bytes))
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / f"{model}.c"
    atomic_write_text(model_path, render(
        "kws_model.c.in", model=model, source=source, sha256=hashlib.sha256(tflite).hexdigest(), op_count=len(ops),
        ops=", ".join(op.name for op in ops), arena_bytes=arena_bytes, macs=compiler.macs, scratch_bytes=scratch_bytes,
        input_check=input_check, constants="\n".join(compiler.constants), input_offset=offsets[t_in.index],
        layers="\n".join(layers), output_offset=offsets[t_out.index]))
    return CModel(paths=(model_path,), arena_bytes=arena_bytes, macs=compiler.macs, ops=tuple(op.name for op in ops),
                  weight_bytes=compiler.weight_bytes, scratch_bytes=scratch_bytes)
