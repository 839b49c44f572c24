"""Builds of a rendered sketch's sources (export.firmware) for this machine, with real compilers:

- `build_host_sim`: firmware/host/kws_sim (the application over a pseudo-terminal) with the host's gcc;
- `build_qemu`: the application for QEMU's mps2-an386 Cortex-M4 with arm-none-eabi-gcc (the flags of the
  Nano 33 BLE's nRF52840: Cortex-M4F, hard float), and `run_qemu` to play raw audio through it;
- `arm_size`: flash and RAM of an ELF from arm-none-eabi-size (flash = text + data, RAM = data + bss, the
  QEMU image's 8 KB stack reservation included; the HAL reports how much of it was used).

Missing compilers are a clear `BuildError` saying what to install (`make firmware-tools` does it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BuildError", "build_host_sim", "build_qemu", "arm_size", "run_qemu", "write_raw_audio", "MemoryUse",
           "QemuRun", "M4_FLAGS", "HOST_DIR", "QEMU_DIR"]

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
HOST_DIR = FIRMWARE / "host"
QEMU_DIR = FIRMWARE / "qemu"
M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
SOURCE_DIR = Path("src") / "kws"


class BuildError(RuntimeError):
    pass


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        package = {"arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
                   "arm-none-eabi-size": "binutils-arm-none-eabi", "qemu-system-arm": "qemu-system-arm"}.get(name, name)
        raise BuildError(f"{name} not found: `make firmware-tools` installs it (Debian: apt-get install {package})")
    return path


def _sources(sketch: Path) -> list[Path]:
    sources = sorted((sketch / SOURCE_DIR).glob("*.c"))
    if not sources:
        raise BuildError(f"{sketch / SOURCE_DIR}: no C sources; render the sketch with `python -m export firmware`")
    return sources


def _compile(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{what} failed:\n{result.stderr.strip()[-3000:]}")


def build_host_sim(sketch: str | Path, out: str | Path, *, extra_flags: tuple[str, ...] = ()) -> Path:
    sketch, out = Path(sketch), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _compile([_tool("gcc"), "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
              f"-I{sketch / SOURCE_DIR}", f"-I{HOST_DIR}", *extra_flags, *map(str, _sources(sketch)),
              str(HOST_DIR / "kws_sim.c"), str(HOST_DIR / "wav_reader.c"), "-o", str(out)], "building kws_sim")
    return out


def build_qemu(sketch: str | Path, out: str | Path, *, extra_flags: tuple[str, ...] = ()) -> Path:
    sketch, out = Path(sketch), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _compile([_tool("arm-none-eabi-gcc"), *M4_FLAGS, "-std=c99", "-O2", "-Wall", "-Werror", "-Wno-unused-function",
              "-ffunction-sections", "-fdata-sections", "-nostartfiles", "--specs=nano.specs",
              f"-T{QEMU_DIR / 'mps2_an386.ld'}", "-Wl,--gc-sections", f"-I{sketch / SOURCE_DIR}", *extra_flags,
              *map(str, _sources(sketch)), str(QEMU_DIR / "startup.c"), str(QEMU_DIR / "hal_qemu.c"),
              "-o", str(out)], "building the Cortex-M4 image")
    return out


@dataclass(frozen=True)
class MemoryUse:
    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss


def arm_size(elf: str | Path) -> MemoryUse:
    result = subprocess.run([_tool("arm-none-eabi-size"), "-A", str(elf)], capture_output=True, text=True, check=True)
    sections = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+", result.stdout, re.M)}
    text = sum(sections.get(s, 0) for s in (".text", ".ARM.exidx"))
    return MemoryUse(text=text, data=sections.get(".data", 0), bss=sections.get(".bss", 0) + sections.get(".stack", 0))


def write_raw_audio(samples: np.ndarray, path: str | Path) -> Path:
    """float [-1, 1] or int16 samples -> raw little-endian int16 (what the QEMU HAL reads by semihosting)."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        samples = np.clip(np.round(samples.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    path = Path(path)
    path.write_bytes(samples.astype("<i2").tobytes())
    return path


@dataclass(frozen=True)
class QemuRun:
    lines: list[str]       # the serial lines (UART0)
    instructions: int      # every instruction run over audio_ms (-icount shift=0), from the first full window on
    audio_ms: int          # the audio they cover (the stream less its first second)
    stack_bytes: int
    total_instructions: int = 0  # the whole run
    total_audio_ms: int = 0

    def duty_cycle_at(self, clock_hz: float) -> float:
        """Fraction of a core at clock_hz the whole application needs, at one instruction a cycle."""
        return self.instructions / (clock_hz * self.audio_ms / 1000) if self.audio_ms else 0.0


def run_qemu(elf: str | Path, raw_audio: str | Path, *, timeout_s: float = 600) -> QemuRun:
    raw_audio = Path(raw_audio).resolve()
    if " " in str(raw_audio):
        raise BuildError(f"{raw_audio}: the QEMU HAL takes a path without spaces")
    command = [_tool("qemu-system-arm"), "-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none",
               "-serial", "stdio", "-icount", "shift=0", "-semihosting-config",
               f"enable=on,target=native,arg=kws_app,arg={raw_audio}", "-kernel", str(elf)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    lines = [line.rstrip("\r") for line in result.stdout.splitlines()]
    final = next((l for l in reversed(lines) if l.startswith("qemu instructions=")), None)
    if result.returncode != 0 or final is None:
        raise BuildError(f"QEMU run failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}\n"
                         + "\n".join(lines[-5:]))
    figures = dict(item.split("=", 1) for item in final.split()[1:])
    return QemuRun(lines=[l for l in lines if l is not final], instructions=int(figures["instructions"]),
                   audio_ms=int(figures["audio_ms"]), stack_bytes=int(figures["stack_bytes"]),
                   total_instructions=int(figures["total_instructions"]), total_audio_ms=int(figures["total_audio_ms"]))
