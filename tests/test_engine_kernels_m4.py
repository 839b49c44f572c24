"""The Cortex-M4 SIMD kernels (SXTB16/SMLAD/SMLAL, `__ARM_FEATURE_DSP`) on random one-op models under QEMU,
against LiteRT's reference kernels and the host's portable build, in both rounding modes. The shapes include
the paths the deployable model takes: 1x1 convolutions over whole words of channels, a 10x4 first layer on
one channel, odd position counts (the last position computed twice), strided depthwise layers in place, the
generic requantization form (scale ratios above 1/2), global average pooling."""

import subprocess
from pathlib import Path
from string import Template

import numpy as np
import pytest

from export.c_array import write_settings_header
from export.c_build import ENGINE_DIR, M4_DIR, M4_FLAGS, WARNINGS, run_qemu
from export.c_model import StreamingParams, compile_model
from kws.common import SILENCE, UNKNOWN

ROOT = Path(__file__).resolve().parents[1]
KERNELS = [str(ENGINE_DIR / "kernels_int8.c"), str(ENGINE_DIR / "kernels_conv.c")]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(subprocess.run(["bash", "tools/ensure_arm.sh"], capture_output=True, cwd=ROOT).returncode != 0,
                       reason="arm-none-eabi-gcc / qemu-system-arm missing and not installable here"),
]

# CONV_2D / DEPTHWISE_CONV_2D shapes of the deployable model's kind, then random ones
SHAPED = [
    ("CONV_2D", dict(fh=1, fw=1, stride=1, dilation=1, in_c=8, out_c=8)),  # pointwise, whole words
    ("CONV_2D", dict(fh=1, fw=1, stride=1, dilation=1, in_c=12, out_c=7, h=3, w=5)),  # odd channels, odd positions
    ("CONV_2D", dict(fh=10, fw=4, stride=2, dilation=1, in_c=1, out_c=6, h=13, w=12, same=True)),  # first layer
    ("CONV_2D", dict(fh=3, fw=3, stride=1, dilation=1, in_c=4, out_c=4, same=True)),  # border taps = zero point
    ("DEPTHWISE_CONV_2D", dict(fh=3, fw=3, stride=2, dilation=1, in_c=8, mult=1, same=True, h=9, w=10)),
    ("DEPTHWISE_CONV_2D", dict(fh=3, fw=3, stride=1, dilation=1, in_c=12, mult=1, same=True)),
    ("CONV_2D", dict(fh=1, fw=1, stride=1, dilation=1, in_c=8, out_c=8, generic=True)),  # requant: generic form
    ("DEPTHWISE_CONV_2D", dict(fh=3, fw=3, stride=1, dilation=1, in_c=8, mult=1, same=True, generic=True)),
    # strided in place with an output row held back (the 25x10 -> 25x5 block)
    ("DEPTHWISE_CONV_2D", dict(fh=3, fw=3, stride=1, stride_w=2, dilation=1, in_c=8, mult=1, same=True, h=12, w=10)),
    ("AVERAGE_POOL_2D", dict(h=13, w=5, c=64, fh=13, fw=5, stride=1, same=False)),  # global: 4 channels a word
    ("AVERAGE_POOL_2D", dict(h=20, w=14, c=8, fh=20, fw=14, stride=1, same=False)),  # > 256 positions: 32-bit sums
]


def _cases(rng, tmp: Path):
    from one_op_models import random_model

    cases = []
    for op, fixed in SHAPED * 3:
        cases.append((op, *random_model(op, rng, **fixed)))
    for op, count in (("CONV_2D", 30), ("DEPTHWISE_CONV_2D", 30), ("FULLY_CONNECTED", 10), ("SOFTMAX", 5)):
        cases += [(op, *random_model(op, rng)) for _ in range(count)]
    for index, (_, tflite, _) in enumerate(cases):
        compile_model(tflite, None, tmp, model=f"m{index}")
    write_settings_header(tmp, streaming=StreamingParams(labels=(SILENCE, UNKNOWN, "x")), input_scale=1.0,
                          input_zero_point=0, output_scale=1.0, output_zero_point=0, arena_bytes=0, arena_note="-")
    template = Template((Path(__file__).parent / "one_op_harness.c.in").read_text())
    (tmp / "harness.c").write_text(template.substitute(
        includes="\n".join(f'#include "m{i}.c"' for i in range(len(cases))),
        entries="\n".join(f"    {{m{i}_input, m{i}_invoke}}," for i in range(len(cases)))))
    return cases


def _build_m4(tmp: Path, rounding: int) -> Path:
    elf = tmp / f"harness_r{rounding}.elf"
    subprocess.run(["arm-none-eabi-gcc", *M4_FLAGS, "-std=c99", "-Wall", "-Wextra", "-Werror", "-DKWS_HARNESS_FILES",
                    f"-DKWS_ROUNDING_DOUBLE={rounding}", "--specs=rdimon.specs", "-ffunction-sections",
                    "-fdata-sections", "-Wl,--gc-sections", f"-T{M4_DIR / 'm4.ld'}", f"-I{ENGINE_DIR}", f"-I{M4_DIR}",
                    f"-I{tmp}", str(tmp / "harness.c"), str(M4_DIR / "startup.c"), *KERNELS, "-o", str(elf)],
                   check=True, capture_output=True)
    # the DSP path is the one under test: the image must use its multiply-accumulates
    disassembly = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True).stdout
    assert "smlad" in disassembly and "smlal" in disassembly
    return elf


def _build_host(tmp: Path, rounding: int) -> Path:
    exe = tmp / f"harness_host_r{rounding}"
    subprocess.run(["gcc", *WARNINGS, "-O1", f"-DKWS_ROUNDING_DOUBLE={rounding}", f"-I{ENGINE_DIR}", f"-I{tmp}",
                    str(tmp / "harness.c"), *KERNELS, "-o", str(exe)], check=True)
    return exe


@pytest.mark.parametrize("rounding", [0, 1], ids=["litert_single", "tflm_double"])
def test_simd_kernels_under_qemu_equal_litert_and_the_portable_build(rounding, tmp_path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    rng = np.random.default_rng(300 + rounding)
    cases = _cases(rng, tmp_path)
    records, expected = [], []
    for index, (op, tflite, shape) in enumerate(cases):
        interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        interpreter.allocate_tensors()
        for _ in range(2):
            x = rng.integers(-128, 128, shape).astype(np.int8)
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
            interpreter.invoke()
            y = np.asarray(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), np.int8).reshape(-1)
            records.append(np.array([index, x.size, y.size], np.int32).tobytes() + x.tobytes())
            expected.append((op, index, y))
    data = b"".join(records)
    run = tmp_path / "run"
    run.mkdir()
    (run / "records.bin").write_bytes(data)
    run_qemu(_build_m4(tmp_path, rounding), run, timeout_s=300)
    m4 = (run / "outputs.bin").read_bytes()
    host = subprocess.run([_build_host(tmp_path, rounding)], input=data, capture_output=True, check=True).stdout
    assert m4 == host, "the SIMD build differs from the portable build"
    pos = 0
    for op, index, y in expected:
        got = np.frombuffer(m4[pos:pos + y.size], np.int8)
        pos += y.size
        # LiteRT's reference kernels round once in FULLY_CONNECTED / SOFTMAX: the TFLM build (double) may differ
        # there by design (tests/test_engine.py checks that build against the tflite-micro wheel)
        if rounding == 0 or op in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"):
            assert np.array_equal(got, y), f"{op} (m{index}): {int((got != y).sum())} of {y.size} values differ"
    assert pos == len(m4)
