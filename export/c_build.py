"""Build the C engine's programs for a generated model (gcc on the host; arm-none-eabi-gcc for Cortex-M4).

`build_host(gen_dir, "kws_wav", out)` compiles firmware/engine + the generated sources in `gen_dir`
(`python -m export c-model`) + one program of firmware/host. Tests and bench/firmware.py use it;
`make firmware-host` calls `python -m export c-model --build`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["ROOT", "ENGINE_DIR", "HOST_DIR", "PROGRAMS", "build_host", "BuildError"]

ROOT = Path(__file__).resolve().parents[1]
ENGINE_DIR = ROOT / "firmware" / "engine"
HOST_DIR = ROOT / "firmware" / "host"

# program -> (engine sources, generated sources)
PROGRAMS = {
    "kws_wav": (("frontend.c", "kernels_int8.c", "recognize.c", "kws_engine.c"), ("kws_model.c", "kws_frontend_tables.c")),
    "kws_trace": (("kernels_int8.c",), ("kws_model.c",)),
    "fe_dump": (("frontend.c",), ("kws_frontend_tables.c",)),
    "recognize_dump": (("recognize.c",), ()),
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
