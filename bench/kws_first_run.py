"""The `train_kws_first_run_s` figure of bench/kws.py: `python -m kws train --lang lg` on a cold cache in a
subprocess, with the CPU seconds of every process it starts (`CpuMeter`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["CpuMeter", "first_run"]


class CpuMeter:
    """CPU seconds (user, system) of a subprocess and every process it starts. A process pool's workers are
    children of multiprocessing's fork server, which nobody waits for, so getrusage(RUSAGE_CHILDREN) misses
    them: a fresh cgroup (v2 cpu.stat, or v1 cpuacct; needs root) counts everything; without one, the
    rusage figures are a lower bound and `exact` says so."""

    def __init__(self) -> None:
        import resource

        self.group, self.version = None, 0
        for base, version in ((Path("/sys/fs/cgroup/cpuacct"), 1), (Path("/sys/fs/cgroup"), 2)):
            probe = base / ("cpuacct.usage" if version == 1 else "cgroup.controllers")
            if not probe.exists():
                continue
            try:
                group = base / f"foundspeech-bench-{os.getpid()}"
                group.mkdir(exist_ok=True)
                self.group, self.version = group, version
                break
            except OSError:
                continue
        self.before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def enter(self) -> None:  # preexec_fn: runs in the child before exec
        if self.group is not None:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def read(self) -> tuple[float, float, bool]:
        import resource

        try:
            if self.version == 1:
                stat = dict(line.split() for line in (self.group / "cpuacct.stat").read_text().splitlines())
                ticks = os.sysconf("SC_CLK_TCK")
                total = int((self.group / "cpuacct.usage").read_text()) / 1e9
                user, system = int(stat["user"]) / ticks, int(stat["system"]) / ticks
                share = system / max(1e-9, user + system)  # the split is tick-sampled; the total is exact
                return total * (1 - share), total * share, True
            if self.version == 2:
                stat = dict(line.split() for line in (self.group / "cpu.stat").read_text().splitlines())
                return int(stat["user_usec"]) / 1e6, int(stat["system_usec"]) / 1e6, True
        except (OSError, KeyError, ValueError):
            pass
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return after.ru_utime - self.before.ru_utime, after.ru_stime - self.before.ru_stime, False

    def close(self) -> None:
        if self.group is not None:
            try:
                self.group.rmdir()
            except OSError:
                pass


def _stage_seconds(report: Path) -> dict:
    import json

    return json.loads(report.read_text()).get("seconds", {}) if report.exists() else {}


def first_run(work: Path, quick: bool) -> dict:
    """`python -m kws train --lang lg` on a cold cache, in a subprocess: wall and CPU seconds (all processes)."""
    import subprocess
    import time

    root = work / "first_run"
    command = [sys.executable, "-m", "kws", "train", "--lang", "lg", "--data-root", str(root / "data"),
               "--models-root", str(root / "models"), "--out", str(root / "out")]
    if quick:
        command += ["--embedding-langs", "en,sw", "--embedding-epochs", "2", "--fine-tune-epochs", "2",
                    "--stream-minutes", "1"]
    meter = CpuMeter()
    try:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                              preexec_fn=meter.enter)
        wall = time.perf_counter() - start
        user, system, exact = meter.read()
    finally:
        meter.close()
    if done.returncode != 0:
        raise RuntimeError(f"kws train failed: {done.stderr[-2000:]}")
    return {"train_kws_first_run_s": round(wall, 1), "train_kws_cpu_s": round(user + system, 1),
            "train_kws_sys_fraction": round(system / max(1e-9, user + system), 3),
            "train_kws_cpu_counted": "every process (cgroup)" if exact else "waited-for processes only (lower bound)",
            "train_kws_stages_s": _stage_seconds(root / "out" / "report.json"),
            "train_kws_first_run_settings": "quick (embedding on en+sw, 2 epochs; 2 fine-tune epochs; 1-min streams)" if quick else "default"}
