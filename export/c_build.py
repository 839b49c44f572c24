"""Build the C engine's programs for a generated model (gcc on the host; arm-none-eabi-gcc for Cortex-M4).

`build_host(gen_dir, "kws_wav", out)` compiles firmware/engine + the generated sources in `gen_dir`
(`python -m export c-model`) + one program of firmware/host. Tests and bench/firmware.py use it;
`make firmware-host` calls `python -m export c-model --build`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["ROOT", "ENGINE_DIR", "HOST_DIR", "PROGRAMS", "build_host", "BuildError", "build_m4", "run_qemu", "arm_size"]

ROOT = Path(__file__).resolve().parents[1]
ENGINE_DIR = ROOT / "firmware" / "engine"
HOST_DIR = ROOT / "firmware" / "host"

# program -> (engine sources, generated sources)
PROGRAMS = {
    "kws_wav": (("frontend.c", "kernels_int8.c", "kernels_conv.c", "recognize.c", "kws_engine.c"),
                ("kws_model.c", "kws_frontend_tables.c")),
    "kws_trace": (("kernels_int8.c", "kernels_conv.c"), ("kws_model.c",)),
    "fe_dump": (("frontend.c",), ("kws_frontend_tables.c",)),
    "recognize_dump": (("recognize.c",), ()),
    "kws_speed": (("kernels_int8.c", "kernels_conv.c"), ("kws_model.c",)),
}
WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")


class BuildError(RuntimeError):
    pass


def build_host(gen_dir: str | Path, program: str, out: str | Path, *, defines: tuple[str, ...] = (),
               cc: str = "gcc", optimize: str = "-O2") -> Path:
    gen_dir, out = Path(gen_dir), Path(out)
    engine, generated = PROGRAMS[program]
    sources = [HOST_DIR / f"{program}.c", *(ENGINE_DIR / s for s in engine), *(gen_dir / s for s in generated)]
    extra = ["-DKWS_TRACE_HOOK"] if program == "kws_trace" else []
    command = [cc, *WARNINGS, optimize, *extra, *(f"-D{d}" for d in defines), f"-I{ENGINE_DIR}", f"-I{gen_dir}",
               *map(str, sources), "-o", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{program}: {' '.join(command)}\n{result.stderr[-4000:]}")
    return out


# ---------------------------------------------------------------------------------------- Cortex-M4

M4_DIR = ROOT / "firmware" / "m4"
M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-O2")
M4_PROGRAMS = {
    # program -> (engine sources, generated sources, newlib specs)
    "m4_check": (("frontend.c", "kernels_int8.c", "kernels_conv.c"), ("kws_model.c", "kws_frontend_tables.c"),
                 ("rdimon.specs",)),
    "size_main": (("frontend.c", "kernels_int8.c", "kernels_conv.c", "recognize.c", "kws_engine.c"),
                  ("kws_model.c", "kws_frontend_tables.c"), ("nano.specs", "nosys.specs")),
}


def build_m4(gen_dir: str | Path, program: str, out: str | Path, *, simd: bool = True,
             defines: tuple[str, ...] = ()) -> Path:
    """arm-none-eabi-gcc -mcpu=cortex-m4 ... -O2 for QEMU's mps2-an386 (firmware/m4/m4.ld)."""
    gen_dir, out = Path(gen_dir), Path(out)
    engine, generated, specs = M4_PROGRAMS[program]
    sources = [M4_DIR / f"{program}.c", M4_DIR / "startup.c", *(ENGINE_DIR / s for s in engine),
               *(gen_dir / s for s in generated)]
    extra = [] if simd else ["-DKWS_NO_SIMD=1"]
    if program == "m4_check":
        extra.append("-DKWS_TRACE_HOOK")
    command = ["arm-none-eabi-gcc", *M4_FLAGS, "-std=c99", "-Wall", "-Wextra", "-Werror", *extra,
               *(f"-D{d}" for d in defines), *(f"--specs={s}" for s in specs), "-ffunction-sections",
               "-fdata-sections", "-Wl,--gc-sections", f"-T{M4_DIR / 'm4.ld'}", f"-I{ENGINE_DIR}", f"-I{M4_DIR}",
               f"-I{gen_dir}", *map(str, sources), "-o", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{program} (Cortex-M4): {' '.join(command)}\n{result.stderr[-4000:]}")
    return out


def run_qemu(elf: str | Path, cwd: str | Path, *, timeout_s: float = 600) -> str:
    """Run an M4 image on QEMU's mps2-an386, one virtual ns per instruction; returns its stdout."""
    command = ["qemu-system-arm", "-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none",
               "-serial", "none", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
               "-kernel", str(Path(elf).resolve())]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise BuildError(f"QEMU exit {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def arm_size(elf: str | Path) -> dict[str, int]:
    """arm-none-eabi-size: flash = text + data, RAM = data + bss (static; the stack comes on top)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sections = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    flash = sum(v for k, v in sections.items() if k in (".text", ".ARM.exidx", ".init_array", ".fini_array",
                                                          ".preinit_array", ".data"))
    ram = sections.get(".data", 0) + sections.get(".bss", 0)
    return {"flash_bytes": flash, "ram_bytes": ram, **{f"section{k}": v for k, v in sections.items()}}
